import bcrypt from 'bcryptjs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../../apps/cli/src/cli.js';
import { Duration } from '#libs/core';
import {
  api,
  apiStart,
  codeMails,
  enrollUntilEmailCode,
  expectPage,
  nextEmailCode,
  sha256,
  signInByEmail,
  errorLines,
  startHarness,
  submitPassword,
  type Harness,
} from '../../support/journeys.js';
import { WebClient, seedOrganization, seedUser, text } from '../../support/web.js';

/** Server-side sessions over the hosted pages: rotation, sign-out, timeouts, CSRF; and what the logs never hold. */
describe('sessions', () => {
  let h: Harness;
  let org: string;
  const PASSWORD = 'correct horse battery 4';

  beforeAll(async () => {
    h = await startHarness();
    org = await seedOrganization(h.db.dataSource, 'acme');
  });

  afterEach(() => {
    expect(errorLines(h.app)).toEqual([]);
  });

  afterAll(async () => {
    await h.close();
  });

  const db = () => h.db.dataSource;
  const person = async (enterpriseId: string) => {
    const id = await seedUser(db(), org, { enterpriseId, password: PASSWORD, email: `${enterpriseId}@example.com` });
    return { id, who: { userId: enterpriseId, password: PASSWORD, email: `${enterpriseId}@example.com` } };
  };
  const sessionRow = async (token: string) =>
    (
      await db().query<Array<{ id: string; ended_at: Date | null; end_reason: string | null }>>(
        `SELECT id, ended_at, end_reason FROM sessions WHERE token_hash = $1`,
        [sha256(token)],
      )
    )[0];
  const devicesApi = (session: string) => api(h.app.url, 'GET', '/api/v1/account/devices', { session });

  it('mints a new session token at every sign-in and ends the one it replaces', async () => {
    const { who } = await person('rosa');
    const web = new WebClient(h.app.url);
    // A token planted before sign-in (session fixation) is never adopted.
    web.cookies.set('gh_session', 'planted-by-someone-else');
    expectPage(await signInByEmail(h, web, who), 200, 'Your account');
    const first = web.cookie('session')!;
    expect(first).not.toBe('planted-by-someone-else');
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/u);
    expect((await devicesApi(first)).status).toBe(200);

    h.clock.advance(Duration.ofMinutes(1));
    expectPage(await signInByEmail(h, web, who), 200, 'Your account');
    const second = web.cookie('session')!;
    expect(second).not.toBe(first);
    expect(await sessionRow(first)).toMatchObject({ ended_at: h.clock.now(), end_reason: 'replaced' });
    expect(await sessionRow(second)).toMatchObject({ ended_at: null });
    expect((await devicesApi(first)).status).toBe(401);
    expect((await devicesApi(second)).status).toBe(200);
  });

  it('signs out: the session ends, and /account leads to the sign-in page', async () => {
    const { id, who } = await person('sven');
    const web = new WebClient(h.app.url);
    expectPage(await signInByEmail(h, web, who), 200, 'Sign out');
    const token = web.cookie('session')!;
    const out = await web.post('/signout', {});
    expectPage(out, 200, 'Sign in');
    expect(web.cookie('session')).toBeUndefined();
    expect(await sessionRow(token)).toMatchObject({ ended_at: h.clock.now(), end_reason: 'signed_out' });
    const events = await db().query(`SELECT details FROM audit_events WHERE event_type = 'session.ended' AND subject_id = $1`, [id]);
    expect(events).toHaveLength(1);

    expect((await web.get('/account', false)).location).toBe('/signin?return_to=%2Faccount');
    // The old token, presented again, is dead.
    web.cookies.set('gh_session', token);
    expect((await web.get('/account', false)).location).toBe('/signin?return_to=%2Faccount');
    expect((await devicesApi(token)).status).toBe(401);
  });

  it('ends an idle session after SESSION_IDLE_MINUTES; /account then leads to sign-in and back to /account', async () => {
    const { who } = await person('tilda');
    const web = new WebClient(h.app.url);
    expectPage(await signInByEmail(h, web, who), 200, 'Your account');
    const token = web.cookie('session')!;
    // Activity keeps it alive.
    for (let i = 0; i < 3; i++) {
      h.clock.advance(Duration.ofMinutes(29));
      expect((await web.get('/account', false)).status).toBe(200);
    }
    h.clock.advance(Duration.ofMinutes(31));
    const away = await web.get('/account', false);
    expect(away.status).toBe(303);
    expect(away.location).toBe('/signin?return_to=%2Faccount');
    expect(await sessionRow(token)).toMatchObject({ end_reason: 'idle_timeout' });
    // The ended session's cookie is cleared, not sent again and again.
    expect(web.cookie('session')).toBeUndefined();

    expectPage(await web.get(away.location!), 200, 'Sign in');
    const seen = codeMails(h.mail, who.email).length;
    expectPage(await web.post('/signin', { user_id: who.userId, password: who.password }), 200, 'We sent a 6-digit code');
    const code = await nextEmailCode(h.mail, who.email, seen);
    const back = await web.post('/signin/otp', { action: 'verify', code }, false);
    expect(back.status).toBe(303);
    expect(back.location).toBe('/account');
    expectPage(await web.get('/account'), 200, 'tilda');
  });

  it('ends every session of a user whose credential version moved on', async () => {
    const { who } = await person('ugo');
    const a = new WebClient(h.app.url);
    const b = new WebClient(h.app.url);
    expectPage(await signInByEmail(h, a, who), 200, 'Your account');
    h.clock.advance(Duration.ofSeconds(30));
    expectPage(await signInByEmail(h, b, who), 200, 'Your account');
    await db().query(`UPDATE users SET credential_version = credential_version + 1 WHERE enterprise_id = 'ugo'`);
    for (const web of [a, b]) {
      const token = web.cookie('session')!;
      expect((await web.get('/account', false)).location).toBe('/signin?return_to=%2Faccount');
      expect(await sessionRow(token)).toMatchObject({ end_reason: 'credentials_changed' });
    }
  });

  it('refuses form posts without the CSRF token, with a wrong one or from another origin (403), and changes nothing', async () => {
    const { id, who } = await person('vito');
    const web = new WebClient(h.app.url);
    expectPage(await signInByEmail(h, web, who, { remember: true }), 200, 'Your account');
    const [device] = await db().query(`SELECT id FROM remembered_devices WHERE user_id = $1`, [id]);
    const token = web.cookie('session')!;
    const csrf = web.csrf();
    const post = (path: string, fields: Record<string, string>) => web.request('POST', path, new URLSearchParams(fields), false);

    const refused = [
      await post('/account/devices/forget', { device_id: device.id }),
      await post('/account/devices/forget', { device_id: device.id, csrf: 'A'.repeat(43) }),
      await post('/account/devices/forget', { device_id: 'all', csrf: csrf.slice(0, -1) }),
      await post('/signout', {}),
      await post('/signout', { csrf: 'wrong' }),
    ];
    const crossSite = await fetch(new URL('/signout', h.app.url), {
      method: 'POST',
      redirect: 'manual',
      headers: {
        Cookie: `gh_session=${token}`,
        'Content-Type': 'application/x-www-form-urlencoded',
        Origin: 'https://evil.example',
      },
      body: new URLSearchParams({ csrf }),
    });
    expect([...refused.map((r) => r.status), crossSite.status]).toEqual([403, 403, 403, 403, 403, 403]);
    expect(await db().query(`SELECT 1 FROM remembered_devices WHERE user_id = $1 AND revoked_at IS NULL`, [id])).toHaveLength(1);
    expect(await sessionRow(token)).toMatchObject({ ended_at: null });
    expect(web.cookie('session')).toBe(token);
    expectPage(await web.get('/account'), 200, 'Chrome 131 on macOS (this device)');

    // The sign-in form too: without the token, the right credentials do nothing.
    const other = new WebClient(h.app.url);
    await other.get('/signin');
    const codes = codeMails(h.mail, who.email).length;
    const noToken = await other.request('POST', '/signin', new URLSearchParams({ user_id: who.userId, password: who.password }), false);
    expect(noToken.status).toBe(403);
    expect(text(noToken.html)).toContain('Please start again');
    expect(codeMails(h.mail, who.email)).toHaveLength(codes);
    expect(other.cookie('session')).toBeUndefined();
    // The flow itself is untouched: the page's form still works.
    const signInForm = await other.get('/signin');
    expect(text(signInForm.html)).toContain('User ID');
    expectPage(await other.post('/signin', { user_id: who.userId, password: 'x' }), 401, 'The User ID or password is not correct.');
  });

  it('keeps passwords, hashes, codes and tokens out of the app logs and the CLI output', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gh-logs-'));
    const printed: string[] = [];
    const cli = (...argv: string[]) =>
      runCli(
        argv,
        { out: (line) => printed.push(line), err: (line) => printed.push(line) },
        { ...process.env, DATABASE_URL: h.db.url, DATA_DIR: dataDir, LOG_LEVEL: 'info' },
      );
    const legacyPassword = 'Legacy-pass-4-logs!';
    const legacyHash = await bcrypt.hash(legacyPassword, 4);
    const csv = path.join(dataDir, 'accounts.csv');
    await writeFile(
      csv,
      `legacy_user_id,password_hash,first_name,last_name,email,mobile\nL-LOG-1,${legacyHash},Nina,Logs,nina@example.com,+393401234567\n`,
    );
    try {
      expect(await cli('org:create', 'logs-org', '--name', 'Logs Org')).toBe(0);
      expect(await cli('import-legacy', csv, '--org', 'logs-org')).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
    expect(printed.at(-1)).toBe('imported=1 updated=0 unchanged=0 rejected=0');

    const secrets = new Set<string>([legacyPassword, legacyHash]);
    const codes = new Set<string>();
    const newPassword = 'New-password-for-logs-1';
    const securityCode = '58203716';
    const wrongPassword = 'Wrong-password-typed-1';
    secrets.add(newPassword).add(securityCode).add(wrongPassword);

    // Enrollment with the imported credentials, email code and SMS code.
    const web = new WebClient(h.app.url);
    await enrollUntilEmailCode(web, {
      legacyUserId: 'L-LOG-1',
      legacyPassword,
      email: 'nina@example.com',
      enterpriseId: 'nina.logs',
      password: newPassword,
      securityCode,
      mobile: '+393401234567',
    });
    const emailCode = await nextEmailCode(h.mail, 'nina@example.com', 0);
    codes.add(emailCode);
    expectPage(await web.post('/enroll/otp', { action: 'verify', code: emailCode }), 200, 'Verify your mobile number');
    const smsCode = await h.sms.waitForCode('+393401234567');
    codes.add(smsCode);
    expectPage(await web.post('/enroll/mobile', { action: 'verify', code: smsCode }), 200, 'Your account');

    // A wrong password, then password + a code by voice, remembering the device.
    const second = new WebClient(h.app.url);
    expectPage(await submitPassword(second, 'nina.logs', wrongPassword), 401, 'not correct');
    expectPage(await second.post('/signin', { user_id: 'nina.logs', password: newPassword }), 200, 'Voice call');
    await second.post('/signin/otp', { channel: 'voice', action: 'resend' });
    const voiceCode = await h.voice.waitForCode('+393401234567');
    codes.add(voiceCode);
    expectPage(
      await second.post('/signin/otp', { channel: 'voice', action: 'verify', code: voiceCode, remember: 'on' }),
      200,
      'Your account',
    );

    // The JSON API: flow token in a header, session and device tokens in the answers.
    h.clock.advance(Duration.ofSeconds(30));
    const flow = await apiStart(h.app.url);
    await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/credentials`, {
      flowToken: flow.token,
      body: { user_id: 'nina.logs', password: newPassword },
    });
    await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/channel`, { flowToken: flow.token, body: { channel: 'email' } });
    const apiCode = await nextEmailCode(h.mail, 'nina@example.com', 1);
    codes.add(apiCode);
    const done = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/otp`, {
      flowToken: flow.token,
      body: { code: apiCode, remember: true },
    });
    expect(done.body).toMatchObject({ step: 'done' });
    secrets
      .add(flow.token)
      .add(done.body.session_token as string)
      .add(done.body.device_token as string);

    // Every cookie value the browsers were given: flow, session and device tokens.
    for (const client of [web, second]) {
      for (const line of client.setCookies) {
        const value = decodeURIComponent(line.slice(line.indexOf('=') + 1).split(';')[0]!);
        if (value.length >= 16) secrets.add(value);
      }
    }
    expect(second.cookie('device')).toBeDefined();
    expect(secrets.has(second.cookie('device')!)).toBe(true);
    const [stored] = await db().query(
      `SELECT u.password_hash, u.security_code_hash, l.password_hash AS retired FROM users u JOIN legacy_accounts l ON l.user_id = u.id WHERE u.enterprise_id = 'nina.logs'`,
    );
    secrets.add(stored.password_hash).add(stored.security_code_hash).add(stored.retired);

    const logs = h.app.logs.text;
    expect(h.app.logs.lines.length).toBeGreaterThan(20);
    expect(logs).toContain('/signin/otp');
    expect(logs).toContain('/api/v1/signin/');
    const cliOutput = printed.join('\n');
    const audit = (
      await db().query<Array<{ d: string; ua: string }>>(`SELECT details::text AS d, coalesce(user_agent, '') AS ua FROM audit_events`)
    )
      .map((r) => `${r.d} ${r.ua}`)
      .join('\n');
    for (const [where, haystack] of [
      ['app logs', logs],
      ['CLI output', cliOutput],
      ['audit events', audit],
    ] as const) {
      for (const secret of secrets) expect({ where, found: haystack.includes(secret) ? secret : null }).toEqual({ where, found: null });
      for (const code of codes) {
        const standalone = new RegExp(`(?<![0-9A-Za-z])${code}(?![0-9A-Za-z])`, 'u');
        expect({ where, found: standalone.test(haystack) ? code : null }).toEqual({ where, found: null });
      }
    }
  });
});
