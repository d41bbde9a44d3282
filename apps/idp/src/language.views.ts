import type { MessageLanguage } from '#libs/account';
import { MESSAGE_LOCALES, type MessageLocale } from '#libs/notifications';
import { html, type SafeHtml } from '#libs/web';

/** Each language named in itself. */
const NAMES: Record<MessageLocale, string> = { en: 'English', it: 'Italiano' };

/**
 * The account page's "Language" form: the language of the codes and notices Gatehouse sends
 * (the pages stay English). Without a choice of the user's own, the organization's default
 * is shown selected.
 */
export function languageSection(language: MessageLanguage, csrf: string, error?: string): SafeHtml {
  const selected = language.locale ?? language.organizationDefault;
  return html`<section aria-labelledby="h-language">
    <h2 id="h-language">Messages</h2>
    <form method="post" action="/account/language">
      <input type="hidden" name="csrf" value="${csrf}" />
      <label for="f-locale">Language</label>
      <select id="f-locale" name="locale" ${error ? html` aria-describedby="locale-error" aria-invalid="true"` : ''}>
        ${MESSAGE_LOCALES.map((l) => html`<option value="${l}" lang="${l}" ${l === selected ? html` selected` : ''}>${NAMES[l]}</option>`)}
      </select>
      ${error ? html`<p class="field-error" id="locale-error">${error}</p>` : ''}
      <p class="hint">The language of the codes and notices we send you.</p>
      <button type="submit">Save</button>
    </form>
  </section>`;
}
