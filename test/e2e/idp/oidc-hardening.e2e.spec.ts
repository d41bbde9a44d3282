import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { BROWSER_POST_LIMIT } from '#libs/oidc';
import { runCliAgainst } from '../../support/cli.js';
import { expectPage } from '../../support/journeys.js';
import {
  POST_LOGOUT_URI,
  authorizationRequest,
  authorize,
  browse,
  landedOnCallback,
  landedOnPage,
  people,
  registerApp,
  signIn,
  startOidcHarness,
  type OidcHarness,
  type RelyingApp,
} from '../../support/oidc.js';
import { WebClient, seedOrganization, text, type WebResponse } from '../../support/web.js';

/**
 * Hardening of the provider (issue #13), with openid-client as the relying app and plain
 * HTTP where a browser's form post is the point: RP-initiated logout ends every grant of
 * the session (offline_access too) before it answers; introspection and revocation only
 * for the token's own client; the authorization and end-session endpoints accept POST;
 * PKCE is required of every client unless a confidential one was registered without it.
 */
describe('OpenID Connect: hardening', () => {
  let h: OidcHarness;
  let org: string;
  let person: ReturnType<typeof people>;
  let dataDir: string;

  beforeAll(async () => {
    h = await startOidcHarness();
    org = await seedOrganization(h.db.dataSource, 'acme');
    person = people(h, org, 'hard');
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gh-oidc-hard-'));
  });

  afterAll(async () => {
    await h.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Whether the provider still honours an access token (userinfo answers 200). */
  async function accessTokenWorks(accessToken: string): Promise<boolean> {
    const response = await fetch(`${h.issuer}/oidc/me`, { headers: { Authorization: `Bearer ${accessToken}` } });
    return response.status === 200;
  }

  async function app(name: string, options: { pkceRequired?: boolean } = {}): Promise<RelyingApp> {
    return await registerApp(h, { name, redirectUris: [`https://rp.example.test/${name}/cb`], ...options });
  }

  /** Tokens that survive the browser session in oidc-provider's default: offline_access, granted with prompt=consent. */
  const OFFLINE = { scope: 'openid offline_access profile', prompt: 'consent' };

  /** The logout page's form: its xsrf value. */
  function xsrfOf(page: WebResponse): string {
    return /name="xsrf" value="([^"]+)"/u.exec(page.html)![1]!;
  }

  describe('RP-initiated logout', () => {
    it('signing out revokes every grant of the session, offline_access ones included, before it answers', async () => {
      const [a, b] = [await app('logout-a'), await app('logout-b')];
      const who = await person();
      const web = new WebClient(h.app.url);
      const first = await authorize(h, web, a, who, OFFLINE);
      const second = await authorize(h, web, b, null, OFFLINE);
      // Both are offline_access grants: oidc-provider keeps those when its session ends.
      expect(first.tokens.scope?.split(' ')).toContain('offline_access');
      expect(second.tokens.scope?.split(' ')).toContain('offline_access');
      expect(await accessTokenWorks(second.tokens.access_token)).toBe(true);

      const logoutUrl = client.buildEndSessionUrl(a.config, {
        id_token_hint: first.tokens.id_token!,
        post_logout_redirect_uri: POST_LOGOUT_URI,
      });
      const confirm = expectPage(await web.get(logoutUrl.href, false), 200, 'Sign out of Gatehouse?');
      const signOut = /name="logout" value="([^"]+)">Sign out</u.exec(confirm.html)![1]!;
      const done = await web.request(
        'POST',
        '/oidc/session/end/confirm',
        new URLSearchParams({ xsrf: xsrfOf(confirm), logout: signOut }),
        false,
      );
      expect(done.status).toBe(303);
      expect(done.location).toBe(POST_LOGOUT_URI);

      // At once (no queue involved): no app of the session keeps a working token.
      for (const [rp, tokens] of [
        [a, first.tokens],
        [b, second.tokens],
      ] as const) {
        await expect(client.refreshTokenGrant(rp.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
        expect(await accessTokenWorks(tokens.access_token)).toBe(false);
        expect((await client.tokenIntrospection(rp.config, tokens.access_token)).active).toBe(false);
      }
      const audit = await h.db.dataSource.query<Array<{ actor_id: string; details: Record<string, unknown> }>>(
        `SELECT actor_id, details FROM audit_events WHERE event_type = 'oidc.logout_grants_revoked' AND subject_id = $1`,
        [who.id],
      );
      expect(audit).toEqual([{ actor_id: who.id, details: expect.objectContaining({ client_id: a.clientId, signed_out: true }) }]);
      expect((audit[0]!.details.client_ids as string[]).sort()).toEqual([a.clientId, b.clientId].sort());
    });

    it('"Stay signed in" revokes the grant of the app that asked (offline_access too), and only that one', async () => {
      const [a, b] = [await app('stay-a'), await app('stay-b')];
      const who = await person();
      const web = new WebClient(h.app.url);
      const first = await authorize(h, web, a, who, OFFLINE);
      const second = await authorize(h, web, b, null, OFFLINE);

      const logoutUrl = client.buildEndSessionUrl(a.config, {
        id_token_hint: first.tokens.id_token!,
        post_logout_redirect_uri: POST_LOGOUT_URI,
      });
      const confirm = expectPage(await web.get(logoutUrl.href, false), 200, 'Stay signed in');
      const done = await web.request('POST', '/oidc/session/end/confirm', new URLSearchParams({ xsrf: xsrfOf(confirm) }), false);
      expect(done.status).toBe(303);

      await expect(client.refreshTokenGrant(a.config, first.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
      expect(await accessTokenWorks(first.tokens.access_token)).toBe(false);
      // The other app and the Gatehouse session are untouched.
      expect((await client.refreshTokenGrant(b.config, second.tokens.refresh_token!)).claims()!.sub).toBe(who.id);
      expect(await h.db.dataSource.query(`SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL`, [who.id])).toHaveLength(1);
    });
  });

  describe('introspection and revocation across clients', () => {
    it("another client learns nothing about an app's tokens and cannot revoke them", async () => {
      const [owner, other] = [await app('token-owner'), await app('token-other')];
      const who = await person();
      const { tokens } = await authorize(h, new WebClient(h.app.url), owner, who);

      for (const token of [tokens.access_token, tokens.refresh_token!]) {
        const answer = await client.tokenIntrospection(other.config, token);
        expect(answer).toEqual({ active: false });
      }
      // The token's own client still learns about it.
      expect(await client.tokenIntrospection(owner.config, tokens.access_token)).toMatchObject({
        active: true,
        sub: who.id,
        client_id: owner.clientId,
      });

      // Revocation by another client is answered like any other (RFC 7009) and changes nothing.
      await client.tokenRevocation(other.config, tokens.access_token);
      await client.tokenRevocation(other.config, tokens.refresh_token!);
      expect(await accessTokenWorks(tokens.access_token)).toBe(true);
      expect((await client.refreshTokenGrant(owner.config, tokens.refresh_token!)).claims()!.sub).toBe(who.id);
    });
  });

  describe('authorization and end-session requests by POST', () => {
    /** A form post as a relying app's page sends it, cross-site: no cookie of Gatehouse's goes with it (SameSite=Lax). */
    async function crossSitePost(endpoint: string, params: URLSearchParams, contentType = 'application/x-www-form-urlencoded') {
      const response = await fetch(`${h.issuer}${endpoint}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'Content-Type': contentType, Origin: 'https://rp.example.test' },
        body: params.toString(),
      });
      return { status: response.status, location: response.headers.get('location'), html: await response.text() };
    }

    it('answers a POST authorization request as the same GET, so sign-in and single sign-on work as usual', async () => {
      const rp = await app('post-auth');
      const who = await person();
      const web = new WebClient(h.app.url);
      const request = await authorizationRequest(rp);

      const posted = await crossSitePost('/oidc/auth', request.url.searchParams);
      expect(posted.status).toBe(303);
      const next = new URL(posted.location!, h.issuer);
      expect(next.pathname).toBe('/oidc/auth');
      expect([...next.searchParams].sort()).toEqual([...request.url.searchParams].sort());
      // The browser follows by GET, with its cookies: the sign-in, then the code.
      landedOnPage(await browse(web, next), 'Password');
      const callback = landedOnCallback(await signIn(h, web, who));
      expect((await client.authorizationCodeGrant(rp.config, callback, request.checks)).claims()!.sub).toBe(who.id);

      // Signed in: a POST with prompt=none is answered by single sign-on.
      const silent = await authorizationRequest(rp, { prompt: 'none' });
      const again = await crossSitePost('/oidc/auth', silent.url.searchParams);
      expect(again.status).toBe(303);
      const code = landedOnCallback(await browse(web, new URL(again.location!, h.issuer)));
      expect((await client.authorizationCodeGrant(rp.config, code, silent.checks)).claims()!.sub).toBe(who.id);
    });

    it('answers a POST end-session request as the same GET: the sign-out page, then the sign-out', async () => {
      const rp = await app('post-logout');
      const who = await person();
      const web = new WebClient(h.app.url);
      const { tokens } = await authorize(h, web, rp, who);

      const posted = await crossSitePost(
        '/oidc/session/end',
        new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye' }),
      );
      expect(posted.status).toBe(303);
      expect(new URL(posted.location!, h.issuer).pathname).toBe('/oidc/session/end');
      const confirm = expectPage(await web.get(posted.location!, false), 200, 'Sign out of Gatehouse?');
      const done = await web.request(
        'POST',
        '/oidc/session/end/confirm',
        new URLSearchParams({ xsrf: xsrfOf(confirm), logout: 'gatehouse' }),
        false,
      );
      expect(done.location).toBe(`${POST_LOGOUT_URI}?state=bye`);
      expect(await h.db.dataSource.query(`SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL`, [who.id])).toEqual([]);
      expect(await accessTokenWorks(tokens.access_token)).toBe(false);
    });

    it('refuses a body that is not a form, or too large, with an error page', async () => {
      const rp = await app('post-bad');
      const request = await authorizationRequest(rp);
      const json = await crossSitePost('/oidc/auth', request.url.searchParams, 'application/json');
      expect(json.status).toBe(400);
      expect(text(json.html)).toContain('application/x-www-form-urlencoded');
      expect(json.location).toBeNull();
      const huge = new URLSearchParams(request.url.searchParams);
      huge.set('login_hint', 'x'.repeat(BROWSER_POST_LIMIT));
      const tooLarge = await crossSitePost('/oidc/auth', huge);
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.location).toBeNull();
    });
  });

  describe('PKCE', () => {
    /** An authorization request without PKCE (state and nonce only). */
    function withoutPkce(rp: RelyingApp): { url: URL; checks: { expectedState: string; expectedNonce: string } } {
      const checks = { expectedState: client.randomState(), expectedNonce: client.randomNonce() };
      const url = client.buildAuthorizationUrl(rp.config, {
        redirect_uri: rp.redirectUri,
        scope: 'openid profile',
        state: checks.expectedState,
        nonce: checks.expectedNonce,
      });
      return { url, checks };
    }

    it('is required of a confidential client by default', async () => {
      const rp = await app('pkce-default');
      const who = await person();
      const web = new WebClient(h.app.url);
      await authorize(h, web, rp, who);
      const refused = landedOnCallback(await browse(web, withoutPkce(rp).url));
      expect(refused.searchParams.get('error')).toBe('invalid_request');
      expect(refused.searchParams.get('error_description')).toMatch(/PKCE/u);
      expect(refused.searchParams.get('code')).toBeNull();
    });

    it('may be left out by a client registered with PKCE optional; one that is sent is still checked', async () => {
      const rp = await app('pkce-optional', { pkceRequired: false });
      const who = await person();
      const web = new WebClient(h.app.url);
      const plain = withoutPkce(rp);
      landedOnPage(await browse(web, plain.url), 'Password');
      const callback = landedOnCallback(await signIn(h, web, who));
      expect((await client.authorizationCodeGrant(rp.config, callback, plain.checks)).claims()!.sub).toBe(who.id);

      const request = await authorizationRequest(rp);
      const code = landedOnCallback(await browse(web, request.url));
      await expect(
        client.authorizationCodeGrant(rp.config, code, { ...request.checks, pkceCodeVerifier: client.randomPKCECodeVerifier() }),
      ).rejects.toMatchObject({ error: 'invalid_grant' });
    });

    it('client:create requires it unless --pkce-optional, stores the choice, audits it and refuses it for a public client', async () => {
      const cli = (...argv: string[]) => runCliAgainst(h.db.url, dataDir, ...argv);
      const help = await cli('client:create', '--help');
      expect(help.code).toBe(0);
      expect(help.out.join('\n')).toContain('--pkce-optional');

      const uri = ['--redirect-uri', 'https://p.example.com/cb'];
      const strict = JSON.parse((await cli('client:create', '--name', 'Strict', ...uri)).out[0]!) as { client_id: string };
      const optional = JSON.parse((await cli('client:create', '--name', 'Legacy RP', ...uri, '--pkce-optional')).out[0]!) as {
        client_id: string;
      };
      const rows = await h.db.dataSource.query<Array<{ client_id: string; pkce_required: boolean }>>(
        `SELECT client_id, pkce_required FROM oidc_clients WHERE client_id = ANY($1) ORDER BY name DESC`,
        [[strict.client_id, optional.client_id]],
      );
      expect(rows).toEqual([
        { client_id: strict.client_id, pkce_required: true },
        { client_id: optional.client_id, pkce_required: false },
      ]);
      const [audit] = await h.db.dataSource.query(
        `SELECT details FROM audit_events WHERE event_type = 'client.created' AND subject_id = $1`,
        [optional.client_id],
      );
      expect(audit.details.pkce_required).toBe(false);

      const publicRun = await cli('client:create', '--name', 'Bad', '--public', ...uri, '--pkce-optional');
      expect(publicRun.code).toBe(1);
      expect(publicRun.err).toEqual([expect.stringMatching(/public client cannot make PKCE optional/u)]);
      await expect(
        h.db.dataSource.query(`UPDATE oidc_clients SET public = true, client_secret_hash = NULL WHERE client_id = $1`, [
          optional.client_id,
        ]),
      ).rejects.toThrow(/oidc_clients_public_pkce/u);
    });
  });
});
