// A scheme, `www.`, or a dot between a letter/digit and two or more letters (`evil.com`, `пример.рф`).
const LINK = /https?|:\/\/|www\.|[\p{L}\p{N}-]\.\p{L}{2,}(?![\p{L}\p{N}])/iu;

/** True when text contains something a mail or SMS client may turn into a link. */
export function containsLink(text: string): boolean {
  return LINK.test(text);
}

/**
 * Makes an outside value safe to put into a message: one line, no control or bidi
 * characters, at most `max` characters, and nothing a client could turn into a link
 * (`evil.com` becomes `evil com`, `http://x` becomes `x`).
 */
export function plainText(value: string, max = 80): string {
  let text = value
    .normalize('NFKC')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ')
    .replace(/\s+/gu, ' ')
    .trim();
  for (let i = 0; i < 5 && containsLink(text); i++) {
    text = text
      .replace(/[a-z][a-z0-9+.-]*:\/\//giu, '')
      .replace(/:\/\//gu, ' ')
      .replace(/https?/giu, '')
      .replace(/www\./giu, 'www ')
      .replace(/([\p{L}\p{N}-])\.(?=\p{L}{2,}(?![\p{L}\p{N}]))/giu, '$1 ')
      .replace(/\s+/gu, ' ')
      .trim();
  }
  return text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text;
}

/** Refuses a rendered message with link-like text (a template's fault: values are cleaned by plainText). */
export function assertLinkFree(rendered: { subject?: string; text: string }): void {
  if (containsLink(rendered.text) || (rendered.subject !== undefined && containsLink(rendered.subject))) {
    throw new Error('A message template produced link-like text; refusing to send it');
  }
}

export interface LinkFreeIdentifier {
  text: string;
  /** How the identifier was rewritten to stay link-free: not at all, each dot as "(dot)", or character by character. */
  spelled: 'as_is' | 'dots' | 'spaced';
}

/**
 * An identifier (an Enterprise ID such as `ada.lovelace`) written so that no mail client
 * can turn it into a link, yet a person can type it back: as it is when that is safe,
 * else with "(dot)" for each dot, else character by character. Never changes a character.
 */
export function linkFreeIdentifier(value: string): LinkFreeIdentifier {
  const clean = value
    .normalize('NFKC')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\s]/gu, '')
    .slice(0, 100);
  if (!containsLink(clean)) return { text: clean, spelled: 'as_is' };
  const dots = clean.split('.').join(' (dot) ');
  if (!containsLink(dots)) return { text: dots, spelled: 'dots' };
  return { text: [...clean].map((c) => (c === '.' ? '(dot)' : c)).join(' '), spelled: 'spaced' };
}
