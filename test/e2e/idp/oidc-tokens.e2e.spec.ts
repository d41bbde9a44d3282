import * as client from 'openid-client';
import { Duration } from '#libs/core';
import { expectPage } from '../../support/journeys.js';
import {
  POST_LOGOUT_URI,
  REDIRECT_URI,
  authorizationRequest,
  authorize,
  browse,
  discover,
  landedOnCallback,
  landedOnPage,
  people,
  registerApp,
  signIn,
  startOidcHarness,
  type OidcHarness,
  type RelyingApp,
} from '../../support/oidc.js';
import { WebClient, seedOrganization, text } from '../../support/web.js';

/**
 * Tokens and error paths, with openid-client as the relying app: refresh rotation and
 * reuse detection, single-use codes, PKCE, client authentication against hashed secrets,
 * revocation and introspection, RP-initiated logout.
 */
describe('OpenID Connect: tokens, logout and error paths', () => {
  let h: OidcHarness;
  let rp: RelyingApp;
  let org: string;
  let person: ReturnType<typeof people>;

  beforeAll(async () => {
    h = await startOidcHarness();
    org = await seedOrganization(h.db.dataSource, 'acme');
    person = people(h, org, 'tok');
    rp = await registerApp(h);
  });

  afterAll(async () => {
    await h.close();
  });

  /** The OAuth error code of a failed call: from the body, or from a WWW-Authenticate challenge (401). */
  function oauthError(error: unknown): string | undefined {
    const e = error as { error?: string; cause?: Array<{ parameters?: { error?: string } }> };
    return e.error ?? (Array.isArray(e.cause) ? e.cause[0]?.parameters?.error : undefined);
  }

  /** Whether the provider still honours an access token (userinfo answers 200). */
  async function accessTokenWorks(accessToken: string): Promise<boolean> {
    const response = await fetch(`${h.issuer}/oidc/me`, { headers: { Authorization: `Bearer ${accessToken}` } });
    return response.status === 200;
  }

  it('rotates refresh tokens; reusing an old one fails and revokes the whole family', async () => {
    const who = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who);
    const first = tokens.refresh_token!;
    const rotated = await client.refreshTokenGrant(rp.config, first);
    expect(rotated.refresh_token).toBeDefined();
    expect(rotated.refresh_token).not.toBe(first);
    expect(rotated.claims()!.acr).toBe(tokens.claims()!.acr);
    expect(await accessTokenWorks(rotated.access_token)).toBe(true);

    await expect(client.refreshTokenGrant(rp.config, first)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The reuse revoked the grant: the current refresh token and its access tokens are dead too.
    await expect(client.refreshTokenGrant(rp.config, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await accessTokenWorks(rotated.access_token)).toBe(false);
    expect(await accessTokenWorks(tokens.access_token)).toBe(false);
  });

  it('of two concurrent redemptions of one refresh token, one wins and the family is revoked', async () => {
    const who = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who);
    const results = await Promise.allSettled([
      client.refreshTokenGrant(rp.config, tokens.refresh_token!),
      client.refreshTokenGrant(rp.config, tokens.refresh_token!),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeLessThanOrEqual(1);
    expect(results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => oauthError(r.reason))).toContain(
      'invalid_grant',
    );
    // The loser's reuse revoked the grant: whatever the winner got is dead too.
    const grants = await h.db.dataSource.query(`SELECT id FROM oidc_models WHERE kind = 'Grant' AND payload->>'accountId' = $1`, [who.id]);
    expect(grants).toEqual([]);
    for (const result of results) {
      if (result.status !== 'fulfilled') continue;
      expect(await accessTokenWorks(result.value.access_token)).toBe(false);
      await expect(client.refreshTokenGrant(rp.config, result.value.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    }
  });

  it('an authorization code works once: reusing it fails and revokes what it issued', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const { tokens, callback, request } = await authorize(h, web, rp, who);
    await expect(client.authorizationCodeGrant(rp.config, callback, request.checks)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await accessTokenWorks(tokens.access_token)).toBe(false);
    await expect(client.refreshTokenGrant(rp.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it("of concurrent redemptions of one code on two nodes, at most one gets tokens, no loser's token is stored, and the grant is revoked", async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const request = await authorizationRequest(rp);
    landedOnPage(await browse(web, request.url), 'Password');
    const callback = landedOnCallback(await signIn(h, web, who));
    const code = callback.searchParams.get('code')!;
    const node = await h.startNode();
    const redeem = (base: string) =>
      fetch(`${base}/oidc/token`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: `Basic ${Buffer.from(`${encodeURIComponent(rp.clientId)}:${encodeURIComponent(rp.clientSecret!)}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: request.checks.pkceCodeVerifier,
        }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    const answers = await Promise.all([redeem(h.app.url), redeem(node.url), redeem(h.app.url), redeem(node.url)]);
    const winners = answers.filter((a) => a.status === 200);
    expect(winners.length).toBeLessThanOrEqual(1);
    for (const loser of answers.filter((a) => a.status !== 200))
      expect(loser).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // A loser's reuse revoked the grant, so nothing of it is left: not the winner's tokens, and never a loser's.
    const left = await h.db.dataSource.query(
      `SELECT kind FROM oidc_models WHERE kind IN ('AccessToken', 'RefreshToken', 'Grant') AND payload->>'accountId' = $1`,
      [who.id],
    );
    expect(left).toEqual([]);
    for (const winner of winners) expect(await accessTokenWorks(winner.body.access_token as string)).toBe(false);
  });

  it('an authorization code lives 60 seconds', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const request = await authorizationRequest(rp);
    landedOnPage(await browse(web, request.url), 'Password');
    const callback = landedOnCallback(await signIn(h, web, who));
    const [stored] = await h.db.dataSource.query<Array<{ expires_at: Date }>>(
      `SELECT expires_at FROM oidc_models WHERE kind = 'AuthorizationCode' AND payload->>'accountId' = $1`,
      [who.id],
    );
    expect(stored!.expires_at.getTime() - h.clock.now().getTime()).toBe(60_000);
    h.clock.advance(Duration.ofSeconds(61));
    await expect(client.authorizationCodeGrant(rp.config, callback, request.checks)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses the implicit and hybrid flows (response types other than code)', async () => {
    const web = new WebClient(h.app.url);
    for (const responseType of ['token', 'id_token', 'id_token token', 'code id_token', 'code token']) {
      const request = await authorizationRequest(rp, { response_type: responseType });
      const response = await web.get(request.url.href, false);
      // The error goes back to the registered redirect URI (in the fragment, as the implicit flow would have it); no token anywhere.
      const callback = landedOnCallback(await browse(web, response));
      const answer = new URLSearchParams(callback.hash.slice(1) || callback.search);
      expect(Object.fromEntries(answer)).toEqual({
        error: 'unsupported_response_type',
        error_description: expect.any(String),
        state: expect.any(String),
        iss: h.issuer,
      });
      expect(callback.href).not.toMatch(/access_token|id_token=|code=/u);
    }
  });

  it('refuses a code with the wrong PKCE verifier', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const request = await authorizationRequest(rp);
    landedOnPage(await browse(web, request.url), 'Password');
    const callback = landedOnCallback(await signIn(h, web, who));
    await expect(
      client.authorizationCodeGrant(rp.config, callback, { ...request.checks, pkceCodeVerifier: client.randomPKCECodeVerifier() }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('authenticates clients against the stored hash: a wrong secret is invalid_client', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const request = await authorizationRequest(rp);
    landedOnPage(await browse(web, request.url), 'Password');
    const callback = landedOnCallback(await signIn(h, web, who));
    const impostor = await discover(h, rp.clientId, 'not-the-secret-at-all-0123456789abcdefghijk');
    expect(oauthError(await client.authorizationCodeGrant(impostor, callback, request.checks).catch((e: unknown) => e))).toBe(
      'invalid_client',
    );
    // The hash itself is no password either.
    const [row] = await h.db.dataSource.query(`SELECT client_secret_hash FROM oidc_clients WHERE client_id = $1`, [rp.clientId]);
    expect(row.client_secret_hash).toMatch(/^sha256:[0-9a-f]{64}$/u);
    const withHash = await discover(h, rp.clientId, row.client_secret_hash);
    expect(oauthError(await client.authorizationCodeGrant(withHash, callback, request.checks).catch((e: unknown) => e))).toBe(
      'invalid_client',
    );
    // The right secret still redeems the untouched code.
    expect((await client.authorizationCodeGrant(rp.config, callback, request.checks)).claims()!.sub).toBe(who.id);
  });

  it('never redirects to an unregistered redirect_uri: an error page instead', async () => {
    const web = new WebClient(h.app.url);
    for (const uri of [
      'https://evil.example/callback',
      `${REDIRECT_URI}/extra`,
      `${REDIRECT_URI}/`,
      `${REDIRECT_URI}?next=1`,
      REDIRECT_URI.toUpperCase(),
      REDIRECT_URI.replace('https', 'http'),
      REDIRECT_URI.replace('rp.example.test', 'rp.example.test:443'),
    ]) {
      const request = await authorizationRequest({ ...rp, redirectUri: uri });
      const response = await web.get(request.url.href, false);
      expect(response.status).toBe(400);
      expect(response.location).toBeNull();
      expect(text(response.html)).toContain('not registered with Gatehouse');
      expect(response.html).not.toContain('evil.example');
    }
  });

  it('requires PKCE from a public client, which then signs in without a secret', async () => {
    const spa = await registerApp(h, { name: 'Mobile', public: true, redirectUris: ['https://rp.example.test/mobile'] });
    expect(spa.clientSecret).toBeUndefined();
    const web = new WebClient(h.app.url);
    const withoutPkce = client.buildAuthorizationUrl(spa.config, { redirect_uri: spa.redirectUri, scope: 'openid', state: 's1' });
    const refused = landedOnCallback(await browse(web, withoutPkce));
    expect(refused.searchParams.get('error')).toBe('invalid_request');
    expect(refused.searchParams.get('error_description')).toMatch(/PKCE/u);

    const who = await person();
    const { tokens } = await authorize(h, web, spa, who);
    expect(tokens.claims()!.sub).toBe(who.id);
    // Public clients may not introspect.
    expect((await client.tokenIntrospection(spa.config, tokens.access_token)).active).toBe(false);
  });

  it('introspects for confidential clients and revokes', async () => {
    const who = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who);
    const active = await client.tokenIntrospection(rp.config, tokens.access_token);
    expect(active).toMatchObject({ active: true, sub: who.id, client_id: rp.clientId });
    await client.tokenRevocation(rp.config, tokens.refresh_token!);
    await expect(client.refreshTokenGrant(rp.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await client.tokenRevocation(rp.config, tokens.access_token);
    expect((await client.tokenIntrospection(rp.config, tokens.access_token)).active).toBe(false);
  });

  it('issues client_credentials tokens only to clients registered for that grant', async () => {
    const service = await registerApp(h, {
      name: 'Batch job',
      grants: ['client_credentials'],
      redirectUris: [],
      postLogoutRedirectUris: [],
    });
    const token = await client.clientCredentialsGrant(service.config);
    expect(token.access_token).toBeDefined();
    expect(token.expires_in).toBe(600);
    await expect(client.clientCredentialsGrant(rp.config)).rejects.toMatchObject({
      error: 'invalid_request',
      error_description: 'requested grant type is not allowed for this client',
    });
  });

  it('RP-initiated logout asks, then ends the provider session, the Gatehouse session and the tokens', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const { tokens } = await authorize(h, web, rp, who);
    const [live] = await h.db.dataSource.query(`SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL`, [who.id]);
    expect(live).toBeDefined();

    const logoutUrl = client.buildEndSessionUrl(rp.config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: POST_LOGOUT_URI,
      state: 'bye',
    });
    const confirm = expectPage(await web.get(logoutUrl.href, false), 200, 'Sign out of Gatehouse?');
    // The page may send the browser on to the app after the post: form-action allows that origin only.
    expect(confirm.headers.get('content-security-policy')).toMatch(/form-action 'self' https:\/\/rp\.example\.test(;|$)/u);
    const xsrf = /name="xsrf" value="([^"]+)"/u.exec(confirm.html)![1]!;
    const signOut = /name="logout" value="([^"]+)">Sign out</u.exec(confirm.html)![1]!;
    const done = await web.request('POST', '/oidc/session/end/confirm', new URLSearchParams({ xsrf, logout: signOut }), false);
    expect(done.status).toBe(303);
    expect(done.location).toBe(`${POST_LOGOUT_URI}?state=bye`);

    const [ended] = await h.db.dataSource.query(`SELECT ended_at, end_reason FROM sessions WHERE id = $1`, [live.id]);
    expect(ended.end_reason).toBe('oidc_logout');
    expect(web.cookie('session')).toBeUndefined();
    expect(web.cookie('oidc')).toBeUndefined();
    await expect(client.refreshTokenGrant(rp.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await accessTokenWorks(tokens.access_token)).toBe(false);
    const events = await h.db.dataSource.query(`SELECT details FROM audit_events WHERE event_type = 'session.ended' AND subject_id = $1`, [
      who.id,
    ]);
    expect(events).toEqual([{ details: expect.objectContaining({ reason: 'oidc_logout' }) }]);

    // Signed out everywhere: the next authorization asks to sign in.
    const next = await authorizationRequest(rp);
    landedOnPage(await browse(web, next.url), 'Password');
  });

  it('never sends the browser to an unregistered post_logout_redirect_uri', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const { tokens } = await authorize(h, web, rp, who);
    const logoutUrl = client.buildEndSessionUrl(rp.config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: 'https://evil.example/signed-out',
    });
    const response = await web.get(logoutUrl.href, false);
    expect(response.status).toBe(400);
    expect(response.location).toBeNull();
    expect(response.html).not.toContain('evil.example');
    // Nothing was ended.
    expect(await accessTokenWorks(tokens.access_token)).toBe(true);
  });

  it('"Stay signed in" on the logout page keeps the Gatehouse session', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const { tokens } = await authorize(h, web, rp, who);
    const logoutUrl = client.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI });
    const confirm = expectPage(await web.get(logoutUrl.href, false), 200, 'Stay signed in');
    const xsrf = /name="xsrf" value="([^"]+)"/u.exec(confirm.html)![1]!;
    const done = await web.request('POST', '/oidc/session/end/confirm', new URLSearchParams({ xsrf }), false);
    expect(done.status).toBe(303);
    const live = await h.db.dataSource.query(`SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL`, [who.id]);
    expect(live).toHaveLength(1);
    expectPage(await web.get('/account'), 200, who.userId);
  });

  it('a cross-site link to the logout endpoint cannot sign a user out of Gatehouse', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    // Signed in at Gatehouse directly: no provider session holds an account.
    await web.get('/signin');
    landedOnPage(await signIn(h, web, who, {}), 'Your account');
    const logoutUrl = client.buildEndSessionUrl(rp.config, { client_id: rp.clientId, post_logout_redirect_uri: POST_LOGOUT_URI });
    const auto = await web.get(logoutUrl.href, false);
    // oidc-provider's self-submitting form: its inline script is allowed by hash, not by 'unsafe-inline'.
    expect(auto.status).toBe(200);
    const csp = auto.headers.get('content-security-policy')!;
    expect(/script-src ([^;]+)/u.exec(csp)![1]).toMatch(/^'self' 'sha256-[A-Za-z0-9+/=]+'$/u);
    // It confirms on this origin, and the confirmation redirects to the app's registered post-logout URI.
    expect(csp).toMatch(/form-action 'self' https:\/\/rp\.example\.test(;|$)/u);
    const xsrf = /name="xsrf" value="([^"]+)"/u.exec(auto.html)![1]!;
    const done = await web.request('POST', '/oidc/session/end/confirm', new URLSearchParams({ xsrf, logout: 'yes' }), false);
    expect(done.status).toBe(303);
    expect(await h.db.dataSource.query(`SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL`, [who.id])).toHaveLength(1);
  });

  it('answers response_mode=form_post with a self-submitting page allowed to post only to the registered redirect URI', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await authorize(h, web, rp, who);
    const request = await authorizationRequest(rp, { response_mode: 'form_post' });
    const page = await web.get(request.url.href, false);
    const landing = await browse(web, page);
    const posted = landing.page!;
    expect(posted.status).toBe(200);
    expect(posted.html).toContain(`action="${REDIRECT_URI}"`);
    const csp = posted.headers.get('content-security-policy')!;
    expect(csp).toMatch(/form-action 'self' https:\/\/rp\.example\.test(;|$)/u);
    expect(csp).toMatch(/script-src 'self' 'sha256-/u);
    const code = /name="code" value="([^"]+)"/u.exec(posted.html)![1]!;
    const callback = new URL(REDIRECT_URI);
    callback.searchParams.set('code', code);
    callback.searchParams.set('state', request.checks.expectedState);
    callback.searchParams.set('iss', h.issuer);
    expect((await client.authorizationCodeGrant(rp.config, callback, request.checks)).claims()!.sub).toBe(who.id);
  });

  it('keeps Nest body parsing for its own routes while the provider reads its own bodies', async () => {
    // A JSON body on a provider path is read by oidc-provider (here: an unsupported grant, properly reported).
    const token = await fetch(`${h.issuer}/oidc/token`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: `Basic ${Buffer.from(`${rp.clientId}:${rp.clientSecret}`).toString('base64')}`,
      },
      body: 'grant_type=password&username=a&password=b',
    });
    expect(token.status).toBe(400);
    expect(await token.json()).toMatchObject({ error: 'unsupported_grant_type' });
    // Gatehouse's own JSON API still parses JSON.
    const api = await fetch(`${h.issuer}/api/v1/signin`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(api.status).toBe(201);
  });
});
