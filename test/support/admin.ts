import argon2 from 'argon2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { runCli } from '../../apps/cli/src/cli.js';
import { testSecrets } from '#libs/config';
import { FixedClock } from '#libs/core';
import { checkEmail } from '#libs/identity';
import type { StaffRole } from '#libs/staff';
import { startApp, testConfig, type RunningApp } from './apps.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { codeMails, expectPage, nextEmailCode } from './journeys.js';
import { TestMailServer, type ReceivedMail } from './mail.js';
import { WebClient, type WebResponse } from './web.js';

/**
 * The support console under test: a fresh database, a real SMTP server, the console (admin
 * app) on a FixedClock, and secrets the CLI shares (`cliEnv`), so a setup code that
 * `staff:create` emails works on the console's setup page.
 */
export interface ConsoleHarness {
  db: TestDatabase;
  mail: TestMailServer;
  clock: FixedClock;
  admin: RunningApp;
  /** Environment for runCli: same database, SMTP server and secrets as the console. */
  cliEnv: Record<string, string | undefined>;
  /** A browser-like client of the console. */
  client(): WebClient;
  /**
   * The IdP on the same database, clock, mail server and secrets (both apps' outbox
   * workers send from one table, so they must share the key its messages are sealed with).
   */
  startIdp(): Promise<RunningApp>;
  close(): Promise<void>;
}

/** 32+ characters: the CLI reads it from OTP_SECRET / COOKIE_SECRET / KEY_ENCRYPTION_KEY, the app from testSecrets(). */
const SHARED_SECRET = 'console-test-secret-0123456789-abcdef';

export async function startConsole(options: { start?: string } = {}): Promise<ConsoleHarness> {
  const db = await createTestDatabase();
  const mail = await TestMailServer.start();
  const clock = new FixedClock(options.start ?? '2026-06-01T09:00:00Z');
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gh-console-'));
  const config = testConfig({ SMTP_URL: mail.url, DATA_DIR: dataDir });
  const admin = await startApp('admin', db.url, { config, clock, secrets: testSecrets(SHARED_SECRET) });
  const extra: RunningApp[] = [];
  return {
    db,
    mail,
    clock,
    admin,
    cliEnv: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      SMTP_URL: mail.url,
      OTP_SECRET: SHARED_SECRET,
      COOKIE_SECRET: SHARED_SECRET,
      KEY_ENCRYPTION_KEY: SHARED_SECRET,
      ARGON2_MEMORY_KIB: '8192',
      ARGON2_TIME_COST: '1',
    },
    client: () => new WebClient(admin.url),
    async startIdp() {
      const idp = await startApp('idp', db.url, { config, clock, secrets: testSecrets(SHARED_SECRET) });
      extra.push(idp);
      return idp;
    },
    async close() {
      for (const app of extra) await app.close();
      await admin.close();
      await mail.stop();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs the operator CLI in-process; returns its exit code and output lines. */
export async function cli(h: Pick<ConsoleHarness, 'cliEnv'>, args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (l) => out.push(l), err: (l) => err.push(l) }, h.cliEnv);
  return { code, out, err };
}

/** The setup code in a `staff_setup` email (five groups of four). */
export function setupCodeOf(mail: ReceivedMail): string {
  const match = /\b[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}\b/u.exec(mail.text);
  if (!match) throw new Error(`no setup code in the message: ${mail.text}`);
  return match[0];
}

export async function waitForSetupCode(mail: TestMailServer, address: string, seen = 0): Promise<string> {
  await mail.waitFor(() => setupMails(mail, address).length > seen);
  return setupCodeOf(setupMails(mail, address)[seen]!);
}

export function setupMails(mail: TestMailServer, address: string): ReceivedMail[] {
  return mail.messagesTo(address).filter((m) => m.subject === 'Your Gatehouse support console account');
}

const FAST = { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 } as const;

