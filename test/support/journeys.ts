import { createHash } from 'node:crypto';
import { FixedClock } from '#libs/core';
import type { OutboxPolicy } from '#libs/notifications';
import { startApp, testConfig, type RunningApp } from './apps.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { TestMailServer, extractCode, type ReceivedMail } from './mail.js';
import { text, type WebClient, type WebResponse } from './web.js';
import { TestWebhookReceiver } from './webhook.js';

/**
 * Shared set-up and steps for the sign-in end-to-end suites: a fresh database, a real SMTP
 * server, SMS and voice webhook receivers, and the IdP on a FixedClock wired to all three.
 */
export interface Harness {
  db: TestDatabase;
  mail: TestMailServer;
  sms: TestWebhookReceiver;
  voice: TestWebhookReceiver;
  clock: FixedClock;
  app: RunningApp;
  /** Starts another IdP node on the same database, clock and senders. */
  startNode(): Promise<RunningApp>;
  close(): Promise<void>;
}

export async function startHarness(options: { start?: string; outboxPolicy?: Partial<OutboxPolicy> } = {}): Promise<Harness> {
  const db = await createTestDatabase();
  const mail = await TestMailServer.start();
  const sms = await TestWebhookReceiver.start();
  const voice = await TestWebhookReceiver.start();
  const clock = new FixedClock(options.start ?? '2026-06-01T09:00:00Z');
  const config = testConfig({ SMTP_URL: mail.url, SMS_WEBHOOK_URL: sms.url, VOICE_WEBHOOK_URL: voice.url });
  const startNode = () =>
    startApp('idp', db.url, { config, clock, ...(options.outboxPolicy ? { outboxPolicy: options.outboxPolicy } : {}) });
  const app = await startNode();
  const extra: RunningApp[] = [];
  return {
    db,
    mail,
    sms,
    voice,
    clock,
    app,
    async startNode() {
      const node = await startNode();
      extra.push(node);
      return node;
    },
    async close() {
      for (const node of [...extra, app]) await node.close();
      await mail.stop();
      await sms.stop();
      await voice.stop();
      await db.drop();
    },
  };
}

const checkedUpTo = new WeakMap<RunningApp, number>();

/**
 * Error-level lines an app logged since the last call (unhandled exceptions and the like):
 * a journey should leave none. `allowStatus` lets through pino-http's line for a 5xx the
 * app answered on purpose (502 for an undeliverable code).
 */
export function errorLines(app: RunningApp, allowStatus: number[] = []): string[] {
  const from = checkedUpTo.get(app) ?? 0;
  checkedUpTo.set(app, app.logs.lines.length);
  return app.logs.lines
    .slice(from)
    .filter((line) => /"level":(50|60)/u.test(line))
    .filter(
      (line) => !allowStatus.some((status) => line.includes(`"res":{"statusCode":${status}}`) && line.includes('"msg":"request errored"')),
    );
}

export const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Mails to `address` that carry a one-time code (notices, which carry none, are left out). */
export function codeMails(mail: TestMailServer, address: string): ReceivedMail[] {
  return mail.messagesTo(address).filter((m) => extractCode(m.subject) !== undefined);
}

/** The code of the first code mail to `address` after the `seen` ones. */
export async function nextEmailCode(mail: TestMailServer, address: string, seen: number): Promise<string> {
  await mail.waitFor(() => codeMails(mail, address).length > seen);
  return extractCode(codeMails(mail, address)[seen]!.subject)!;
}

/** Fails with the page's text when a step did not land where the journey expects it. */
export function expectPage(page: WebResponse, status: number, contains: string): WebResponse {
  const visible = text(page.html);
  if (page.status !== status || !visible.includes(contains)) {
    throw new Error(`expected ${status} with "${contains}", got ${page.status}: ${visible.slice(0, 600)}`);
  }
  return page;
}

/** Opens the sign-in page and submits User ID and password. */
export async function submitPassword(web: WebClient, userId: string, password: string): Promise<WebResponse> {
  await web.get('/signin');
  return await web.post('/signin', { user_id: userId, password });
}

/** Enterprise ID + password + the emailed code (the user has no verified mobile). Ends on the page after sign-in. */
export async function signInByEmail(
  h: Pick<Harness, 'mail'>,
  web: WebClient,
  who: { userId: string; password: string; email: string },
  options: { remember?: boolean } = {},
): Promise<WebResponse> {
  const seen = codeMails(h.mail, who.email).length;
  expectPage(await submitPassword(web, who.userId, who.password), 200, 'We sent a 6-digit code by email');
  const code = await nextEmailCode(h.mail, who.email, seen);
  return await web.post('/signin/otp', { action: 'verify', code, ...(options.remember ? { remember: 'on' } : {}) });
}

export interface EnrollmentInput {
  legacyUserId: string;
  legacyPassword: string;
  email: string;
  enterpriseId: string;
  password: string;
  securityCode?: string;
  mobile?: string;
}

/** From legacy credentials to the page shown once the Enterprise ID's details are sent (the email code step). */
export async function enrollUntilEmailCode(web: WebClient, e: EnrollmentInput): Promise<WebResponse> {
  expectPage(await submitPassword(web, e.legacyUserId, e.legacyPassword), 200, 'Confirm your details');
  expectPage(await web.post('/enroll/confirm', { action: 'confirm' }), 200, 'Create your Enterprise ID');
  const code = e.securityCode ?? '27182818';
  return expectPage(
    await web.post('/enroll/credentials', {
      enterprise_id: e.enterpriseId,
      password: e.password,
      confirm_password: e.password,
      security_code: code,
      confirm_security_code: code,
      mobile: e.mobile ?? '',
    }),
    200,
    'We sent a 6-digit code by email',
  );
}

/** A whole enrollment without a mobile number; ends signed in, on the account page. */
export async function enroll(h: Pick<Harness, 'mail'>, web: WebClient, e: EnrollmentInput): Promise<WebResponse> {
  const seen = codeMails(h.mail, e.email).length;
  await enrollUntilEmailCode(web, e);
  const code = await nextEmailCode(h.mail, e.email, seen);
  return expectPage(await web.post('/enroll/otp', { action: 'verify', code }), 200, 'Your account');
}

export interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** One call of the JSON API. */
export async function api(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; flowToken?: string; session?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const response = await fetch(new URL(path, base), {
    method,
    headers: {
      ...(options.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(options.flowToken ? { 'X-Flow-Token': options.flowToken } : {}),
      ...(options.session ? { Authorization: `Session ${options.session}` } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const raw = await response.text();
  return { status: response.status, body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {}, headers: response.headers };
}

/** A JSON sign-in flow: its id and token. */
export async function apiStart(base: string, headers: Record<string, string> = {}): Promise<{ id: string; token: string }> {
  const started = await api(base, 'POST', '/api/v1/signin', { body: {}, headers });
  if (started.status !== 201) throw new Error(`could not start a sign-in flow: ${started.status}`);
  return { id: started.body.flow_id as string, token: started.body.flow_token as string };
}

/** The visible page without what differs by flow: the CSRF token. */
export function withoutCsrf(html: string): string {
  return html.replace(/name="csrf" value="[^"]*"/gu, 'name="csrf" value=""');
}
