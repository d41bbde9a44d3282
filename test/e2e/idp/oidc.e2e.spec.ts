import { BackchannelLogout } from '#libs/oidc';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import { Duration } from '#libs/core';
import { LOA1, LOA2 } from '#libs/sessions';
import { expectPage } from '../../support/journeys.js';
import {
  authorizationRequest,
  authorize,
  browse,
  landedOnCallback,
  landedOnPage,
  people,
  registerApp,
  signIn,
  startOidcHarness,
  stepUpForApp,
  type OidcHarness,
  type RelyingApp,
} from '../../support/oidc.js';
import { WebClient, seedOrganization, text } from '../../support/web.js';

/**
 * The OpenID Connect provider driven by a real, independent relying app (openid-client)
 * and a browser without JavaScript (WebClient) through Gatehouse's hosted pages: sign-in,
 * emailed one-time codes from a real SMTP server, remembered devices and step-up.
 */
describe('OpenID Connect: sign-in, levels of assurance and step-up', () => {
  let h: OidcHarness;
  let rp: RelyingApp;
  let org: string;
  let person: ReturnType<typeof people>;

  beforeAll(async () => {
    // The back-channel logout queue runs only where a test runs it (drainQueue), never between two steps by itself.
    h = await startOidcHarness({ oidcTimers: { logoutQueue: Duration.ofHours(1) } });
    org = await seedOrganization(h.db.dataSource, 'acme');
    person = people(h, org, 'emp');
    rp = await registerApp(h);
  });

  afterAll(async () => {
    await h.close();
  });

  async function verifyIdToken(idToken: string, expected: { nonce: string; audience?: string }): Promise<JWTPayload> {
    const metadata = rp.config.serverMetadata();
    const { payload, protectedHeader } = await jwtVerify(idToken, createRemoteJWKSet(new URL(metadata.jwks_uri!)), {
      issuer: h.issuer,
      audience: expected.audience ?? rp.clientId,
      algorithms: ['RS256'],
    });
    expect(protectedHeader.kid).toBeDefined();
    expect(payload.nonce).toBe(expected.nonce);
    return payload;
  }

  it('publishes discovery: code flow only, S256, both levels of assurance, Gatehouse claims', async () => {
    const response = await fetch(`${h.issuer}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as Record<string, unknown>;
    expect(doc.issuer).toBe(h.issuer);
    expect(doc.acr_values_supported).toEqual(expect.arrayContaining([LOA1, LOA2]));
    expect(doc.code_challenge_methods_supported).toEqual(['S256']);
    expect(doc.response_types_supported).toEqual(['code']);
    expect(doc.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(doc.grant_types_supported).not.toContain('implicit');
    expect(doc.grant_types_supported).not.toContain('password');
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'phone', 'gatehouse']));
    expect(doc.claims_supported).toEqual(expect.arrayContaining(['sub', 'acr', 'amr', 'auth_time', 'enterprise_id', 'organization']));
    expect(doc.token_endpoint_auth_methods_supported).not.toContain('client_secret_jwt');
    expect(JSON.stringify(doc)).not.toMatch(/"HS\d{3}"/u);
    expect(doc.end_session_endpoint).toBe(`${h.issuer}/oidc/session/end`);
    expect(doc.introspection_endpoint).toBe(`${h.issuer}/oidc/token/introspection`);
    expect(doc.revocation_endpoint).toBe(`${h.issuer}/oidc/token/revocation`);
    const jwks = (await (await fetch(String(doc.jwks_uri))).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    // Public parts only.
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('signs in through the hosted pages with password and an emailed OTP; the ID token says loa:2 and otp', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const request = await authorizationRequest(rp);
    const first = await browse(web, request.url);
    const signInPage = landedOnPage(first, 'Password');
    expect(text(signInPage.html)).toContain('Cancel and return to the application');
    const callback = landedOnCallback(await signIn(h, web, who));
    expect(callback.searchParams.get('iss')).toBe(h.issuer);
    const tokens = await client.authorizationCodeGrant(rp.config, callback, request.checks);

    const claims = await verifyIdToken(tokens.id_token!, { nonce: request.checks.expectedNonce });
    expect(claims.sub).toBe(who.id);
    expect(claims.sub).not.toBe(who.userId);
    expect(claims.acr).toBe(LOA2);
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
    expect(claims.auth_time).toBe(Math.floor(h.clock.now().getTime() / 1000));
    expect(claims.exp! - claims.iat!).toBe(3600);
    expect(tokens.expires_in).toBe(600);
    expect(tokens.refresh_token).toBeDefined();
    expect(tokens.claims()!.sub).toBe(who.id);

    // The browser holds a Gatehouse session: the account page opens without signing in again.
    expectPage(await web.get('/account'), 200, who.userId);
    const audit = await h.db.dataSource.query(`SELECT details FROM audit_events WHERE event_type = 'oidc.authorized' AND subject_id = $1`, [
      who.id,
    ]);
    expect(audit).toEqual([{ details: expect.objectContaining({ client_id: rp.clientId, acr: LOA2 }) }]);
  });

  it('maps scopes to userinfo claims: profile, email, and enterprise_id/organization under gatehouse', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const { tokens } = await authorize(h, web, rp, who);
    const info = await client.fetchUserInfo(rp.config, tokens.access_token, who.id);
    expect(info).toMatchObject({
      sub: who.id,
      name: 'Grace Hopper',
      given_name: 'Grace',
      family_name: 'Hopper',
      email: who.email,
      email_verified: true,
      enterprise_id: who.userId,
      organization: 'acme',
    });

    // Only openid + email: no profile, no Gatehouse claims.
    const narrow = await authorize(h, web, rp, null, { scope: 'openid email' });
    const limited = await client.fetchUserInfo(rp.config, narrow.tokens.access_token, who.id);
    expect(Object.keys(limited).sort()).toEqual(['email', 'email_verified', 'sub']);
  });

  it('signs a second app in from the live session without any page (single sign-on)', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const first = await authorize(h, web, rp, who);
    const other = await registerApp(h, { name: 'Expenses', redirectUris: ['https://rp.example.test/expenses/cb'] });
    const second = await authorize(h, web, other, null);
    const a = first.tokens.claims()!;
    const b = second.tokens.claims()!;
    expect(b.sub).toBe(a.sub);
    expect(b.auth_time).toBe(a.auth_time);
    expect(b.acr).toBe(LOA2);
  });

  it('a remembered-device sign-in yields loa:1 and amr without otp; acr_values=loa:2 then asks for a fresh OTP', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await authorize(h, web, rp, who, {}, { remember: true });
    expect(web.cookie('device')).toBeDefined();

    // A new browser session on the remembered device: password only.
    web.cookies.delete('gh_session');
    web.cookies.delete('gh_oidc');
    web.cookies.delete('gh_oidc.sig');
    h.clock.advance(Duration.ofMinutes(1));
    const remembered = await authorize(h, web, rp, who, {}, { expectOtp: false });
    const loa1 = remembered.tokens.claims()!;
    expect(loa1.acr).toBe(LOA1);
    expect(loa1.amr).toEqual(['pwd']);

    // The same session is not enough for loa:2: the OTP is asked even on this device, and only the OTP (CONTRACT).
    const request = await authorizationRequest(rp, { acr_values: LOA2 });
    const landing = await browse(web, request.url);
    const callback = landedOnCallback(await stepUpForApp(h, web, who, landing));
    const stepped = (await client.authorizationCodeGrant(rp.config, callback, request.checks)).claims()!;
    expect(stepped.acr).toBe(LOA2);
    expect(stepped.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));

    // Now the session is loa:2: asking again needs no page.
    const again = await authorize(h, web, rp, null, { acr_values: LOA2 });
    expect(again.tokens.claims()!.acr).toBe(LOA2);
  });

  it('an essential acr claim is honoured, and a loa:2 session answers a request that accepts only loa:1 with loa:1', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await authorize(h, web, rp, who, {}, { remember: true });
    web.cookies.delete('gh_session');
    web.cookies.delete('gh_oidc');
    await authorize(h, web, rp, who, {}, { expectOtp: false });

    const essential = JSON.stringify({ id_token: { acr: { essential: true, values: [LOA2] } } });
    const request = await authorizationRequest(rp, { claims: essential });
    const callback = landedOnCallback(await stepUpForApp(h, web, who, await browse(web, request.url)));
    expect((await client.authorizationCodeGrant(rp.config, callback, request.checks)).claims()!.acr).toBe(LOA2);

    const onlyLoa1 = JSON.stringify({ id_token: { acr: { essential: true, values: [LOA1] } } });
    const downgraded = await authorize(h, web, rp, null, { claims: onlyLoa1 });
    expect(downgraded.tokens.claims()!.acr).toBe(LOA1);
  });

  it('prompt=login asks for the password (and a code) again even with a live session', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const first = (await authorize(h, web, rp, who, {}, { remember: true })).tokens.claims()!;
    h.clock.advance(Duration.ofMinutes(2));
    const request = await authorizationRequest(rp, { prompt: 'login' });
    landedOnPage(await browse(web, request.url), 'Password');
    // The device is remembered, yet prompt=login gets a fresh OTP too.
    const callback = landedOnCallback(await signIn(h, web, who));
    const again = (await client.authorizationCodeGrant(rp.config, callback, request.checks)).claims()!;
    expect(again.auth_time).toBe(first.auth_time! + 120);
    expect(again.amr).toContain('otp');
    const sessions: Array<{ end_reason: string | null }> = await h.db.dataSource.query(
      `SELECT ended_at, end_reason FROM sessions WHERE user_id = $1 ORDER BY created_at`,
      [who.id],
    );
    expect(sessions.map((s) => s.end_reason)).toEqual(['replaced', null]);
  });

  it('max_age: a recent enough authentication passes silently, an older one is asked again', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const first = (await authorize(h, web, rp, who)).tokens.claims()!;
    h.clock.advance(Duration.ofMinutes(5));
    const recent = await authorize(h, web, rp, null, { max_age: '600' });
    expect(recent.tokens.claims()!.auth_time).toBe(first.auth_time);

    h.clock.advance(Duration.ofMinutes(6));
    const request = await authorizationRequest(rp, { max_age: '600' });
    landedOnPage(await browse(web, request.url), 'Password');
    const callback = landedOnCallback(await signIn(h, web, who));
    const fresh = (await client.authorizationCodeGrant(rp.config, callback, request.checks)).claims()!;
    expect(fresh.auth_time).toBe(first.auth_time! + 11 * 60);
    expect(fresh.acr).toBe(LOA2);
  });

  /**
   * Follows the browser from `start` to the app's callback, submitting the provider's
   * self-submitting logout form when it comes (no JavaScript here); runs the back-channel
   * logout queue before hop `drainAt` (as a node may at any moment). Says whether the logout
   * form came.
   */
  async function toCallback(web: WebClient, start: string, drainAt = -1): Promise<{ callback: URL; switched: boolean }> {
    let response = await web.get(start, false);
    let switched = false;
    for (let hop = 0; hop < 20; hop++) {
      if (hop === drainAt) await h.app.app.get(BackchannelLogout).drainQueue();
      if (response.status === 200 && response.html.includes('/oidc/session/end/confirm')) {
        expect(response.headers.get('content-security-policy')).toMatch(/form-action 'self' https:\/\/rp\.example\.test(;|$)/u);
        const xsrf = /name="xsrf" value="([^"]+)"/u.exec(response.html)![1]!;
        response = await web.request('POST', '/oidc/session/end/confirm', new URLSearchParams({ xsrf, logout: 'yes' }), false);
        switched = true;
        continue;
      }
      const next =
        response.location ?? (response.status === 200 ? /url=(.+)$/iu.exec(response.headers.get('refresh') ?? '')?.[1] : undefined);
      if (!next) throw new Error(`expected the callback, got ${response.status}: ${text(response.html).slice(0, 300)}`);
      const target = new URL(next, web.base);
      if (target.href.startsWith('https://rp.example.test')) return { callback: target, switched };
      response = await web.get(target.href, false);
    }
    throw new Error('too many redirects');
  }

  const providerSessionsOf = async (accountId: string): Promise<number> =>
    (await h.db.dataSource.query<unknown[]>(`SELECT 1 FROM oidc_models WHERE kind = 'Session' AND payload->>'accountId' = $1`, [accountId]))
      .length;

  it('another person signing in on the same browser replaces the first in the provider too', async () => {
    const first = await person();
    const second = await person();
    const web = new WebClient(h.app.url);
    expect((await authorize(h, web, rp, first)).tokens.claims()!.sub).toBe(first.id);
    await web.get('/signin');
    landedOnPage(await signIn(h, web, second), 'Your account');

    // Whether the logout queue has ended the first person's provider session yet (no logout form) or not
    // (oidc-provider's logout form ends it), the app gets the second person.
    const request = await authorizationRequest(rp);
    const { callback } = await toCallback(web, request.url.href);
    const claims = (await client.authorizationCodeGrant(rp.config, callback, request.checks)).claims()!;
    expect(claims.sub).toBe(second.id);
    expect(await providerSessionsOf(first.id)).toBe(0);
    // The second person's Gatehouse session lives on.
    expectPage(await web.get('/account'), 200, second.userId);
  });

  /**
   * Half a switch of person through an app: the first person signed in to the app, which then
   * asks for prompt=login; the second person signs in and stops on the way back to the
   * interaction (`back`), which holds the first person's provider session.
   */
  async function switchHalfWay(): Promise<{
    first: Awaited<ReturnType<typeof person>>;
    second: Awaited<ReturnType<typeof person>>;
    web: WebClient;
    request: Awaited<ReturnType<typeof authorizationRequest>>;
    back: URL;
  }> {
    const first = await person();
    const second = await person();
    const web = new WebClient(h.app.url);
    await authorize(h, web, rp, first);
    const request = await authorizationRequest(rp, { prompt: 'login' });
    landedOnPage(await browse(web, request.url), 'Password');
    const signedIn = await signIn(h, web, second, { stopAt: `${h.issuer}/interaction/` });
    if (!signedIn.callback) throw new Error(`expected the way back to the interaction, got ${signedIn.page.status}`);
    return { first, second, web, request, back: signedIn.callback };
  }

  it('switching person through an app (prompt=login) completes whenever the logout queue runs during it', async () => {
    // The queue ends the first person's provider session while the browser is in the middle of the provider's
    // flow (its interaction holds that session): it is logged out but kept for the flow, whose logout form ends it.
    for (const drainAt of [-1, 0, 1, 2, 3, 4, 5]) {
      const { first, second, web, request, back } = await switchHalfWay();
      const { callback, switched } = await toCallback(web, back.href, drainAt).catch((error: Error) => {
        throw new Error(`drain at ${drainAt}: ${error.message}`);
      });
      expect(switched).toBe(true);
      const claims = (await client.authorizationCodeGrant(rp.config, callback, request.checks)).claims()!;
      expect(claims.sub).toBe(second.id);
      await h.app.app.get(BackchannelLogout).drainQueue();
      expect(await providerSessionsOf(first.id)).toBe(0);
    }
  });

  it('a switch abandoned after the logout queue ran leaves nothing in the way: prompt=none answers for the person signed in', async () => {
    const { first, second, web } = await switchHalfWay();
    // The queue logs the first person out while the flow holds their provider session; the flow is then abandoned.
    await h.app.app.get(BackchannelLogout).drainQueue();
    expect(await providerSessionsOf(first.id)).toBe(1);

    const silent = await authorizationRequest(rp, { prompt: 'none' });
    const callback = landedOnCallback(await browse(web, silent.url));
    expect(callback.searchParams.get('error')).toBeNull();
    const claims = (await client.authorizationCodeGrant(rp.config, callback, silent.checks)).claims()!;
    expect(claims.sub).toBe(second.id);
    expect(await providerSessionsOf(first.id)).toBe(0);
  });

  it("a provider session is held only by an interaction that is unexpired by the app's clock", async () => {
    const { first } = await switchHalfWay();
    // The flow is abandoned and its interaction (1 hour) expires before the logout queue runs: nothing holds the
    // first person's provider session any more, so it is deleted, not kept.
    h.clock.advance(Duration.ofMinutes(61));
    await h.app.app.get(BackchannelLogout).drainQueue();
    expect(await providerSessionsOf(first.id)).toBe(0);
  });

  it('cancelling the sign-in sends access_denied to the app', async () => {
    const web = new WebClient(h.app.url);
    const request = await authorizationRequest(rp);
    const page = landedOnPage(await browse(web, request.url), 'Password');
    const cancel = /href="(\/interaction\/[^"]+\/abort)"/u.exec(page.html)![1]!;
    expectPage(await web.get(cancel), 200, 'Cancel sign-in');
    const callback = landedOnCallback(await browse(web, await web.post(cancel, {}, false)));
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(request.checks.expectedState);
    await expect(client.authorizationCodeGrant(rp.config, callback, request.checks)).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('signing out of Gatehouse ends single sign-on: the next request asks to sign in', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await authorize(h, web, rp, who);
    const account = await web.get('/account');
    await web.post('/signout', {}, true);
    expect(account.status).toBe(200);
    expect(web.cookie('session')).toBeUndefined();
    const request = await authorizationRequest(rp);
    landedOnPage(await browse(web, request.url), 'Password');
    // prompt=none cannot show that page: the app gets login_required.
    const silent = await authorizationRequest(rp, { prompt: 'none' });
    const callback = landedOnCallback(await browse(web, silent.url));
    expect(callback.searchParams.get('error')).toBe('login_required');
  });
});
