import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { jwtVerify, createRemoteJWKSet } from 'jose';
import * as client from 'openid-client';
import { testSecrets } from '#libs/config';
import { LOA2 } from '#libs/sessions';
import { codeMails, expectPage, nextEmailCode } from '../../support/journeys.js';
import {
  authorizationRequest,
  freePort,
  nextLocation,
  nodeRouter,
  people,
  registerApp,
  startOidcHarness,
  type OidcHarness,
  type RelyingApp,
} from '../../support/oidc.js';
import { WebClient, seedOrganization } from '../../support/web.js';

const ENTRY = path.resolve('dist/apps/idp/src/main.js');

/** The secret a deployment sets in OTP_SECRET, COOKIE_SECRET and KEY_ENCRYPTION_KEY; testSecrets(SECRET) derives the same keys. */
const SECRET = 'process-test-secret-0123456789-abcdefghijklmnop';

/**
 * Two IdP nodes in two operating-system processes: this test's process (node A, the harness)
 * and the built server (`dist/apps/idp/src/main.js`, what `npm start` runs for the IdP) as
 * node B, both serving one issuer from one database, with the same secrets from the
 * environment. No state passes between them but PostgreSQL and the browser's cookies.
 */
describe('OpenID Connect on two processes', () => {
  let h: OidcHarness;
  let rp: RelyingApp;
  let person: ReturnType<typeof people>;
  let child: ChildProcess;
  let output = '';
  let dataDir: string;
  const origins = { A: '', B: '' };
  let rpNode: 'A' | 'B' = 'A';

  beforeAll(async () => {
    if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run \`npm run build\` (npm ci does it through "prepare")`);
    h = await startOidcHarness({ secrets: testSecrets(SECRET) });
    const org = await seedOrganization(h.db.dataSource, 'acme');
    person = people(h, org, 'proc');
    rp = await registerApp(h);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gh-process-'));
    const port = await freePort();
    child = spawn(process.execPath, ['--enable-source-maps', ENTRY], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        NODE_ENV: 'test',
        DATABASE_URL: h.db.url,
        ISSUER: h.issuer,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        SMTP_URL: h.mail.url,
        OTP_SECRET: SECRET,
        COOKIE_SECRET: SECRET,
        KEY_ENCRYPTION_KEY: SECRET,
        ARGON2_MEMORY_KIB: '8192',
        ARGON2_TIME_COST: '1',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!output.includes('Gatehouse IdP:')) {
      if (child.exitCode !== null) throw new Error(`node B exited (${child.exitCode}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`node B did not start in time:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    origins.A = h.app.url;
    origins.B = `http://127.0.0.1:${port}`;
    rp.config[client.customFetch] = (url, options) => fetch(onNode(url, rpNode), options);
  }, 90_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await h?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const onNode = (url: string, node: 'A' | 'B'): string => nodeRouter(h.issuer, origins)(url, node);

  it('a flow started in one process completes in the other: pages, code, token, refresh, userinfo, JWKS and reuse detection', async () => {
    const who = await person();
    const web = new WebClient(origins.A);
    const request = await authorizationRequest(rp);

    // Process A: the authorization request. Process B: the interaction and the sign-in page.
    const authorization = await web.get(onNode(request.url.href, 'A'), false);
    const interaction = await web.get(onNode(nextLocation(authorization), 'B'), false);
    expectPage(await web.get(onNode(nextLocation(interaction), 'B'), false), 200, 'Password');

    // Process B takes the password and sends the code by mail; process A verifies the code.
    const seen = codeMails(h.mail, who.email).length;
    expectPage(
      await web.post(onNode('/signin', 'B'), { user_id: who.userId, password: who.password }, false),
      200,
      'We sent a 6-digit code by email',
    );
    const otp = await web.post(onNode('/signin/otp', 'A'), { action: 'verify', code: await nextEmailCode(h.mail, who.email, seen) }, false);

    // Process B answers the interaction; process A resumes the authorization.
    const answered = await web.get(onNode(nextLocation(otp), 'B'), false);
    const resumed = await web.get(onNode(nextLocation(answered), 'A'), false);
    const callback = new URL(nextLocation(resumed));
    expect(callback.origin + callback.pathname).toBe(rp.redirectUri);

    // The code from A is redeemed at B; refresh at A; userinfo at B.
    rpNode = 'B';
    const tokens = await client.authorizationCodeGrant(rp.config, callback, request.checks);
    expect(tokens.claims()).toMatchObject({ sub: who.id, acr: LOA2 });
    rpNode = 'A';
    const refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token!);
    rpNode = 'B';
    expect(await client.fetchUserInfo(rp.config, refreshed.access_token, who.id)).toMatchObject({ sub: who.id, enterprise_id: who.userId });
    for (const node of ['A', 'B'] as const) {
      const jwks = createRemoteJWKSet(new URL(onNode(`${h.issuer}/oidc/jwks`, node)));
      await jwtVerify(tokens.id_token!, jwks, { issuer: h.issuer, audience: rp.clientId });
      await jwtVerify(refreshed.id_token!, jwks, { issuer: h.issuer, audience: rp.clientId });
    }
    // Both processes publish the same discovery document (each from its own provider) for the same host.
    const [discoveryA, discoveryB] = await Promise.all(
      (['A', 'B'] as const).map(
        async (node) =>
          (
            await fetch(onNode(`${h.issuer}/.well-known/openid-configuration`, node), {
              headers: { 'X-Forwarded-Host': 'sso.example.test' },
            })
          ).json() as Promise<Record<string, unknown>>,
      ),
    );
    expect(discoveryA!.token_endpoint).toBe('http://sso.example.test/oidc/token');
    expect(discoveryB).toEqual(discoveryA);

    // Reusing the rotated refresh token at B revokes the family issued at A.
    await expect(client.refreshTokenGrant(rp.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    rpNode = 'A';
    await expect(client.refreshTokenGrant(rp.config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(output).not.toMatch(/"level":50/u);
  });
});
