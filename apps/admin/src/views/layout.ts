import type { Request, Response } from 'express';
import type { StaffPrincipal } from '#libs/staff';
import { STYLESHEET, csrfField, html, noticeBox, page, raw, sendPage, type SafeHtml } from '#libs/web';

/** The IdP's stylesheet plus what the console's tables and navigation need. */
export const CONSOLE_STYLESHEET = `${STYLESHEET}
nav.console { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; margin: -0.5rem 0 1.2rem; padding-bottom: 0.8rem; border-bottom: 1px solid #e2e5ea; }
nav.console form { margin-left: auto; } nav.console button { margin-top: 0; padding: 0.3rem 0.8rem; font-size: 0.9rem; }
nav.console .who { color: #555d68; font-size: 0.9rem; }
section.person { margin-top: 1.5rem; } section.person h2 { font-size: 1.1rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; } dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
.badge { display: inline-block; padding: 0 0.4rem; border-radius: 3px; font-size: 0.85rem; background: #eef0f3; }
.badge.bad { background: #fdecee; color: #a4000f; } .badge.good { background: #e6f4ea; color: #1e6b34; }
.pager { display: flex; gap: 1.5rem; margin-top: 1rem; }
form.inline { display: inline; } form.inline button { margin-top: 0; padding: 0.25rem 0.7rem; font-size: 0.9rem; }
input[type=search], input[type=datetime-local], select { width: 100%; box-sizing: border-box; padding: 0.55rem; font-size: 1rem; border: 1px solid #8a94a3; border-radius: 4px; }
code { font-size: 0.8rem; word-break: break-all; }
main.wide { max-width: 72rem; }
`;

export interface ConsoleChrome {
  staff: StaffPrincipal;
  csrf: string;
  notice?: string | undefined;
}

/** A signed-in page: navigation by role, who is signed in, and `Sign out`. */
export function consolePage(title: string, chrome: ConsoleChrome, body: SafeHtml): string {
  const { staff } = chrome;
  const nav = html`<nav class="console" aria-label="Console">
    <a href="/search">Search</a>
    <a href="/correction-requests">Correction requests</a>
    ${staff.role === 'supervisor' ? html`<a href="/approvals">Approvals</a> <a href="/staff">Staff</a>` : ''}
    <a href="/audit">Audit log</a>
    <span class="who">${staff.name} (${staff.role})</span>
    <form method="post" action="/signout">${csrfField(chrome.csrf)}<button type="submit" class="secondary">Sign out</button></form>
  </nav>`;
  return page(title, html`${nav}${noticeBox(chrome.notice)}${body}`, { wide: true });
}

/** Sends a signed-in page (HTML, not cached). */
export function sendConsolePage(res: Response, status: number, title: string, chrome: ConsoleChrome, body: SafeHtml): void {
  sendPage(res, status, consolePage(title, chrome, body));
}

/** The notice a page was sent to with `?notice=`: the text `notices` has for it, or without a table the text itself (cut short). */
export function noticeOf(req: Request, notices?: Readonly<Record<string, string>>): string | undefined {
  const notice = req.query.notice;
  if (typeof notice !== 'string') return undefined;
  return notices ? notices[notice] : notice.slice(0, 300);
}

/** A page for someone not signed in (sign-in, setup). */
export function publicPage(title: string, body: SafeHtml): string {
  return page(
    title,
    html`<p class="hint">Gatehouse support console</p>
      ${body}`,
  );
}

export function errorPage(title: string, lines: readonly string[]): string {
  return page(
    title,
    html`${lines.map((l) => html`<p class="error" role="alert">${l}</p>`)}
      <p><a href="/search">Back to the console</a></p>`,
  );
}

export const when = (at: Date | null | undefined): string => (at ? `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '—');

export const yesNoBadge = (ok: boolean, yes: string, no: string): SafeHtml =>
  ok ? html`<span class="badge good">${yes}</span>` : html`<span class="badge bad">${no}</span>`;

export { raw };
