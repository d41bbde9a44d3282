import type { DataSource } from 'typeorm';
import { codeMails, expectPage, nextEmailCode, sha256, submitPassword, type Harness } from './journeys.js';
import type { ReceivedMail } from './mail.js';
import { text, type WebClient, type WebResponse } from './web.js';

/** Steps shared by the account-changes suites (signed-in changes and the step-up that guards them). */

export interface Person {
  userId: string;
  password: string;
  email: string;
}

/** The value of a hidden (or any) input of a page. */
export function fieldValue(html: string, name: string): string {
  const match =
    new RegExp(`name="${name}"[^>]*value="([^"]*)"`, 'u').exec(html) ?? new RegExp(`value="([^"]*)"[^>]*name="${name}"`, 'u').exec(html);
  if (!match) throw new Error(`no field "${name}" on the page: ${text(html).slice(0, 300)}`);
  return match[1]!
    .replace(/&amp;/gu, '&')
    .replace(/&quot;/gu, '"')
    .replace(/&#39;/gu, "'");
}

/** The text of a field's error, if the page shows one. */
export function fieldError(html: string, field: string): string | undefined {
  return new RegExp(`id="${field}-error">([^<]*)<`, 'u').exec(html)?.[1];
}

/** Signs in a person with a verified mobile, choosing the emailed code. Ends on the account page. */
export async function signInChoosingEmail(h: Pick<Harness, 'mail'>, web: WebClient, who: Person, remember = false): Promise<WebResponse> {
  const seen = codeMails(h.mail, who.email).length;
  expectPage(await submitPassword(web, who.userId, who.password), 200, 'How should we send your code?');
  expectPage(await web.post('/signin/otp', { channel: 'email' }), 200, 'We sent a 6-digit code by email');
  const code = await nextEmailCode(h.mail, who.email, seen);
  return expectPage(
    await web.post('/signin/otp', { action: 'verify', code, ...(remember ? { remember: 'on' } : {}) }),
    200,
    'Your account',
  );
}

/**
 * From a page asking for a step-up (already loaded) to the page it returns to: sends the
 * code by email, reads it from the mail and verifies it.
 */
export async function completeStepUp(h: Pick<Harness, 'mail'>, web: WebClient, email: string): Promise<WebResponse> {
  expectPage(web.last!, web.last!.status, 'Confirm it is you');
  const seen = codeMails(h.mail, email).length;
  const sent = expectPage(
    await web.post('/account/step-up', { action: 'send', channel: 'email', return_to: fieldValue(web.last!.html, 'return_to') }),
    200,
    'We sent a 6-digit code by email',
  );
  const code = await nextEmailCode(h.mail, email, seen);
  return await web.post('/account/step-up', {
    action: 'verify',
    code,
    flow: fieldValue(sent.html, 'flow'),
    return_to: fieldValue(sent.html, 'return_to'),
  });
}

/** The session row behind a browser's session cookie. */
export async function sessionOf(db: DataSource, web: WebClient): Promise<Record<string, unknown>> {
  const token = web.cookie('session');
  if (!token) throw new Error('this browser holds no session');
  const [row] = await db.query<Array<Record<string, unknown>>>(`SELECT * FROM sessions WHERE token_hash = $1`, [sha256(token)]);
  if (!row) throw new Error('no such session');
  return row;
}

/** The newest mail to `address` whose subject contains `subject`, waiting for it to arrive. */
export async function noticeTo(h: Pick<Harness, 'mail'>, address: string, subject: string): Promise<ReceivedMail> {
  return await h.mail.waitFor((m) => m.envelope.to.includes(address.toLowerCase()) && m.subject.includes(subject));
}

/** Posts a form without the CSRF token, as a cross-site page would. */
export async function postWithoutCsrf(web: WebClient, path: string, fields: Record<string, string>): Promise<WebResponse> {
  return await web.request('POST', path, new URLSearchParams(fields), false);
}

/** A form post with the browser's cookies but headers of our choosing (e.g. a foreign Origin), bypassing the WebClient's defaults. */
export async function postRaw(
  web: WebClient,
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string>,
): Promise<{ status: number; html: string }> {
  const response = await fetch(new URL(path, web.base), {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Cookie: [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      ...headers,
    },
    body: new URLSearchParams(fields),
  });
  return { status: response.status, html: await response.text() };
}

/** The columns of `users` these suites look at (and any other, untyped). */
export interface UserRow {
  [column: string]: unknown;
  password_hash: string;
  security_code_hash: string;
  credential_version: number;
  recovery_failed_attempts: number;
  email: string;
  mobile: string | null;
}

export async function userRow(db: DataSource, id: string): Promise<UserRow> {
  const [row] = await db.query<UserRow[]>(`SELECT * FROM users WHERE id = $1`, [id]);
  if (!row) throw new Error(`no user ${id}`);
  return row;
}
