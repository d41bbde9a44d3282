import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import pg from 'pg';
import proxyaddr from 'proxy-addr';
import * as client from 'openid-client';
import { DIRECT_PATHS, forwardedFor } from '../../../apps/idp/src/direct-lane.js';
import { userWithOrganizationSql } from '#libs/identity';
import { OidcProviderHost, tokenReadSql } from '#libs/oidc';
import { StatementProfile } from '../../../bench/support/measure.js';
import { authorize, people, registerApp, startOidcHarness, type OidcHarness, type RelyingApp } from '../../support/oidc.js';
import { WebClient, seedOrganization } from '../../support/web.js';

/** The security headers helmet sets on every response of the app (their values are the app's settings). */
const SECURITY_HEADERS = [
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
];

interface LogLine {
  msg?: string;
  req?: { id?: string; method?: string; path?: string };
  res?: { statusCode?: number };
}

/**
 * The provider's endpoints for programs (discovery, JWKS, token, introspection, revocation,
 * userinfo) are handed to oidc-provider ahead of Express: they must still carry the app's
 * security headers, request id and access log line, and see only trustworthy X-Forwarded-*.
 */
describe('OpenID Connect: the direct lane for the provider endpoints programs call', () => {
  let h: OidcHarness;
  let rp: RelyingApp;
  let org: string;
  let person: ReturnType<typeof people>;

  const profile = new StatementProfile();
  let uninstall: () => void = () => undefined;

  beforeAll(async () => {
    uninstall = profile.install('gatehouse-idp');
    h = await startOidcHarness();
    org = await seedOrganization(h.db.dataSource, 'acme');
    person = people(h, org, 'lane');
    rp = await registerApp(h);
  });

  afterAll(async () => {
    uninstall();
    await h.close();
  });

  function logLinesFor(requestId: string): LogLine[] {
    return h.app.logs.lines.map((l) => JSON.parse(l) as LogLine).filter((l) => l.req?.id === requestId);
  }

  it('lists exactly the endpoints that take no cookies and render no page', () => {
    expect([...DIRECT_PATHS].sort()).toEqual(
      [
        '/.well-known/openid-configuration',
        '/oidc/jwks',
        '/oidc/me',
        '/oidc/token',
        '/oidc/token/introspection',
        '/oidc/token/revocation',
      ].sort(),
    );
  });

  it('answers discovery and JWKS with the same security headers as the pages, the request id and one access log line', async () => {
    const page = await fetch(`${h.issuer}/signin`);
    await page.arrayBuffer();
    for (const path of ['/.well-known/openid-configuration', '/oidc/jwks']) {
      const requestId = `lane-${path.length}-${Date.now()}`;
      const response = await fetch(`${h.issuer}${path}?probe=secret-looking-value`, { headers: { 'X-Request-Id': requestId } });
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      if (path === '/oidc/jwks') expect(Array.isArray(body.keys)).toBe(true);
      else expect(body.issuer).toBe(h.issuer);
      expect(response.headers.get('x-request-id')).toBe(requestId);
      expect(response.headers.get('x-powered-by')).toBeNull();
      for (const name of SECURITY_HEADERS) expect([name, response.headers.get(name)]).toEqual([name, page.headers.get(name)]);

      await new Promise((resolve) => setImmediate(resolve));
      const lines = logLinesFor(requestId);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ req: { method: 'GET', path }, res: { statusCode: 200 } });
      // The query string is never logged (OAuth puts codes and tokens there).
      expect(h.app.logs.text).not.toContain('secret-looking-value');
    }
  });

  it("answers discovery and JWKS again from the provider's first answer, byte for byte, with CORS for each caller", async () => {
    for (const path of ['/.well-known/openid-configuration', '/oidc/jwks']) {
      const first = await fetch(`${h.issuer}${path}`);
      const firstBody = await first.text();
      const again = await fetch(`${h.issuer}${path}`, { headers: { Origin: 'https://rp.example.test' } });
      expect(again.status).toBe(200);
      expect(await again.text()).toBe(firstBody);
      expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
      expect(again.headers.get('vary')).toBe(first.headers.get('vary'));
      expect(again.headers.get('access-control-allow-origin')).toBe('https://rp.example.test');
      const third = await fetch(`${h.issuer}${path}`);
      expect(third.headers.get('access-control-allow-origin')).toBe('*');
      expect(third.headers.get('x-content-type-options')).toBe('nosniff');
      expect(third.headers.get('x-request-id')).not.toBe(again.headers.get('x-request-id'));
      await third.arrayBuffer();
      // HEAD is the provider's to answer, as before.
      const head = await fetch(`${h.issuer}${path}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
    }
  });

  it("keeps discovery per origin: each caller gets the endpoints at the host it used, never another caller's", async () => {
    const discovery = async (host: string) =>
      (await (await fetch(`${h.issuer}/.well-known/openid-configuration`, { headers: { 'X-Forwarded-Host': host } })).json()) as Record<
        string,
        unknown
      >;
    for (let round = 0; round < 2; round++) {
      for (const host of ['a.example.test', 'b.example.test']) {
        const doc = await discovery(host);
        expect(doc.issuer).toBe(h.issuer);
        expect(doc.token_endpoint).toBe(`http://${host}/oidc/token`);
        expect(doc.jwks_uri).toBe(`http://${host}/oidc/jwks`);
      }
    }
    // A caller that names many hosts still gets the right answer for each, kept or not.
    for (let i = 0; i < 80; i++)
      expect((await discovery(`h${i}.example.test`)).token_endpoint).toBe(`http://h${i}.example.test/oidc/token`);
  });

  it('redeems a code and refreshes through the lane; the access log holds neither code nor tokens', async () => {
    const who = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who);
    expect(tokens.claims()!.sub).toBe(who.id);
    const refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token!);
    const info = await client.fetchUserInfo(rp.config, refreshed.access_token, who.id);
    expect(info.sub).toBe(who.id);

    await new Promise((resolve) => setImmediate(resolve));
    const lines = h.app.logs.lines.map((l) => JSON.parse(l) as LogLine);
    const tokenCalls = lines.filter((l) => l.req?.path === '/oidc/token' && l.res);
    expect(tokenCalls.map((l) => l.res!.statusCode)).toEqual([200, 200]);
    expect(lines.filter((l) => l.req?.path === '/oidc/me' && l.res).map((l) => l.res!.statusCode)).toEqual([200]);
    for (const secret of [tokens.access_token, tokens.refresh_token!, refreshed.access_token, refreshed.refresh_token!]) {
      expect(h.app.logs.text).not.toContain(secret);
    }
  });

  it('stores the access and refresh tokens of a token answer in one statement, before the answer', async () => {
    const who = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who);
    const refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token!);
    // An opaque token's value is its id: each answer wrote its access and refresh token in one transaction (xmin).
    const txOf = async (kind: string, id: string) =>
      (
        await h.db.dataSource.query<Array<{ tx: string }>>(`SELECT xmin::text AS tx FROM oidc_models WHERE kind = $1 AND id = $2`, [
          kind,
          id,
        ])
      )[0]?.tx;
    const second = [await txOf('AccessToken', refreshed.access_token), await txOf('RefreshToken', refreshed.refresh_token!)];
    expect(second[0]).toBeDefined();
    expect(second[1]).toBe(second[0]);
    // The first answer's access token was written by another statement (its refresh token was since consumed).
    expect(await txOf('AccessToken', tokens.access_token)).not.toBe(second[0]);
    // ...and each token works at once, as stored.
    const info = await client.fetchUserInfo(rp.config, refreshed.access_token, who.id);
    expect(info.sub).toBe(who.id);
  });

  it('sends the write of a token answer while the provider is still building it (signing the ID token), not after', async () => {
    const who = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who);
    const events: string[] = [];
    const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = proto.query;
    proto.query = function (this: unknown, ...args: unknown[]): unknown {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: unknown } | undefined)?.text;
      if (typeof text === 'string' && text.trimStart().startsWith('WITH used AS')) events.push('write sent');
      return original.apply(this, args);
    };
    const provider = h.app.app.get(OidcProviderHost).current;
    const built = () => events.push('answer built');
    provider.on('grant.success', built);
    try {
      const refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token!);
      expect(refreshed.claims()!.sub).toBe(who.id);
    } finally {
      proto.query = original;
      provider.off('grant.success', built);
    }
    expect(events).toEqual(['write sent', 'answer built']);
  });

  /** The statements the IdP's pool sent while `work` ran, its background work (outbox, logout queue, keys, purge) left out. */
  async function statementsDuring(work: () => Promise<unknown>): Promise<string[]> {
    const before = profile.snapshot();
    await work();
    const statements: string[] = [];
    for (const [sql, s] of profile.since(before)) {
      if (/outbox_messages|oidc_logout_queue|oidc_signing_keys|ctid|pg_advisory|^(START TRANSACTION|COMMIT|ROLLBACK)$/u.test(sql)) continue;
      for (let i = 0; i < s.count; i++) statements.push(sql.split(' ').slice(0, 3).join(' '));
    }
    return statements.sort();
  }

  it('answers a refresh with two statements and userinfo with one: the token read with its grant, session and account', async () => {
    const who = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who);
    let refreshed: Awaited<ReturnType<typeof client.refreshTokenGrant>> | undefined;
    const refresh = await statementsDuring(async () => {
      refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token!);
    });
    expect(refresh).toEqual([
      'SELECT m.payload, m.consumed_at,', // the refresh token with its grant, its session and its account (claims)
      'WITH used AS', // the old refresh token used up (rotation) and, only if that won, the new access and refresh tokens
    ]);
    const userinfo = await statementsDuring(() => client.fetchUserInfo(rp.config, refreshed!.access_token, who.id));
    expect(userinfo).toEqual(['SELECT m.payload, m.consumed_at,']);
  });

  it('reads the account with the token by its key: the id is worked out once, never matched against every user', async () => {
    const who = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who);
    const plan = (
      await h.db.dataSource.query<Array<{ 'QUERY PLAN': string }>>(`EXPLAIN (VERBOSE) ${tokenReadSql(userWithOrganizationSql)}`, [
        'RefreshToken',
        tokens.refresh_token,
        new Date(),
      ])
    ).map((r) => r['QUERY PLAN']);
    // The node that reads users, and the condition it applies to each row (or to its index).
    const scan = plan.findIndex((line) => / on public\.users u\b/u.test(line));
    expect(scan).toBeGreaterThan(-1);
    const condition = plan.slice(scan + 1).find((line) => /^\s+(Filter|Index Cond): /u.test(line));
    // PostgreSQL 15 names the sub-select's value `$1`, PostgreSQL 18 `(InitPlan 1).col1`.
    expect(condition).toMatch(/\(u\.id = (\$\d+|\(InitPlan \d+\)\.col\d+)\)/u);
    expect(condition).not.toContain('~');
  });

  it('answers with the account as it is when the token is read: changed claims, and nothing for a disabled user', async () => {
    const who = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who);
    await h.db.dataSource.query(`UPDATE users SET first_name = 'Renamed' WHERE id = $1`, [who.id]);
    const refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).toBe(who.id);
    const info = await client.fetchUserInfo(rp.config, refreshed.access_token, who.id);
    expect(info).toMatchObject({ sub: who.id, given_name: 'Renamed', email_verified: true });
    expect(typeof info.organization).toBe('string');
    // Disabled directly in the table (no revocation runs): the account read with the token refuses it.
    await h.db.dataSource.query(`UPDATE users SET status = 'disabled' WHERE id = $1`, [who.id]);
    const refused = await fetch(rp.config.serverMetadata().userinfo_endpoint!, {
      headers: { authorization: `Bearer ${refreshed.access_token}` },
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"');
    await expect(client.refreshTokenGrant(rp.config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('still refuses a refresh token whose session ended or whose grant was revoked', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const first = await authorize(h, web, rp, who);
    await h.db.dataSource.query(`DELETE FROM oidc_models WHERE kind = 'Session' AND payload->>'accountId' = $1`, [who.id]);
    await expect(client.refreshTokenGrant(rp.config, first.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    const second = await authorize(h, new WebClient(h.app.url), rp, who);
    const [grant] = await h.db.dataSource.query<Array<{ grant_id: string }>>(
      `SELECT grant_id FROM oidc_models WHERE kind = 'RefreshToken' AND id = $1`,
      [second.tokens.refresh_token],
    );
    await h.db.dataSource.query(`DELETE FROM oidc_models WHERE kind = 'Grant' AND id = $1`, [grant!.grant_id]);
    await expect(client.refreshTokenGrant(rp.config, second.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('answers server_error and hands out no token when storing them fails', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await authorize(h, web, rp, who);
    const ds = h.db.dataSource;
    await ds.query(`CREATE FUNCTION refuse_refresh_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refresh tokens refused by the test'; END $$`);
    await ds.query(`CREATE TRIGGER refuse_refresh_tokens BEFORE INSERT ON oidc_models
      FOR EACH ROW WHEN (NEW.kind = 'RefreshToken') EXECUTE FUNCTION refuse_refresh_tokens()`);
    try {
      const before = Number(
        (await ds.query<Array<{ n: string }>>(`SELECT count(*) AS n FROM oidc_models WHERE kind = 'AccessToken'`))[0]!.n,
      );
      const failed = await authorize(h, web, rp, who).then(
        () => null,
        (error: unknown) => error as { cause?: unknown },
      );
      // openid-client refuses a 500 answer; the answer itself is the provider's server_error, without tokens.
      const answer = failed?.cause as Response | undefined;
      expect(answer?.status).toBe(500);
      const body = (await answer!.json()) as Record<string, unknown>;
      expect(body).toEqual({ error: 'server_error', error_description: 'oops! something went wrong' });
      // The access token of that answer was not stored either: nothing of it exists anywhere.
      const after = Number(
        (await ds.query<Array<{ n: string }>>(`SELECT count(*) AS n FROM oidc_models WHERE kind = 'AccessToken'`))[0]!.n,
      );
      expect(after).toBe(before);
      expect(h.app.logs.text).toContain('refresh tokens refused by the test');
    } finally {
      await ds.query(`DROP TRIGGER refuse_refresh_tokens ON oidc_models`);
      await ds.query(`DROP FUNCTION refuse_refresh_tokens()`);
    }
    // Once storing works again, so does the token endpoint.
    const { tokens } = await authorize(h, web, rp, who);
    expect(tokens.access_token).toBeTruthy();
  });

  it('leaves every other spelling of these paths to Express, where the provider still answers it', async () => {
    for (const path of ['/oidc/jwks/', '/OIDC/jwks', '/oidc//jwks']) {
      const response = await fetch(`${h.issuer}${path}`);
      await response.arrayBuffer();
      // Not through the lane: Express's stack answered (no crash, a definite status, the same headers).
      expect(response.status).toBeGreaterThanOrEqual(200);
      expect(response.status).toBeLessThan(500);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('refuses bad token requests with the OAuth error, and a body over the provider limit without harm', async () => {
    const wrongType = await fetch(`${h.issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ grant_type: 'authorization_code' }),
    });
    expect(wrongType.status).toBe(400);
    expect(((await wrongType.json()) as { error: string }).error).toBe('invalid_request');

    const huge = await fetch(`${h.issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `grant_type=authorization_code&code=${'a'.repeat(2_000_000)}`,
    });
    expect(huge.status).toBeGreaterThanOrEqual(400);
    expect(huge.status).toBeLessThan(500);
    await huge.arrayBuffer();

    const discovery = await fetch(`${h.issuer}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    await discovery.arrayBuffer();
  });

  describe('forwarded headers', () => {
    const trust = proxyaddr.compile('loopback');

    function requestFrom(remoteAddress: string, headers: Record<string, string>): IncomingMessage {
      const socket = new Socket();
      Object.defineProperty(socket, 'remoteAddress', { value: remoteAddress });
      const req = new IncomingMessage(socket);
      req.headers = { host: 'idp.example.test', ...headers };
      return req;
    }

    it('drops what a peer that is not a trusted proxy claims', () => {
      const req = requestFrom('203.0.113.7', {
        'x-forwarded-for': '198.51.100.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
      });
      forwardedFor(req, trust);
      expect(req.headers['x-forwarded-for']).toBe('203.0.113.7');
      expect(req.headers['x-forwarded-proto']).toBe('http');
      expect(req.headers['x-forwarded-host']).toBe('idp.example.test');
    });

    it('keeps what a trusted proxy (loopback) says, as Express does: the first scheme and host, the nearest untrusted address', () => {
      const req = requestFrom('127.0.0.1', {
        'x-forwarded-for': '198.51.100.1, 203.0.113.9',
        'x-forwarded-proto': 'https, http',
        'x-forwarded-host': 'sso.example.test, inner',
      });
      forwardedFor(req, trust);
      expect(req.headers['x-forwarded-for']).toBe('203.0.113.9');
      expect(req.headers['x-forwarded-proto']).toBe('https');
      expect(req.headers['x-forwarded-host']).toBe('sso.example.test');
    });
  });
});
