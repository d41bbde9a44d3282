import { randomBytes } from 'node:crypto';
import { Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import { RememberedDeviceService } from '#libs/sessions';
import {
  api,
  codeMails,
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

/**
 * Remembered devices over the hosted pages: the cookie, the skipped code, the notice, and
 * every reason that asks for a code again.
 */
describe('remembered devices', () => {
  let h: Harness;
  let slugs = 0;
  const PASSWORD = 'correct horse battery 3';

  beforeAll(async () => {
    h = await startHarness();
  });

  afterEach(() => {
    expect(errorLines(h.app)).toEqual([]);
  });

  afterAll(async () => {
    await h.close();
  });

  const db = () => h.db.dataSource;

  interface Remembered {
    web: WebClient;
    who: { userId: string; password: string; email: string };
    userId: string;
    organizationId: string;
    deviceId: string;
  }

  /** A user in an organization of their own, signed in once with "Remember this device". */
  async function rememberedBrowser(enterpriseId: string): Promise<Remembered> {
    const organizationId = await seedOrganization(db(), `org-${++slugs}`);
    const who = { userId: enterpriseId, password: PASSWORD, email: `${enterpriseId}@example.com` };
    const userId = await seedUser(db(), organizationId, { enterpriseId, password: PASSWORD, email: who.email });
    const web = new WebClient(h.app.url);
    expectPage(await signInByEmail(h, web, who, { remember: true }), 200, 'Your account');
    const token = web.cookie('device');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/u);
    const [device] = await db().query(`SELECT id FROM remembered_devices WHERE token_hash = $1`, [sha256(token!)]);
    return { web, who, userId, organizationId, deviceId: device.id };
  }

  /** The session of the browser's session cookie. */
  const sessionOf = async (web: WebClient) =>
    (
      await db().query<Array<{ acr: string; user_id: string; verifications: Array<{ method: string; deviceId?: string }> }>>(
        `SELECT acr, user_id, verifications FROM sessions WHERE token_hash = $1`,
        [sha256(web.cookie('session')!)],
      )
    )[0]!;

  /** Password only, and straight to the account page. */
  async function expectSkip(r: Remembered): Promise<void> {
    const codes = codeMails(h.mail, r.who.email).length;
    expectPage(await submitPassword(r.web, r.who.userId, r.who.password), 200, 'Your account');
    expect(codeMails(h.mail, r.who.email)).toHaveLength(codes);
  }

  /** Password, then a code is asked for again; the code signs in. */
  async function expectCodeAsked(r: Remembered): Promise<string> {
    const codes = codeMails(h.mail, r.who.email).length;
    const page = expectPage(await submitPassword(r.web, r.who.userId, r.who.password), 200, 'We sent a 6-digit code by email');
    const code = await nextEmailCode(h.mail, r.who.email, codes);
    expectPage(await r.web.post('/signin/otp', { action: 'verify', code }), 200, 'Your account');
    expect(await sessionOf(r.web)).toMatchObject({ user_id: r.userId, acr: 'urn:gatehouse:loa:2' });
    return page.html;
  }

  it('"Remember this device" sets the cookie and sends a notice; a later sign-in with the right password skips the code', async () => {
    const r = await rememberedBrowser('ivy');
    const setCookie = r.web.setCookies.find((line) => line.startsWith('gh_device='))!;
    expect(setCookie).toMatch(/; HttpOnly/iu);
    expect(setCookie).toMatch(/; SameSite=Lax/iu);
    expect(setCookie).toMatch(/; Path=\//iu);
    const [device] = await db().query(`SELECT * FROM remembered_devices WHERE id = $1`, [r.deviceId]);
    const now = h.clock.now();
    expect(device).toMatchObject({
      user_id: r.userId,
      name: 'Chrome 131 on macOS',
      credential_version: 1,
      created_at: now,
      expires_at: Duration.ofDays(30).after(now),
      revoked_at: null,
    });
    expect(text(r.web.last!.html)).toContain('Chrome 131 on macOS (this device)');

    const notice = await h.mail.waitFor(
      (m) => m.envelope.to.includes('ivy@example.com') && m.subject === 'New sign-in to your Gatehouse account',
    );
    expect(notice.text).toContain('Chrome 131 on macOS');
    expect(containsLink(notice.text)).toBe(false);
    expect(notice.raw).not.toMatch(/https?:\/\//u);

    // Signed out, and a day later.
    await r.web.get('/account');
    expectPage(await r.web.post('/signout', {}), 200, 'Sign in');
    h.clock.advance(Duration.ofDays(1));
    await expectSkip(r);
    const session = await sessionOf(r.web);
    expect(session).toMatchObject({ user_id: r.userId, acr: 'urn:gatehouse:loa:1' });
    expect(session.verifications.map((v) => v.method)).toEqual(['password', 'remembered_device']);
    expect(session.verifications[1]!.deviceId).toBe(r.deviceId);
    const [used] = await db().query(`SELECT last_used_at FROM remembered_devices WHERE id = $1`, [r.deviceId]);
    expect(used.last_used_at).toEqual(h.clock.now());
    // No second notice for a device that is already remembered.
    expect(h.mail.messagesTo('ivy@example.com').filter((m) => m.subject.startsWith('New sign-in'))).toHaveLength(1);
  });

  const triggers: Array<[string, (r: Remembered) => Promise<void>]> = [
    [
      'the device expired (30 days by default)',
      async (r) => {
        h.clock.advance(Duration.ofDays(29));
        await expectSkip(r);
        h.clock.advance(Duration.ofDays(2));
      },
    ],
    [
      'the user forgot it on the account page',
      async (r) => {
        const account = await r.web.get('/account');
        expect(account.html).toContain(`name="device_id" value="${r.deviceId}"`);
        const page = await r.web.post('/account/devices/forget', { device_id: r.deviceId });
        expect(text(page.html)).toContain('The device was forgotten.');
        expect(text(page.html)).toContain('No remembered devices.');
      },
    ],
    [
      'the user forgot all devices on the account page',
      async (r) => {
        await r.web.get('/account');
        const page = await r.web.post('/account/devices/forget', { device_id: 'all' });
        expect(text(page.html)).toContain('All devices were forgotten.');
      },
    ],
    [
      'the user forgot it through the API',
      async (r) => {
        const session = r.web.cookie('session')!;
        const listed = await api(h.app.url, 'GET', '/api/v1/account/devices', { session });
        expect(listed.body.devices).toEqual([
          {
            id: r.deviceId,
            name: 'Chrome 131 on macOS',
            first_used_at: expect.any(String),
            last_used_at: expect.any(String),
            expires_at: expect.any(String),
          },
        ]);
        expect((await api(h.app.url, 'DELETE', `/api/v1/account/devices/${r.deviceId}`, { session })).status).toBe(204);
        expect((await api(h.app.url, 'GET', '/api/v1/account/devices', { session })).body.devices).toEqual([]);
      },
    ],
    [
      'the password or security code changed (credential version moved on)',
      async (r) => {
        await db().query(`UPDATE users SET credential_version = credential_version + 1 WHERE id = $1`, [r.userId]);
      },
    ],
    [
      "the organization's lifetime was lowered below the device's age",
      async (r) => {
        h.clock.advance(Duration.ofDays(3));
        await expectSkip(r);
        await db().query(`UPDATE organization_policies SET remember_device_days = 2, version = version + 1 WHERE organization_id = $1`, [
          r.organizationId,
        ]);
      },
    ],
    [
      'the organization disabled remembering',
      async (r) => {
        await db().query(
          `UPDATE organization_policies SET remember_device_enabled = false, version = version + 1 WHERE organization_id = $1`,
          [r.organizationId],
        );
      },
    ],
    [
      'support revoked it',
      async (r) => {
        const revoked = await h.app.app
          .get(RememberedDeviceService)
          .revoke(r.userId, r.deviceId, { type: 'staff', id: 'staff-7' }, 'reported lost by phone', { ip: '198.51.100.4' });
        expect(revoked).toBe(1);
        const [event] = await db().query(
          `SELECT actor_type, actor_id, details FROM audit_events WHERE event_type = 'device.revoked' AND subject_id = $1`,
          [r.userId],
        );
        expect(event).toEqual({
          actor_type: 'staff',
          actor_id: 'staff-7',
          details: { device_ids: [r.deviceId], reason: 'reported lost by phone' },
        });
      },
    ],
  ];

  it.each(triggers)('asks for a code again when %s', async (label, trigger) => {
    const r = await rememberedBrowser(`u${triggers.findIndex(([l]) => l === label)}.again`);
    await expectSkip(r);
    await trigger(r);
    const page = await expectCodeAsked(r);
    // A revoked device's cookie, presented again, is ignored and audited.
    const refusals = await db().query<Array<{ details: unknown }>>(
      `SELECT details FROM audit_events WHERE event_type = 'device.cookie_refused' AND subject_id = $1`,
      [r.userId],
    );
    const revoked = /forgot|revoked/u.test(label);
    expect(refusals.map((e) => e.details)).toEqual(revoked ? [{ reason: 'revoked', device_id: r.deviceId }] : []);
    if (label === 'the organization disabled remembering') {
      expect(page).not.toContain('Remember this device');
      expect(
        await db().query(`SELECT 1 FROM remembered_devices WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2`, [
          r.userId,
          h.clock.now(),
        ]),
      ).toHaveLength(1);
    }
  });

  it('ignores (and audits) a device cookie of another user or a forged one: the code is asked, no error page', async () => {
    const kim = await rememberedBrowser('kim');
    const leeId = await seedUser(db(), kim.organizationId, { enterpriseId: 'lee', password: PASSWORD, email: 'lee@example.com' });
    const lee: Remembered = { ...kim, who: { userId: 'lee', password: PASSWORD, email: 'lee@example.com' }, userId: leeId };
    await expectCodeAsked(lee);
    const [refused] = await db().query(
      `SELECT actor_type, subject_id, details FROM audit_events WHERE event_type = 'device.cookie_refused' AND subject_id = $1`,
      [leeId],
    );
    expect(refused).toEqual({ actor_type: 'anonymous', subject_id: leeId, details: { reason: 'other_user', device_id: kim.deviceId } });
    // Kim's device is untouched by the attempt.
    await expectSkip(kim);

    const forged = new WebClient(h.app.url);
    forged.cookies.set('gh_device', randomBytes(32).toString('base64url'));
    await expectCodeAsked({ ...kim, web: forged });
    const events = await db().query<Array<{ details: unknown }>>(
      `SELECT details FROM audit_events WHERE event_type = 'device.cookie_refused' AND subject_id = $1 ORDER BY id`,
      [kim.userId],
    );
    expect(events.map((e) => e.details)).toEqual([{ reason: 'unknown', device_id: null }]);
  });

  it('a device cookie replayed from another browser family or OS asks for a code, and is recorded on the device and audited', async () => {
    const r = await rememberedBrowser('otto');
    const token = r.web.cookie('device')!;
    const deviceRow = async () =>
      (
        await db().query<Array<Record<string, unknown>>>(
          `SELECT ua_family, last_used_at, host(last_used_ip) AS last_used_ip, last_used_user_agent, mismatch_count, last_mismatch_at,
                  host(last_mismatch_ip) AS last_mismatch_ip, last_mismatch_user_agent, revoked_at
             FROM remembered_devices WHERE id = $1`,
          [r.deviceId],
        )
      )[0];
    expect(await deviceRow()).toMatchObject({ ua_family: 'Chrome|macOS', mismatch_count: 0, last_mismatch_at: null });
    await r.web.get('/account');
    expectPage(await r.web.post('/signout', {}), 200, 'Sign in');

    // The same browser a version later, from another address: still the device; the use is recorded.
    h.clock.advance(Duration.ofDays(1));
    const chrome133 =
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36';
    const updated = new WebClient(h.app.url, chrome133);
    updated.cookies.set('gh_device', token);
    updated.extraHeaders['X-Forwarded-For'] = '198.51.100.20';
    await expectSkip({ ...r, web: updated });
    expect(await deviceRow()).toMatchObject({
      last_used_at: h.clock.now(),
      last_used_ip: '198.51.100.20',
      last_used_user_agent: chrome133,
      mismatch_count: 0,
    });

    // The cookie copied into Firefox on Windows (the password known too): a new device, so a code is asked.
    const usedAt = h.clock.now();
    h.clock.advance(Duration.ofHours(2));
    const firefox = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
    const thief = new WebClient(h.app.url, firefox);
    thief.cookies.set('gh_device', token);
    thief.extraHeaders['X-Forwarded-For'] = '192.0.2.66';
    const lastUse = h.clock.now();
    await expectCodeAsked({ ...r, web: thief });
    const thiefSession = await sessionOf(thief);
    expect(thiefSession.verifications.map((v) => v.method)).toEqual(['password', 'otp']);
    expect(await deviceRow()).toMatchObject({
      // The use that counted is still the last one; the attempt is recorded apart.
      last_used_at: usedAt,
      last_used_ip: '198.51.100.20',
      mismatch_count: 1,
      last_mismatch_at: lastUse,
      last_mismatch_ip: '192.0.2.66',
      last_mismatch_user_agent: firefox,
      revoked_at: null,
    });
    const mismatches = async () =>
      await db().query<Array<{ actor_type: string; ip: string; user_agent: string; details: unknown }>>(
        `SELECT actor_type, host(ip) AS ip, user_agent, details FROM audit_events WHERE event_type = 'device.mismatch' AND subject_id = $1
          ORDER BY seq`,
        [r.userId],
      );
    expect(await mismatches()).toEqual([
      {
        actor_type: 'anonymous',
        ip: '192.0.2.66',
        user_agent: firefox,
        details: { device_id: r.deviceId, device_name: 'Chrome 131 on macOS', presented_by: 'Firefox 128 on Windows' },
      },
    ]);

    // The same browser on another OS is another device too, also through the JSON API's one-request sign-in.
    h.clock.advance(Duration.ofMinutes(5));
    const chromeOnWindows =
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
    const viaApi = await api(h.app.url, 'POST', '/api/v1/signin', {
      body: { user_id: 'otto', password: PASSWORD, device_token: token },
      headers: { 'User-Agent': chromeOnWindows, 'X-Forwarded-For': '192.0.2.67' },
    });
    expect(viaApi.body).toMatchObject({ step: 'otp', flow_id: expect.any(String) });
    expect(await deviceRow()).toMatchObject({ mismatch_count: 2, last_mismatch_ip: '192.0.2.67', last_mismatch_at: h.clock.now() });
    expect((await mismatches()).map((e) => (e.details as { presented_by: string }).presented_by)).toEqual([
      'Firefox 128 on Windows',
      'Chrome 131 on Windows',
    ]);

    // The owner's browser still skips the code, and its account page shows the last use and the attempt.
    r.web.extraHeaders['X-Forwarded-For'] = '203.0.113.5';
    await expectSkip(r);
    const shown = text((await r.web.get('/account')).html);
    expect(shown).toContain('Chrome 131 on macOS (this device)');
    expect(shown).toContain('from 203.0.113.5, Chrome 131 on macOS');
    expect(shown).toContain(
      `Its cookie was last presented by another browser (Chrome 131 on Windows, from 192.0.2.67) on ${h.clock
        .now()
        .toISOString()
        .replace('T', ' ')
        .slice(0, 16)} UTC, and a one-time code was asked for.`,
    );
  });

  it('a device remembered before browsers were recorded takes the family of its next use, and is bound to it from then on', async () => {
    const r = await rememberedBrowser('paz');
    await db().query(`UPDATE remembered_devices SET ua_family = NULL, last_used_ip = NULL, last_used_user_agent = NULL WHERE id = $1`, [
      r.deviceId,
    ]);
    await r.web.get('/account');
    expectPage(await r.web.post('/signout', {}), 200, 'Sign in');
    await expectSkip(r);
    const [device] = await db().query(`SELECT ua_family FROM remembered_devices WHERE id = $1`, [r.deviceId]);
    expect(device.ua_family).toBe('Chrome|macOS');
    const other = new WebClient(h.app.url, 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0');
    other.cookies.set('gh_device', r.web.cookie('device')!);
    await expectCodeAsked({ ...r, web: other });
  });

  it('remembers a native app through the JSON API: the device token skips the code next time', async () => {
    const organizationId = await seedOrganization(db(), `org-${++slugs}`);
    const userId = await seedUser(db(), organizationId, { enterpriseId: 'nico', password: PASSWORD, email: 'nico@example.com' });
    const signIn = async (deviceToken?: string) => {
      const started = await api(h.app.url, 'POST', '/api/v1/signin', { body: {} });
      const flow = { id: started.body.flow_id as string, token: started.body.flow_token as string };
      const body = { user_id: 'nico', password: PASSWORD, ...(deviceToken ? { device_token: deviceToken } : {}) };
      return { flow, answer: await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/credentials`, { flowToken: flow.token, body }) };
    };
    const first = await signIn();
    expect(first.answer.body).toMatchObject({ step: 'otp', delivery: 'sent' });
    const code = await nextEmailCode(h.mail, 'nico@example.com', 0);
    const done = await api(h.app.url, 'POST', `/api/v1/signin/${first.flow.id}/otp`, {
      flowToken: first.flow.token,
      body: { code, remember: true },
    });
    expect(done.body).toMatchObject({ step: 'done', session_token: expect.any(String), device_token: expect.any(String) });
    const deviceToken = done.body.device_token as string;
    // The app is named from its User-Agent (here, Node's fetch); only the token's hash is stored.
    const [device] = await db().query(`SELECT id, token_hash FROM remembered_devices WHERE user_id = $1`, [userId]);
    expect(device.token_hash).toEqual(sha256(deviceToken));

    const skipped = await signIn(deviceToken);
    expect(skipped.answer.status).toBe(200);
    expect(skipped.answer.body).toMatchObject({ step: 'done', session_token: expect.any(String) });
    expect(skipped.answer.body.device_token).toBeUndefined();
    const [session] = await db().query<Array<{ acr: string; verifications: Array<{ method: string }> }>>(
      `SELECT acr, verifications FROM sessions WHERE token_hash = $1`,
      [sha256(skipped.answer.body.session_token as string)],
    );
    expect(session!.acr).toBe('urn:gatehouse:loa:1');
    expect(session!.verifications.map((v) => v.method)).toEqual(['password', 'remembered_device']);
    expect(codeMails(h.mail, 'nico@example.com')).toHaveLength(1);

    // Forgotten through the API: the token no longer skips anything.
    const session2 = skipped.answer.body.session_token as string;
    expect((await api(h.app.url, 'DELETE', '/api/v1/account/devices/all', { session: session2 })).status).toBe(204);
    expect((await signIn(deviceToken)).answer.body).toMatchObject({ step: 'otp' });
  });

  it('lists devices on the account page with a "(this device)" marker, and keeps at most 10 (the oldest is dropped)', async () => {
    const organizationId = await seedOrganization(db(), `org-${++slugs}`);
    const userId = await seedUser(db(), organizationId, { enterpriseId: 'max', password: PASSWORD, email: 'max@example.com' });
    const devices = h.app.app.get(RememberedDeviceService);
    for (let i = 0; i < 10; i++) {
      await devices.remember(
        { id: userId, credentialVersion: 1 },
        { enabled: true, days: 30, version: 1 },
        { userAgent: `Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:${120 + i}.0) Gecko/20100101 Firefox/${120 + i}.0` },
      );
      h.clock.advance(Duration.ofMinutes(1));
    }
    const web = new WebClient(h.app.url);
    const account = await signInByEmail(h, web, { userId: 'max', password: PASSWORD, email: 'max@example.com' }, { remember: true });
    expectPage(account, 200, 'Your account');

    const shown = text(account.html);
    expect(account.html.match(/aria-label="Forget /gu)).toHaveLength(10);
    expect(shown.match(/\(this device\)/gu)).toHaveLength(1);
    expect(shown).toContain('Chrome 131 on macOS (this device)');
    expect(shown).not.toContain('Firefox 120 on Windows');
    for (let i = 1; i < 10; i++) expect(shown).toContain(`Firefox ${120 + i} on Windows`);
    expect(shown).toContain('Forget all devices');

    const live = await db().query(`SELECT name FROM remembered_devices WHERE user_id = $1 AND revoked_at IS NULL`, [userId]);
    expect(live).toHaveLength(10);
    const [dropped] = await db().query(
      `SELECT name, revoked_reason FROM remembered_devices WHERE user_id = $1 AND revoked_at IS NOT NULL`,
      [userId],
    );
    expect(dropped).toEqual({ name: 'Firefox 120 on Windows', revoked_reason: 'limit' });
    const listed = await api(h.app.url, 'GET', '/api/v1/account/devices', { session: web.cookie('session')! });
    expect((listed.body.devices as unknown[]).length).toBe(10);
  });
});
