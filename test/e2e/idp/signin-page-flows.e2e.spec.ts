import { Duration } from '#libs/core';
import { startApp, type RunningApp } from '../../support/apps.js';
import {
  apiStart,
  codeMails,
  errorLines,
  expectPage,
  nextEmailCode,
  signInByEmail,
  startHarness,
  type Harness,
} from '../../support/journeys.js';
import { WebClient, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * Anonymous page views store nothing: the sign-in and recovery start pages carry what their
 * form needs (where to go afterwards, the goal) in a token sealed to the browser's cookie, and
 * the flow is created when the form is submitted. Expired flows are deleted by the periodic purge.
 */
describe('anonymous pages and the flows behind them', () => {
  let h: Harness;
  let org: string;
  const PASSWORD = 'difference engine 1822';

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
  const flowCount = async () => Number((await db().query(`SELECT count(*)::int AS n FROM auth_flows`))[0].n);
  let ips = 0;
  /** Each test its own client address, so the per-IP throttle of one does not reach another. */
  const browser = () => {
    const web = new WebClient(h.app.url);
    web.extraHeaders['X-Forwarded-For'] = `203.0.113.${++ips}`;
    return web;
  };

  it('viewing the sign-in and recovery start pages, many times and from many browsers, creates no flow', async () => {
    const before = await flowCount();
    const paths = ['/signin', '/signin?return_to=%2Faccount%2Fdevices', '/signin?return_to=%2Faccount&step_up=1', '/recover/password'];
    for (let i = 0; i < 10; i++) {
      const web = browser();
      for (const path of [...paths, '/recover/enterprise-id']) {
        const page = await web.get(path);
        expect(page.status).toBe(200);
        expect(web.csrf()).toBeTruthy();
      }
      // The same browser again: still nothing stored.
      for (const path of paths) expect((await web.get(path)).status).toBe(200);
    }
    expect(await flowCount()).toBe(before);
  });

  it('a sign-in from such a page still works and goes where the page was asked to return to', async () => {
    await seedUser(db(), org, { enterpriseId: 'ada', password: PASSWORD, email: 'ada@example.com' });
    const web = browser();
    expectPage(await web.get('/signin?return_to=%2Faccount%2Fdevices'), 200, 'User ID');
    const before = await flowCount();
    // A wrong password: the form again, still without a flow, and it still works afterwards.
    const wrong = await web.post('/signin', { user_id: 'ada', password: 'not it' });
    expectPage(wrong, 401, 'The User ID or password is not correct.');
    expect(await flowCount()).toBe(before);
    const seen = codeMails(h.mail, 'ada@example.com').length;
    expectPage(await web.post('/signin', { user_id: 'ada', password: PASSWORD }), 200, 'We sent a 6-digit code by email');
    // The flow exists from the code step on.
    expect(await flowCount()).toBe(before + 1);
    const code = await nextEmailCode(h.mail, 'ada@example.com', seen);
    const done = await web.post('/signin/otp', { action: 'verify', code }, false);
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account/devices');
    expect(web.cookie('session')).toBeDefined();
    expect(await flowCount()).toBe(before);
  });

  it('step_up=1 survives the page: a remembered device is not enough, a code is asked for', async () => {
    await seedUser(db(), org, { enterpriseId: 'grace', password: PASSWORD, email: 'grace@example.com' });
    const web = browser();
    await signInByEmail(h, web, { userId: 'grace', password: PASSWORD, email: 'grace@example.com' }, { remember: true });
    expect(web.cookie('device')).toBeDefined();
    // Without step_up the remembered device signs in at once; with it, a code is asked for.
    await web.get('/signin');
    expect((await web.post('/signin', { user_id: 'grace', password: PASSWORD }, false)).status).toBe(303);
    await web.get('/signin?return_to=%2Faccount&step_up=1');
    expectPage(await web.post('/signin', { user_id: 'grace', password: PASSWORD }), 200, 'We sent a 6-digit code by email');
  });

  it("refuses a page's form token from another browser, a tampered one and a cross-site post", async () => {
    await seedUser(db(), org, { enterpriseId: 'hedy', password: PASSWORD, email: 'hedy@example.com' });
    const victim = browser();
    await victim.get('/signin?return_to=%2Faccount');
    const attacker = browser();
    await attacker.get('/signin');
    // Another browser's token does not open with this browser's cookie.
    const foreign = await attacker.request(
      'POST',
      '/signin',
      new URLSearchParams({ csrf: victim.csrf(), user_id: 'hedy', password: PASSWORD }),
    );
    expect(foreign.status).toBe(403);
    // The sealed return target cannot be changed.
    await attacker.get('/signin?return_to=%2Faccount');
    const [payload, mac] = attacker.csrf().split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), o: false, r: '/x' }));
    const tampered = await attacker.request(
      'POST',
      '/signin',
      new URLSearchParams({ csrf: `${forged.toString('base64url')}.${mac}`, user_id: 'hedy', password: PASSWORD }),
    );
    expect(tampered.status).toBe(403);
    const crossSite = await fetch(new URL('/signin', h.app.url), {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Origin: 'https://evil.example',
        Cookie: `gh_signin=${victim.cookie('signin')}`,
      },
      body: new URLSearchParams({ csrf: victim.csrf(), user_id: 'hedy', password: PASSWORD }),
    });
    expect(crossSite.status).toBe(403);
    // Without the cookie the page set, the form is refused too.
    const noCookie = new WebClient(h.app.url);
    const bare = await noCookie.request(
      'POST',
      '/signin',
      new URLSearchParams({ csrf: victim.csrf(), user_id: 'hedy', password: PASSWORD }),
    );
    expect(bare.status).toBe(403);
    // The victim's own form still works.
    expectPage(await victim.post('/signin', { user_id: 'hedy', password: PASSWORD }), 200, 'We sent a 6-digit code by email');
  });

  it('a recovery starts its flow on submit: malformed details keep none, well-formed ones continue in one', async () => {
    await seedUser(db(), org, { enterpriseId: 'ida', password: PASSWORD, email: 'ida@example.com' });
    const web = browser();
    expectPage(await web.get('/recover/password'), 200, 'Forgot your password?');
    const before = await flowCount();
    const malformed = await web.post('/recover/password', { enterprise_id: 'ida', security_code: '12' });
    expect(malformed.status).toBe(422);
    expect(text(malformed.html)).toContain('Enter your security code');
    expect(await flowCount()).toBe(before);
    // The start page's token is for this goal only.
    expect((await web.post('/recover/enterprise-id', { email: 'ida@example.com', security_code: '27182818' })).status).toBe(403);
    await web.get('/recover/password');
    const seen = codeMails(h.mail, 'ida@example.com').length;
    const sent = await web.post('/recover/password', { enterprise_id: 'ida', security_code: '27182818' });
    expect(sent.status).toBe(200);
    expect(await flowCount()).toBe(before + 1);
    // The flow goes on: the code from the mail leads to the new password step.
    const code = await nextEmailCode(h.mail, 'ida@example.com', seen);
    expectPage(await web.post('/recover/otp', { action: 'verify', code }), 200, 'New password');
  });

  describe('purge', () => {
    let node: RunningApp;

    beforeAll(async () => {
      node = await startApp('idp', h.db.url, { config: h.app.config, clock: h.clock, oidcTimers: { purge: Duration.ofMilliseconds(50) } });
    });

    afterAll(async () => {
      expect(errorLines(node)).toEqual([]);
      await node.close();
    });

    it('deletes flows expired by the injected clock and keeps live ones', async () => {
      const old = [await apiStart(h.app.url), await apiStart(h.app.url), await apiStart(h.app.url)];
      h.clock.advance(Duration.ofSeconds(15 * 60 + 1));
      const live = await apiStart(h.app.url);
      const exists = async (id: string) => (await db().query(`SELECT 1 FROM auth_flows WHERE id = $1`, [id])).length === 1;
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && (await Promise.all(old.map((f) => exists(f.id)))).some(Boolean)) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      for (const flow of old) expect(await exists(flow.id)).toBe(false);
      expect(await exists(live.id)).toBe(true);
      const [{ n }] = await db().query(`SELECT count(*)::int AS n FROM auth_flows WHERE expires_at <= $1`, [h.clock.now()]);
      expect(n).toBe(0);
    });
  });
});