export interface SeededStaff {
  id: string;
  email: string;
  password: string;
  name: string;
  role: StaffRole;
}

/** An active staff member, straight into the database (for suites that are not about setup). */
export async function seedStaff(
  ds: DataSource,
  s: { email: string; role: StaffRole; name?: string; password?: string; status?: 'active' | 'disabled' },
): Promise<SeededStaff> {
  const email = checkEmail(s.email);
  if (!email.ok) throw new Error(`bad email ${s.email}`);
  const password = s.password ?? 'console pass phrase 2026';
  const name = s.name ?? s.email.split('@')[0]!;
  const [row] = await ds.query<Array<{ id: string }>>(
    `INSERT INTO staff (email, email_key, name, role, status, password_hash, email_verified_at, created_by, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, now(), 'test', now(), now()) RETURNING id`,
    [email.value.display, email.value.key, name, s.role, s.status ?? 'active', await argon2.hash(password, FAST)],
  );
  return { id: row!.id, email: s.email, password, name, role: s.role };
}

/** Email + password, then the emailed code; ends on the page after sign-in (the search page by default). */
export async function signInStaff(
  h: Pick<ConsoleHarness, 'mail'>,
  web: WebClient,
  who: { email: string; password: string },
  options: { path?: string } = {},
): Promise<WebResponse> {
  const seen = codeMails(h.mail, who.email).length;
  await web.get(options.path ?? '/signin');
  expectPage(await web.post('/signin', { email: who.email, password: who.password }), 200, 'We sent a 6-digit code by email');
  const code = await nextEmailCode(h.mail, who.email, seen);
  return await web.post('/signin/otp', { action: 'verify', code });
}

/** A signed-in console client for a seeded staff member. */
export async function staffClient(h: ConsoleHarness, who: { email: string; password: string }): Promise<WebClient> {
  const web = h.client();
  const landed = await signInStaff(h, web, who);
  if (landed.status !== 200) throw new Error(`sign-in of ${who.email} ended with ${landed.status}`);
  return web;
}

/** The CSRF token for the JSON API of a signed-in client. */
export async function apiCsrf(web: WebClient): Promise<string> {
  const res = await web.get('/api/v1/session');
  if (res.status !== 200) throw new Error(`GET /api/v1/session: ${res.status}`);
  return (JSON.parse(res.html) as { csrf_token: string }).csrf_token;
}

/**
 * Fails when a console answer contains something secret: an argon2 hash, a hex or base64url
 * digest-like string of 40+ characters, a 6-digit code that was sent, a setup code, a token.
 */
export function expectNoSecrets(body: string, secrets: readonly string[] = []): void {
  const problems: string[] = [];
  if (/\$argon2(id|i|d)\$/u.test(body)) problems.push('an argon2 hash');
  if (/\$2[aby]\$\d\d\$/u.test(body)) problems.push('a bcrypt hash');
  if (/pbkdf2_sha256\$/u.test(body)) problems.push('a pbkdf2 hash');
  // CSRF tokens are meant to be there; ids (UUIDs) are not secrets and may be glued to a prefix (`device-<uuid>`).
  const withoutCsrf = body
    .replace(/name="csrf" value="[^"]*"/gu, '')
    .replace(/"csrf_token":"[^"]*"/gu, '')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/giu, 'uuid');
  const long = /(?<![0-9a-zA-Z_-])[0-9a-fA-F]{40,}(?![0-9a-zA-Z_-])|(?<![0-9a-zA-Z_-])[A-Za-z0-9_-]{43,}(?![0-9a-zA-Z_-])/u.exec(
    withoutCsrf,
  );
  if (long) problems.push(`a digest- or token-like string ${long[0].slice(0, 12)}…`);
  for (const secret of secrets) if (secret && body.includes(secret)) problems.push(`the secret ${secret.slice(0, 3)}…`);
  if (problems.length) throw new Error(`response contains ${problems.join(', ')}`);
}
