import type { DataSource } from 'typeorm';
import { GENERIC_CODE_SENT } from '#libs/recovery';
import { api, codeMails, expectPage, type ApiResponse } from './journeys.js';
import type { TestMailServer, ReceivedMail } from './mail.js';
import { text, type WebClient, type WebResponse } from './web.js';

/** Steps of the recovery end-to-end suites (hosted pages and JSON API). */

export const GENERIC_TEXT = GENERIC_CODE_SENT;

/** Code mails for recovery (not sign-in codes, not notices). */
export function recoveryCodeMails(mail: TestMailServer, address: string): ReceivedMail[] {
  return codeMails(mail, address).filter((m) => m.subject.includes('to recover your account'));
}

/** Waits for the recovery code mail after the `seen` ones and returns its code. */
export async function nextRecoveryCode(mail: TestMailServer, address: string, seen: number): Promise<string> {
  await mail.waitFor(() => recoveryCodeMails(mail, address).length > seen);
  return /(?<!\d)\d{6}(?!\d)/u.exec(recoveryCodeMails(mail, address)[seen]!.subject)![0];
}

/** Forgot Enterprise ID: opens the page and submits Email and Security code. */
export async function forgotEnterpriseId(web: WebClient, email: string, securityCode: string): Promise<WebResponse> {
  expectPage(await web.get('/recover/enterprise-id'), 200, 'Forgot your Enterprise ID?');
  return await web.post('/recover/enterprise-id', { email, security_code: securityCode });
}

/** Forgot password: opens the page and submits Enterprise ID and Security code. */
export async function forgotPassword(web: WebClient, enterpriseId: string, securityCode: string): Promise<WebResponse> {
  expectPage(await web.get('/recover/password'), 200, 'Forgot your password?');
  return await web.post('/recover/password', { enterprise_id: enterpriseId, security_code: securityCode });
}

export interface ApiFlow {
  id: string;
  token: string;
}

export async function apiRecoveryStart(
  base: string,
  goal: 'enterprise_id' | 'password',
  headers: Record<string, string> = {},
): Promise<ApiFlow> {
  const started = await api(base, 'POST', '/api/v1/recovery', { body: { goal }, headers });
  if (started.status !== 201) throw new Error(`could not start a recovery flow: ${started.status} ${JSON.stringify(started.body)}`);
  return { id: started.body.flow_id as string, token: started.body.flow_token as string };
}

export async function apiRecoveryStep(
  base: string,
  flow: ApiFlow,
  action: string,
  body: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  return await api(base, 'POST', `/api/v1/recovery/${flow.id}/${action}`, { body, flowToken: flow.token, headers });
}

/** The answer without what differs per flow (its id), for comparing answers to known and unknown users. */
export function withoutFlowId(body: Record<string, unknown>): Record<string, unknown> {
  const { flow_id: _id, ...rest } = body;
  return rest;
}

export interface UserRow {
  id: string;
  password_hash: string;
  credential_version: number;
  recovery_failed_attempts: number;
  recovery_locked_at: Date | null;
}

export async function userRow(ds: DataSource, enterpriseId: string): Promise<UserRow> {
  const [row] = await ds.query<UserRow[]>(
    `SELECT id, password_hash, credential_version, recovery_failed_attempts, recovery_locked_at FROM users WHERE enterprise_id_key = lower($1)`,
    [enterpriseId],
  );
  if (!row) throw new Error(`no user ${enterpriseId}`);
  return row;
}

/** Visible text contains the generic "if the details match" step. */
export function isGenericStep(page: WebResponse): boolean {
  return page.status === 200 && text(page.html).includes(GENERIC_TEXT);
}
