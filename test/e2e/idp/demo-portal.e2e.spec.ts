import { stat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Duration } from '#libs/core';
import { LOA1, LOA2 } from '#libs/sessions';
import {
  backAtPortal,
  newBrowser,
  signInToPortal,
  startDemoPortal,
  viaGatehouse,
  type PortalBrowser,
  type RunningPortal,
} from '../../support/demo-portal.js';
import { expectPage, sha256 } from '../../support/journeys.js';
import {
  browse,
  freePort,
  landedOnCallback,
  landedOnPage,
  signIn,
  startOidcHarness,
  stepUpForApp,
  type OidcHarness,
  type Person,
} from '../../support/oidc.js';
import { WebClient, seedOrganization, seedUser, text, type WebResponse } from '../../support/web.js';

const IBAN = 'DE89370400440532013000';
const IBAN_SHOWN = 'DE89 3704 0044 0532 0130 00';
const OTHER_IBAN = 'GB82WEST12345698765432';

/**
 * The sample relying app end to end: the portal (openid-client, confidential client) and
 * Gatehouse on their own ports, a browser without JavaScript for each origin, the codes
 * from a real SMTP server, and one FixedClock for both apps.
 */
describe('demo portal: sign-in through Gatehouse, step-up for payment details, logout', () => {
  let h: OidcHarness;
  let portal: RunningPortal;
  let org: string;
  let n = 0;

  beforeAll(async () => {
    h = await startOidcHarness();
    org = await seedOrganization(h.db.dataSource, 'partners');
    portal = await startDemoPortal(h);
  });

  afterAll(async () => {
    await portal?.dispose();
    await h?.close();
  });

  async function person(): Promise<Person & { id: string }> {
    n += 1;
    const who = { userId: `partner.${n}`, password: `reconcile all the things ${n}`, email: `partner${n}@example.com` };
    const id = await seedUser(h.db.dataSource, org, { enterpriseId: who.userId, password: who.password, email: who.email });
    return { ...who, id };
  }

  async function seedPaymentDetails(sub: string, iban = IBAN): Promise<void> {
    await h.db.dataSource.query(
      `INSERT INTO demo_portal_payment_details (sub, iban, account_holder, updated_at) VALUES ($1, $2, 'Grace Hopper', now())`,
      [sub, iban],
    );
  }

  async function audit(type: string, sub: string): Promise<Array<Record<string, unknown>>> {
    const rows = await h.db.dataSource.query<Array<{ details: Record<string, unknown> }>>(
      `SELECT details FROM audit_events WHERE event_type = $1 AND actor_id = $2 ORDER BY id`,
      [type, sub],
    );
    return rows.map((r) => r.details);
  }

  /** Signed in through a remembered device (loa:1): a first sign-in remembers it, then a new browser session skips the code. */
  async function rememberedDeviceSession(who: Person): Promise<PortalBrowser> {
    const b = newBrowser(h, portal);
    await signInToPortal(h, b, who, { remember: true });
    const device = b.idp.cookie('device');
    expect(device).toBeDefined();
    const next = newBrowser(h, portal);
    next.idp.cookies.set('gh_device', device!);
    h.clock.advance(Duration.ofMinutes(1));
    const home = expectPage(await signInToPortal(h, next, who, { expectOtp: false }), 200, 'Signed in');
    expect(fieldText(home, 'acr')).toBe(LOA1);
    expect(fieldText(home, 'amr')).toBe('pwd');
    return next;
  }

  function fieldText(page: WebResponse, id: string): string {
    const match = new RegExp(`<dd id="${id}">([\\s\\S]*?)</dd>`, 'u').exec(page.html);
    if (!match) throw new Error(`no ${id} on the page: ${text(page.html).slice(0, 300)}`);
    return text(match[1]!);
  }

  it('registers itself on first start as a confidential client, keeps the credentials 0600 and registers again when the client is gone', async () => {
    const file = path.join(portal.dataDir, 'demo-portal.json');
    const stored = JSON.parse(await readFile(file, 'utf8')) as { client_id: string; client_secret: string };
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const [client] = await h.db.dataSource.query(`SELECT * FROM oidc_clients WHERE client_id = $1`, [stored.client_id]);
    expect(client).toMatchObject({
      public: false,
      redirect_uris: [`${portal.url}/callback`],
      post_logout_redirect_uris: [`${portal.url}/signed-out`],
      grant_types: ['authorization_code'],
    });
    // Stored hashed only.
    expect(client.client_secret_hash).not.toContain(stored.client_secret);
    const [created] = await h.db.dataSource.query(
      `SELECT actor_type, actor_id FROM audit_events WHERE event_type = 'client.created' AND subject_id = $1`,
      [stored.client_id],
    );
    expect(created).toEqual({ actor_type: 'system', actor_id: 'demo-portal' });

    // A restart keeps the registration.
    await portal.close();
    portal = await startDemoPortal(h, { port: portal.port, dataDir: portal.dataDir });
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(stored);
    expect(await h.db.dataSource.query(`SELECT client_id FROM oidc_clients WHERE name = 'Reconciliation portal (demo)'`)).toHaveLength(1);

    // The client was removed at Gatehouse (e.g. a reset database): the next start registers again.
    await portal.close();
    await h.db.dataSource.query(`DELETE FROM oidc_clients WHERE client_id = $1`, [stored.client_id]);
    portal = await startDemoPortal(h, { port: portal.port, dataDir: portal.dataDir });
    const again = JSON.parse(await readFile(file, 'utf8')) as { client_id: string };
    expect(again.client_id).not.toBe(stored.client_id);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await h.db.dataSource.query(`SELECT client_id FROM oidc_clients WHERE client_id = $1`, [again.client_id])).toHaveLength(1);

    // And it works: a sign-in completes with the new registration.
    const who = await person();
    expectPage(await signInToPortal(h, newBrowser(h, portal), who), 200, 'Signed in');
  });

  it('signs in with code + PKCE + state + nonce and shows who is signed in from the validated ID token and userinfo', async () => {
    const who = await person();
    const b = newBrowser(h, portal);
    expectPage(await b.portal.get('/'), 200, 'Sign in with Gatehouse');

    const { authorization, landing } = await viaGatehouse(b, '/login');
    const preLogin = b.portal.cookies.get('portal_session');
    expect(preLogin).toBeDefined();
    expect(`${authorization.origin}${authorization.pathname}`).toBe(`${h.issuer}/oidc/auth`);
    const p = authorization.searchParams;
    expect(p.get('response_type')).toBe('code');
    expect(p.get('redirect_uri')).toBe(`${portal.url}/callback`);
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/u);
    expect(p.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/u);
    expect(p.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/u);
    expect(p.get('scope')).toBe('openid profile email gatehouse');
    expect(p.has('acr_values')).toBe(false);

    landedOnPage(landing, 'Password');
    const callback = landedOnCallback(await signIn(h, b.idp, who, { stopAt: `${portal.url}/` }));
    expect(callback.pathname).toBe('/callback');
    const home = expectPage(await backAtPortal(b, callback), 200, 'Signed in');
    expect(fieldText(home, 'name')).toBe('Grace Hopper');
    expect(fieldText(home, 'enterprise-id')).toBe(who.userId);
    expect(fieldText(home, 'organization')).toBe('partners');
    expect(fieldText(home, 'sub')).toBe(who.id);
    expect(fieldText(home, 'acr')).toBe(LOA2);
    expect(fieldText(home, 'amr').split(' ')).toEqual(expect.arrayContaining(['pwd', 'otp']));
    const authTime = Math.floor(h.clock.now().getTime() / 1000);
    expect(fieldText(home, 'auth-time')).toBe(`${h.clock.now().toISOString()} (${authTime})`);
    expect(text(home.html)).toContain('Sign out');

    // The session token changed at sign-in, the cookie is HttpOnly and SameSite=Lax, and only its hash is stored.
    const token = b.portal.cookies.get('portal_session')!;
    expect(token).not.toBe(preLogin);
    expect(b.portal.setCookies.filter((c) => c.startsWith('portal_session=') && !/expires=Thu, 01 Jan 1970/iu.test(c)).at(-1)).toMatch(
      /HttpOnly.*SameSite=Lax/iu,
    );
    const sessions = await h.db.dataSource.query(`SELECT sub, id_claims FROM demo_portal_sessions WHERE sub = $1`, [who.id]);
    expect(sessions).toEqual([{ sub: who.id, id_claims: expect.objectContaining({ acr: LOA2, auth_time: authTime }) }]);
    expect(JSON.stringify(await h.db.dataSource.query(`SELECT * FROM demo_portal_sessions`))).not.toContain(token);

    // Strict CSP, no inline script; forms may lead to Gatehouse (sign-out, lapsed step-up).
    const csp = home.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src 'self'(;|$)/u);
    expect(csp).toContain(`form-action 'self' ${h.issuer}`);
    expect(home.html).not.toMatch(/<script/iu);

    expect(await audit('demo_portal.signed_in', who.id)).toEqual([
      expect.objectContaining({ acr: LOA2, amr: expect.arrayContaining(['otp']) }),
    ]);
    // The same callback cannot be used twice.
    expectPage(await b.portal.get(callback.href), 400, 'No sign-in in progress');
  });

  it('Payment details ask for a step-up even on a remembered device, and show the data only after loa:2', async () => {
    const who = await person();
    await seedPaymentDetails(who.id);
    const b = await rememberedDeviceSession(who);

    // loa:1 is not enough: straight to Gatehouse with acr_values=loa:2 and max_age=600, nothing shown.
    const { authorization, landing } = await viaGatehouse(b, '/payment-details');
    expect(authorization.searchParams.get('acr_values')).toBe(LOA2);
    expect(authorization.searchParams.get('max_age')).toBe('600');
    expect(b.portal.last!.html).not.toContain('3704');

    // Gatehouse asks for a fresh code (only that: the session is recent enough for max_age), although the device is remembered.
    const seenCodes = h.mail.messagesTo(who.email).length;
    const page = expectPage(await backAtPortal(b, await stepUpForApp(h, b.idp, who, landing, `${portal.url}/`)), 200, 'Payment details');
    expect(h.mail.messagesTo(who.email).length).toBeGreaterThan(seenCodes);
    expect(text(page.html)).toContain(IBAN_SHOWN);
    expect(text(page.html)).toContain('Grace Hopper');
    expect(await audit('demo_portal.step_up_completed', who.id)).toEqual([
      expect.objectContaining({ acr: LOA2, amr: expect.arrayContaining(['otp']) }),
    ]);

    const home = expectPage(await b.portal.get('/'), 200, 'Signed in');
    expect(fieldText(home, 'acr')).toBe(LOA2);
    expect(fieldText(home, 'amr').split(' ')).toContain('otp');

    // Within 600 s the page opens without Gatehouse; after that, a new step-up.
    h.clock.advance(Duration.ofMinutes(9));
    expectPage(await b.portal.get('/payment-details', false), 200, IBAN_SHOWN);
    h.clock.advance(Duration.ofMinutes(2));
    const lapsed = await b.portal.get('/payment-details', false);
    expect(lapsed.status).toBe(303);
    expect(lapsed.location).toContain(`${h.issuer}/oidc/auth?`);
    expect(lapsed.html).not.toContain('3704');
  });

  it('a forged request or an old or absent acr never unlocks the payment details', async () => {
    const who = await person();
    await seedPaymentDetails(who.id);
    const b = await rememberedDeviceSession(who);

    // The browser strips acr_values and max_age from the step-up request: Gatehouse signs in silently at loa:1.
    const first = await b.portal.get('/payment-details', false);
    const stripped = new URL(first.location!);
    stripped.searchParams.delete('acr_values');
    stripped.searchParams.delete('max_age');
    const callback = landedOnCallback(await browse(b.idp, stripped, `${portal.url}/`));
    // ...and claims loa:2 in the callback's query, which the portal never reads.
    callback.searchParams.set('acr', LOA2);
    const refused = await backAtPortal(b, callback);
    expectPage(refused, 403, 'Payment details stay locked');
    expect(refused.html).not.toContain('3704');

    // Asking for loa:1 instead: refused alike.
    const second = await b.portal.get('/payment-details', false);
    const lowered = new URL(second.location!);
    lowered.searchParams.set('acr_values', LOA1);
    expectPage(await backAtPortal(b, await browse(b.idp, lowered, `${portal.url}/`)), 403, 'Payment details stay locked');

    // The session is still loa:1: the page still sends the browser to Gatehouse.
    expect((await b.portal.get('/payment-details', false)).status).toBe(303);
    const [session] = await h.db.dataSource.query(`SELECT id_claims FROM demo_portal_sessions WHERE token_hash = $1`, [
      sha256(b.portal.cookies.get('portal_session')!),
    ]);
    expect(session.id_claims.acr).toBe(LOA1);

    // A real loa:2 that is older than 600 s, with max_age stripped: Gatehouse answers with the old auth_time; refused.
    const c = newBrowser(h, portal);
    await signInToPortal(h, c, who);
    h.clock.advance(Duration.ofMinutes(11));
    const stale = await c.portal.get('/payment-details', false);
    const noMaxAge = new URL(stale.location!);
    noMaxAge.searchParams.delete('max_age');
    const old = await backAtPortal(c, await browse(c.idp, noMaxAge, `${portal.url}/`));
    expectPage(old, 403, 'Payment details stay locked');
    expect(old.html).not.toContain('3704');

    expect((await audit('demo_portal.step_up_refused', who.id)).map((d) => d.reason)).toEqual(['weak_acr', 'weak_acr', 'too_old']);
  });

  it('saves edits only after the step-up, answers bad input with form errors, and keeps a draft across a lapsed step-up', async () => {
    const who = await person();
    const b = newBrowser(h, portal);
    await signInToPortal(h, b, who);
    // Just signed in with password + code: loa:2 and fresh, so the page opens at once.
    const empty = expectPage(await b.portal.get('/payment-details', false), 200, 'No payment details on file yet');

    const bad = await b.portal.post('/payment-details', { iban: 'DE89 3704 0044 0532 0130 01', account_holder: '' });
    expectPage(bad, 422, 'The payment details were not saved');
    expect(text(bad.html)).toContain('This IBAN is not valid');
    expect(text(bad.html)).toContain('Enter the account holder.');
    expect(bad.html).toContain('value="DE89 3704 0044 0532 0130 01"');
    expect(bad.html).toContain('aria-invalid="true"');

    const saved = await b.portal.post('/payment-details', { iban: 'de89 3704 0044 0532 0130 00', account_holder: 'Grace Hopper' });
    expectPage(saved, 200, 'Payment details saved.');
    expect(text(saved.html)).toContain(IBAN_SHOWN);
    const [row] = await h.db.dataSource.query(`SELECT iban, account_holder FROM demo_portal_payment_details WHERE sub = $1`, [who.id]);
    expect(row).toEqual({ iban: IBAN, account_holder: 'Grace Hopper' });
    const [changed] = await audit('demo_portal.payment_details_changed', who.id);
    expect(changed).toMatchObject({ iban: '…3000', previous_iban: null, acr: LOA2 });
    expect(JSON.stringify(changed)).not.toContain('0532');

    // Without the form's CSRF token, or from another site: refused, nothing saved.
    b.portal.last = empty;
    const forged = await b.portal.request('POST', '/payment-details', new URLSearchParams({ iban: OTHER_IBAN, account_holder: 'Mallory' }));
    expectPage(forged, 403, 'This form has expired');
    await b.portal.get('/payment-details');
    const crossSite = await fetch(`${portal.url}/payment-details`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        Cookie: `portal_session=${b.portal.cookies.get('portal_session')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
        Origin: 'https://evil.example',
      },
      body: new URLSearchParams({ csrf: b.portal.csrf(), iban: OTHER_IBAN, account_holder: 'Mallory' }),
    });
    expect(crossSite.status).toBe(403);
    expect((await h.db.dataSource.query(`SELECT iban FROM demo_portal_payment_details WHERE sub = $1`, [who.id]))[0].iban).toBe(IBAN);

    // The step-up lapses while the form is open: the submission goes to Gatehouse first and comes back as a draft, unsaved.
    await b.portal.get('/payment-details');
    h.clock.advance(Duration.ofMinutes(11));
    const lapsed = await b.portal.post(
      '/payment-details',
      { iban: 'GB82 WEST 1234 5698 7654 32', account_holder: 'Grace B. Hopper' },
      false,
    );
    expect(lapsed.status).toBe(303);
    const authorization = new URL(lapsed.location!);
    expect(authorization.searchParams.get('max_age')).toBe('600');
    landedOnPage(await browse(b.idp, authorization, `${portal.url}/`), 'Password');
    const draft = expectPage(
      await backAtPortal(b, await signIn(h, b.idp, who, { stopAt: `${portal.url}/` })),
      200,
      'Your changes are not saved yet',
    );
    expect(draft.html).toContain('value="GB82 WEST 1234 5698 7654 32"');
    expect(draft.html).toContain('value="Grace B. Hopper"');
    expect((await h.db.dataSource.query(`SELECT iban FROM demo_portal_payment_details WHERE sub = $1`, [who.id]))[0].iban).toBe(IBAN);
    expectPage(
      await b.portal.post('/payment-details', { iban: 'GB82 WEST 1234 5698 7654 32', account_holder: 'Grace B. Hopper' }),
      200,
      'GB82 WEST',
    );
    expect((await h.db.dataSource.query(`SELECT iban FROM demo_portal_payment_details WHERE sub = $1`, [who.id]))[0].iban).toBe(OTHER_IBAN);
    // The draft was shown once.
    expect(text((await b.portal.get('/payment-details')).html)).not.toContain('not saved yet');
  });

  it('cancelling at Gatehouse, or a level Gatehouse cannot reach, gives a clear page', async () => {
    const who = await person();
    await seedPaymentDetails(who.id);
    const b = await rememberedDeviceSession(who);

    /** Follows `Cancel and return to the application` on Gatehouse's sign-in page, and confirms. */
    const cancel = async (browser: PortalBrowser, portalPath: string, heading: string) => {
      const page = landedOnPage((await viaGatehouse(browser, portalPath)).landing, heading);
      const abort = /href="(\/interaction\/[^"]+\/abort)"/u.exec(page.html)![1]!;
      expectPage(await browser.idp.get(abort), 200, 'Cancel sign-in');
      return await backAtPortal(browser, await browse(browser.idp, await browser.idp.post(abort, {}, false), `${portal.url}/`));
    };

    // Cancelling the step-up: a clear page, still signed in, payment details still locked.
    const stepUp = await cancel(b, '/payment-details', 'Confirm it is you');
    expectPage(stepUp, 403, 'Verification cancelled');
    expect(text(stepUp.html)).toContain('the payment details stay locked');
    expect(stepUp.html).not.toContain('3704');
    expectPage(await b.portal.get('/'), 200, who.userId);

    // A level Gatehouse does not offer (an essential acr it does not know; prompt=login so that Gatehouse decides
    // rather than answering from the live session): unmet_authentication_requirements.
    const { authorization } = await viaGatehouse(b, '/payment-details');
    authorization.searchParams.set('claims', JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:example:loa:9'] } } }));
    authorization.searchParams.set('prompt', 'login');
    const unmet = await backAtPortal(b, await browse(b.idp, authorization, `${portal.url}/`));
    expectPage(unmet, 403, 'Verification not completed');
    expect(text(unmet.html)).toContain('they stay locked');

    // Cancelling the first sign-in: not signed in.
    const fresh = newBrowser(h, portal);
    const signInCancelled = await cancel(fresh, '/login', 'Password');
    expectPage(signInCancelled, 403, 'Sign-in cancelled');
    expectPage(await fresh.portal.get('/'), 200, 'Sign in with Gatehouse');

    const failures = await h.db.dataSource.query<Array<{ details: { error: string; purpose: string } }>>(
      `SELECT details FROM audit_events WHERE event_type = 'demo_portal.authorization_failed' ORDER BY id DESC LIMIT 3`,
    );
    expect(failures.map((r) => `${r.details.purpose}:${r.details.error}`)).toEqual([
      'signin:access_denied',
      'step_up:unmet_authentication_requirements',
      'step_up:access_denied',
    ]);
  });

  it('signs out with RP-initiated logout: the portal session ends, Gatehouse confirms, and the browser returns to the portal', async () => {
    const who = await person();
    const b = newBrowser(h, portal);
    const home = expectPage(await signInToPortal(h, b, who), 200, 'Signed in');
    b.portal.last = home;

    const out = await b.portal.post('/logout', {}, false);
    expect(out.status).toBe(303);
    const endSession = new URL(out.location!);
    expect(`${endSession.origin}${endSession.pathname}`).toBe(`${h.issuer}/oidc/session/end`);
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${portal.url}/signed-out`);
    expect(endSession.searchParams.get('id_token_hint')).toBeTruthy();
    // The portal session is gone at once.
    expect(b.portal.cookies.get('portal_session')).toBeUndefined();
    expect(await h.db.dataSource.query(`SELECT 1 FROM demo_portal_sessions WHERE sub = $1`, [who.id])).toHaveLength(0);

    const confirm = expectPage(await b.idp.get(endSession.href, false), 200, 'Sign out of Gatehouse?');
    expect(text(confirm.html)).toContain('Reconciliation portal (demo) asks you to sign out');
    const xsrf = /name="xsrf" value="([^"]+)"/u.exec(confirm.html)![1]!;
    const signOut = /name="logout" value="([^"]+)">Sign out</u.exec(confirm.html)![1]!;
    const done = await b.idp.request('POST', '/oidc/session/end/confirm', new URLSearchParams({ xsrf, logout: signOut }), false);
    expect(done.status).toBe(303);
    expect(done.location).toBe(`${portal.url}/signed-out`);
    expectPage(await b.portal.get(done.location!), 200, 'You are signed out of the reconciliation portal');

    // Signed out of Gatehouse too, and the portal shows the signed-out welcome.
    expect((await b.idp.get('/account', false)).status).toBe(303);
    expectPage(await b.portal.get('/'), 200, 'Sign in with Gatehouse');
    expect(await audit('demo_portal.signed_out', who.id)).toHaveLength(1);
    // Sign-out without the form's token is refused (no cross-site sign-out of the portal).
    const again = newBrowser(h, portal);
    await signInToPortal(h, again, who);
    const forged = await again.portal.request('POST', '/logout', new URLSearchParams({}), false);
    expect(forged.status).toBe(403);
    expectPage(await again.portal.get('/'), 200, 'Signed in');
  });

  it('ends its sessions by its clock: a callback after 30 minutes and a session after 8 hours are refused', async () => {
    const who = await person();
    const late = newBrowser(h, portal);
    const { landing } = await viaGatehouse(late, '/login');
    landedOnPage(landing, 'Password');
    const callback = landedOnCallback(await signIn(h, late.idp, who, { stopAt: `${portal.url}/` }));
    h.clock.advance(Duration.ofMinutes(31));
    expectPage(await backAtPortal(late, callback), 400, 'No sign-in in progress');
    expectPage(await late.portal.get('/'), 200, 'Sign in with Gatehouse');

    const b = newBrowser(h, portal);
    await signInToPortal(h, b, who);
    h.clock.advance(Duration.ofHours(7));
    expectPage(await b.portal.get('/'), 200, 'Signed in');
    h.clock.advance(Duration.ofMinutes(61));
    expectPage(await b.portal.get('/'), 200, 'Sign in with Gatehouse');
    const payment = await b.portal.get('/payment-details', false);
    expect(payment.location).toBe('/login?return_to=%2Fpayment-details');
  });

  it('shows a clear page when Gatehouse cannot be reached', async () => {
    const down = await startDemoPortal(h, { issuer: `http://127.0.0.1:${await freePort()}` });
    try {
      const web = new WebClient(down.url);
      expectPage(await web.get('/login', false), 503, 'Gatehouse is not reachable');
      // Nothing was half-started: the next try (Gatehouse still down) says the same.
      expectPage(await web.get('/login', false), 503, 'The portal cannot reach Gatehouse right now');
    } finally {
      await down.dispose();
    }
  });

  it('answers health checks and leaves no error in its log', async () => {
    expect((await fetch(`${portal.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${portal.url}/readyz`)).status).toBe(200);
    expect(portal.logs.lines.filter((line) => /"level":(50|60)/u.test(line))).toEqual([]);
    // No token or secret in the portal's log lines.
    expect(portal.logs.text).not.toMatch(/code=|id_token_hint=|client_secret/u);
  });
});
