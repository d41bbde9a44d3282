/**
 * OpenID Connect benchmark (`npm run bench:oidc`); see docs/benchmarks.md.
 *
 * 1. Starts a FRESH database (a new `gh_bench_<random>` database on DATABASE_URL's server,
 *    or embedded PostgreSQL under a new DATA_DIR in bench/.work/), applies the migrations,
 *    seeds one organization and BENCH_USERS users (password hashes with the app's argon2id
 *    parameters) and registers a confidential client with the ClientRegistry (what
 *    `client:create` runs): the default grants and scopes, one https redirect URI.
 * 2. Starts a small SMTP server and the IdP in this process (`createIdpApp`, its JSON log
 *    lines counted and dropped), and, in the same process, a BARE oidc-provider: its default
 *    in-memory adapter (with a larger store than its 1,000-entry LRU, so that nothing in use
 *    is dropped), in a plain node:http server, configured like Gatehouse's (scopes,
 *    claims, an RS256 2048-bit key, PKCE, refresh-token rotation, TTLs, features, routes)
 *    with one static client and an interaction handler that signs the user in at once.
 * 3. Signs each user in to Gatehouse through the real pages, in one browser each (cookie
 *    jar): authorization request -> interaction -> sign-in page (password) -> one-time code
 *    page (code read from the mail) -> back through the interaction to the redirect URI.
 *    The bare provider's browsers sign in through its interaction. From then on each
 *    authorization request is answered by single sign-on with a code, as a relying app
 *    sees it when the user is already signed in.
 * 4. Measures, each with 2 and 16 concurrent clients (fetch with keep-alive, in a worker
 *    thread: bench/oidc.clients.ts), Gatehouse and the bare provider in alternating slices:
 *    - discovery (GET /.well-known/openid-configuration) and JWKS (GET /oidc/jwks): time
 *      windows of BENCH_SECONDS/4 after a 0.75 s warm-up, only answers inside counted;
 *    - token (authorization_code with PKCE, client_secret_basic): per slice, BENCH_CODES
 *      codes are first prepared by single sign-on (not timed; codes live 60 s), then the
 *      clients redeem them all, timed from the first request to the last answer;
 *    - refresh (refresh_token grant, rotation): time windows; every client follows its own
 *      refresh-token chains (each answer's refresh token is that chain's next request).
 *
 * Prints rates, p50/p99 latency, the ratio Gatehouse/bare against the targets (token and
 * refresh >= 50%, discovery and JWKS >= 90%), the CPU each part used and the SQL Gatehouse
 * sent per request. Never fails on a figure: it exits non-zero only when something breaks
 * (a request answered wrongly, a sign-in or a setup step that fails).
 *
 * Environment: DATABASE_URL (optional), BENCH_SECONDS (8 per time-bounded scenario and
 * target), BENCH_CODES (800 per token slice), BENCH_USERS (64),
 * BENCH_ENDPOINTS (a comma-separated subset of discovery,jwks,token,refresh),
 * BENCH_CPU_PROFILE=<dir> (V8 CPU profiles of the server thread, one per slice).
 */
import 'reflect-metadata';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Provider, { interactionPolicy, type Adapter, type Configuration } from 'oidc-provider';
import { AuditService } from '#libs/audit';
import { loadConfig } from '#libs/config';
import { SystemClock } from '#libs/core';
import { PasswordHasher } from '#libs/identity';
import { DISCOVERY_PATH, OIDC_PREFIX, TTL } from '#libs/oidc';
import { ClientRegistry, OIDC_SCOPES } from '#libs/oidc-store';
import { LOA1, LOA2 } from '#libs/sessions';
import {
  Browser,
  codeFrom,
  csrfOf,
  authorizationRequest,
  type Endpoint,
  type OidcJob,
  type RunResult,
  type Target,
  type TargetName,
} from './oidc.clients.js';
import {
  MailCatcher,
  eachLimited,
  fmt,
  migratedDatabase,
  ms,
  onCleanUp,
  percentile,
  positiveInt,
  printHeader,
  runBenchmark,
  seconds,
  seedOrganization,
  seedUsers,
  table,
  workDirectory,
  type BenchUser,
} from './support/harness.js';
import {
  ClientThread,
  merge,
  othersOf,
  postmasterPid,
  profiled,
  sample,
  sqlPerOp,
  usageCells,
  usageOverWindow,
  usageSince,
  windowAfter,
  type Measured,
  type Probe,
} from './support/measure.js';
import { startIdp } from './support/idp.js';

/** Measured seconds per time-bounded scenario and target, in SLICES alternating slices, each after a warm-up. */
const SECONDS = positiveInt(process.env.BENCH_SECONDS, 8);
const SLICES = 4;
const WARMUP_MS = 750;
/** Codes redeemed per target before the first measured slice (not measured). */
const WARMUP_CODES = 400;
/** Codes per token slice; they live 60 s, so preparing them (not timed) must take well under that. */
const CODES = positiveInt(process.env.BENCH_CODES, 800);
/**
 * Entries the bare provider's in-memory adapter keeps. By default each provider gets an LRU
 * of 1,000 entries, which drops codes still waiting to be redeemed once a few hundred are
 * outstanding; the same adapter class gets a store of the same kind large enough that
 * nothing is dropped.
 */
const MEMORY_ENTRIES = 1_000_000;
const CONCURRENCY = [2, 16] as const;
/** Users, each with one browser per provider and one refresh-token chain (so one grant) per browser; at least one chain per client. */
const USERS = Math.max(CONCURRENCY[CONCURRENCY.length - 1]!, positiveInt(process.env.BENCH_USERS, 64));
const PROFILE_DIR = process.env.BENCH_CPU_PROFILE ? path.resolve(process.env.BENCH_CPU_PROFILE) : undefined;
const PASSWORD = 'Correct-Horse-Battery-42';
const REDIRECT_URI = 'https://rp.bench.example/callback';
const SCOPE = 'openid profile email gatehouse';
const ALL_ENDPOINTS: readonly Endpoint[] = ['discovery', 'jwks', 'token', 'refresh'];
/** BENCH_ENDPOINTS=token,refresh measures only those (for a closer look); all four by default. */
const ENDPOINTS = ALL_ENDPOINTS.filter((e) => !process.env.BENCH_ENDPOINTS || process.env.BENCH_ENDPOINTS.split(',').includes(e));
/** Gatehouse's throughput as a share of the bare provider's (from the issue). */
const TARGET: Record<Endpoint, number> = { discovery: 0.9, jwks: 0.9, token: 0.5, refresh: 0.5 };
const LABEL: Record<Endpoint, string> = {
  discovery: 'discovery',
  jwks: 'JWKS',
  token: 'token (authorization_code)',
  refresh: 'refresh (rotation)',
};

type Clients = ClientThread<OidcJob, RunResult>;

interface Measurement extends Measured {
  target: TargetName;
  endpoint: Endpoint;
}

/** The provider's paths, the same for both (Gatehouse's under OIDC_PREFIX, discovery at the well-known path). */
function targetAt(name: TargetName, base: string, clientId: string, clientSecret: string): Target {
  return {
    name,
    base,
    discoveryPath: DISCOVERY_PATH,
    jwksPath: `${OIDC_PREFIX}/jwks`,
    tokenPath: `${OIDC_PREFIX}/token`,
    authorizationPath: `${OIDC_PREFIX}/auth`,
    clientId,
    clientSecret,
    redirectUri: REDIRECT_URI,
    scope: SCOPE,
  };
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

// ---------------------------------------------------------------------------------------
// The bare oidc-provider, configured like Gatehouse's (libs/oidc/src/provider.ts)
// ---------------------------------------------------------------------------------------

interface BareProvider {
  base: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

/**
 * oidc-provider with its default (in-memory) adapter in a plain node:http server. What
 * Gatehouse adds is left out on purpose: Express, Nest, helmet, request logging, the
 * PostgreSQL adapter, clients from the database, the Gatehouse session checks. Everything
 * that shapes the protocol work is the same: scopes, claims, acr values, PKCE, auth
 * methods, algorithms, features, TTLs, refresh-token rotation, routes.
 */
async function startBareProvider(users: number): Promise<BareProvider> {
  // The default adapter class (what oidc-provider uses when none is configured), with a larger store of the same LRU kind.
  const [adapterModule, lruModule]: string[] = ['oidc-provider/lib/adapters/memory_adapter.js', 'oidc-provider/lib/helpers/lru.js'];
  const { default: MemoryAdapter } = (await import(adapterModule!)) as { default: new (model: string, store: unknown) => Adapter };
  const { default: LRU } = (await import(lruModule!)) as { default: new (o: { maxSize: number }) => unknown };
  const store = new LRU({ maxSize: MEMORY_ENTRIES });
  const server = createServer();
  const base = `http://127.0.0.1:${await listen(server)}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  const key = { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' };
  const clientId = randomBytes(16).toString('base64url');
  const clientSecret = randomBytes(32).toString('base64url');
  const accounts = Array.from({ length: users }, (_, i) => `bare-${i + 1}`);
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, secure: false };

  const configuration: Configuration = {
    adapter: (model: string) => new MemoryAdapter(model, store),
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        client_name: 'Bench relying app',
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [REDIRECT_URI],
        post_logout_redirect_uris: [],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        scope: OIDC_SCOPES.join(' '),
        application_type: 'web',
      },
    ],
    async findAccount(_ctx, sub) {
      const n = accounts.indexOf(sub) + 1;
      if (n === 0) return undefined;
      return {
        accountId: sub,
        claims: () => ({
          sub,
          name: 'Grace Hopper',
          given_name: 'Grace',
          family_name: 'Hopper',
          email: `${sub}@bench.example.com`,
          email_verified: true,
          enterprise_id: `bench.bare.${n}`,
          organization: 'bench',
        }),
      };
    },
    claims: {
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      profile: ['name', 'given_name', 'family_name'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
      gatehouse: ['enterprise_id', 'organization'],
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      iss: null,
    },
    scopes: [...OIDC_SCOPES],
    acrValues: [LOA1, LOA2],
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'RS256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      idTokenSigningAlgValues: ['RS256'],
      userinfoSigningAlgValues: ['RS256'],
      introspectionSigningAlgValues: ['RS256'],
      authorizationSigningAlgValues: ['RS256'],
    },
    allowOmittingSingleRegisteredRedirectUri: false,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      claimsParameter: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async (_ctx, client) => client.clientAuthMethod !== 'none' },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      rpInitiatedLogout: { enabled: true },
      pushedAuthorizationRequests: { enabled: false },
      resourceIndicators: { enabled: false },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: false },
    },
    interactions: { policy: interactionPolicy.base(), url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: {
      names: { session: 'gh_oidc', interaction: 'gh_oidc_interaction', resume: 'gh_oidc_resume' },
      long: cookieOptions,
      short: cookieOptions,
      keys: [randomBytes(32).toString('base64url')],
    },
    jwks: { keys: [key] },
    ttl: {
      AccessToken: TTL.AccessToken,
      ClientCredentials: TTL.ClientCredentials,
      AuthorizationCode: TTL.AuthorizationCode,
      IdToken: TTL.IdToken,
      Interaction: TTL.Interaction,
      RefreshToken: (ctx) => ctx?.oidc?.entities.RotatedRefreshToken?.remainingTTL ?? TTL.RefreshToken,
      Session: 12 * 60 * 60,
      Grant: 12 * 60 * 60,
    },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    routes: {
      authorization: `${OIDC_PREFIX}/auth`,
      end_session: `${OIDC_PREFIX}/session/end`,
      introspection: `${OIDC_PREFIX}/token/introspection`,
      jwks: `${OIDC_PREFIX}/jwks`,
      revocation: `${OIDC_PREFIX}/token/revocation`,
      token: `${OIDC_PREFIX}/token`,
      userinfo: `${OIDC_PREFIX}/me`,
    },
  };
  const provider = new Provider(base, configuration);
  const callback = provider.callback();
  let nextAccount = 0;

  /** Signs the browser in as the next account and grants the requested scopes (first-party SSO, no consent screen). */
  const interaction = async (req: IncomingMessage, res: ServerResponse) => {
    const details = await provider.interactionDetails(req, res);
    const accountId = accounts[nextAccount++ % accounts.length]!;
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId, acr: LOA2, amr: ['pwd', 'otp'], remember: false }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith('/interaction/')) return void callback(req, res);
    interaction(req, res).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(error instanceof Error ? error.message : String(error));
    });
  });
  return {
    base,
    clientId,
    clientSecret,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------
// Gatehouse sign-in through the hosted pages (not timed)
// ---------------------------------------------------------------------------------------

/**
 * One browser signed in to Gatehouse the way a person does from a relying app: the
 * authorization request leads to the sign-in page, then the one-time code page, then back
 * to the app with a code. Returns the browser's cookies (the Gatehouse and provider sessions).
 */
async function signInThroughPages(t: Target, mail: MailCatcher, user: BenchUser): Promise<Array<[string, string]>> {
  const browser = new Browser(t.base);
  const request = authorizationRequest(t);
  const page = (landing: Awaited<ReturnType<Browser['navigate']>>, contains: string) => {
    if (landing.page?.status === 200 && landing.page.html.includes(contains)) return landing.page;
    throw new Error(
      `sign-in of ${user.enterpriseId}: expected a page with "${contains}", got ` +
        (landing.page ? `HTTP ${landing.page.status} at ${landing.page.url}` : `the callback ${landing.callback.search.slice(0, 200)}`),
    );
  };
  const signInPage = page(await browser.navigate(request.url, t.redirectUri), 'Password');
  const seen = mail.count(user.email);
  const otpPage = page(
    await browser.navigate('/signin', t.redirectUri, { csrf: csrfOf(signInPage), user_id: user.enterpriseId, password: PASSWORD }),
    'One-time code',
  );
  const code = await mail.code(user.email, seen);
  const landing = await browser.navigate('/signin/otp', t.redirectUri, { csrf: csrfOf(otpPage), action: 'verify', code });
  if (!landing.callback) page(landing, 'never');
  codeFrom(landing.callback!, request);
  return [...browser.cookies];
}

// ---------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------

function measurement(target: TargetName, endpoint: Endpoint, concurrency: number, result: RunResult, usage: Measured['usage']) {
  return { target, endpoint, concurrency, ...result, usage } satisfies Measurement;
}

/** A failed setup step stops the run: the figures would not mean anything. */
function checked(what: string, result: RunResult): RunResult {
  if (result.failed > 0) throw new Error(`${what}: ${result.failed} failed: ${result.errors.join(' | ')}`);
  return result;
}

/** One slice of one endpoint against one target. */
async function slice(
  probe: Probe,
  clients: Clients,
  target: TargetName,
  endpoint: Endpoint,
  concurrency: number,
  name: string,
): Promise<Measurement> {
  if (endpoint === 'token') {
    checked(`preparing codes (${target})`, await clients.run({ kind: 'prepare-codes', target, n: CODES }));
    return await profiled(PROFILE_DIR, name, async () => {
      const before = sample(probe);
      const result = await clients.run({ kind: 'redeem', target, concurrency });
      return measurement(target, endpoint, concurrency, result, usageSince(probe, before));
    });
  }
  return await profiled(PROFILE_DIR, name, async () => {
    const window = windowAfter(WARMUP_MS, (SECONDS * 1000) / SLICES);
    const usage = usageOverWindow(probe, window.windowStart, window.windowEnd);
    const result = await clients.run({ kind: 'measure', target, endpoint, concurrency, ...window });
    return measurement(target, endpoint, concurrency, result, await usage);
  });
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

const rate = (m: Measured) => m.completed / (m.elapsedMs / 1000);
const latency = (m: Measured, p: number) =>
  ms(
    percentile(
      [...m.latenciesMs].sort((a, b) => a - b),
      p,
    ),
  );
/** Milliseconds of CPU per request: cores × seconds / requests. */
const cpuPerOp = (cores: number | null, m: Measured) => (cores === null ? 'n/a' : ms((cores * m.elapsedMs) / Math.max(1, m.completed)));

function printReport(all: Measurement[]): void {
  const find = (target: TargetName, endpoint: Endpoint, concurrency: number) =>
    all.find((m) => m.target === target && m.endpoint === endpoint && m.concurrency === concurrency);
  console.log('\nResults: Gatehouse against a bare oidc-provider (in-memory adapter), same process, alternating slices');
  const rows: string[][] = [];
  for (const concurrency of CONCURRENCY) {
    for (const endpoint of ENDPOINTS) {
      const g = find('gatehouse', endpoint, concurrency);
      const b = find('bare', endpoint, concurrency);
      if (!g || !b) continue;
      const share = rate(g) / rate(b);
      rows.push([
        LABEL[endpoint],
        String(concurrency),
        fmt(rate(g), 1),
        latency(g, 50),
        latency(g, 99),
        fmt(rate(b), 1),
        latency(b, 50),
        latency(b, 99),
        `${fmt(share * 100, 1)}%`,
        `>= ${TARGET[endpoint] * 100}%: ${share >= TARGET[endpoint] ? 'met' : 'MISSED'}`,
      ]);
    }
  }
  console.log(table(['Endpoint', 'Clients', 'Gatehouse/s', 'p50', 'p99', 'bare/s', 'p50', 'p99', 'Gatehouse/bare', 'Target'], rows));

  console.log(
    '\nCPU during each run, in cores (2 = both vCPUs busy), and per request. Server thread: the main thread, where both ' +
      'providers run. Other threads: V8 GC and compiler threads, the libuv pool. Others: the rest of the machine (other ' +
      'processes, kernel); more than ~0.1 means the run was disturbed. SQL/op: statements Gatehouse sent per request; ' +
      'SQL ms/op: their summed time from send to answer.',
  );
  console.log(
    table(
      [
        'Endpoint',
        'Target',
        'Clients',
        'Machine',
        'Server thread',
        'ELU',
        'Other threads',
        'Clients thread',
        'PostgreSQL',
        'Others',
        'Server ms/op',
        'PG ms/op',
        'SQL/op',
        'SQL ms/op',
      ],
      all.map((m) => {
        const u = m.usage;
        const sql = sqlPerOp(m);
        return [
          LABEL[m.endpoint],
          m.target,
          String(m.concurrency),
          ...usageCells(u),
          cpuPerOp(u.main, m),
          cpuPerOp(u.postgres, m),
          fmt(sql.statements, 1),
          fmt(sql.ms, 1),
        ];
      }),
    ),
  );
  for (const m of all) {
    if (m.target !== 'gatehouse' || m.concurrency !== CONCURRENCY[CONCURRENCY.length - 1] || m.usage.statements.size === 0) continue;
    const statements = [...m.usage.statements]
      .sort((a, b) => b[1].count - a[1].count || b[1].ms - a[1].ms)
      .map(([sql, s]) => [sql, fmt(s.count / Math.max(1, m.completed), 2), ms(s.ms / s.count)]);
    console.log(`\nSQL per request, Gatehouse ${LABEL[m.endpoint]}, ${m.concurrency} clients (mean time from send to answer)`);
    console.log(table(['Statement', 'Per request', 'Mean'], statements));
  }
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { dataDir } = await workDirectory();
  printHeader('OpenID Connect benchmark');
  console.log(
    `  plan:      discovery, JWKS and refresh ${SECONDS} s per target, ${SLICES} slices each; token ${SLICES} × ${CODES} codes per target; ` +
      `clients ${CONCURRENCY.join(' and ')}; ${USERS} users`,
  );

  // 1. Clients thread, database, mail.
  let t = performance.now();
  const clientsStarting = ClientThread.start<OidcJob, RunResult>(new URL('./oidc.clients.js', import.meta.url));
  const { db, ds, applied } = await migratedDatabase(dataDir, 4);
  const mail = await MailCatcher.start();
  onCleanUp(async () => await mail.stop());
  const clients = await clientsStarting;
  onCleanUp(async () => await clients.stop());
  console.log(`  database:  ${db.mode}`);
  console.log(`  postgres:  ${db.serverVersion}; ${applied.length} migration(s) applied (${seconds(t)})`);

  // 2. Gatehouse: its issuer is the address it listens on (a port found free just before).
  const reserved = createServer();
  const port = await listen(reserved);
  await new Promise<void>((resolve) => reserved.close(() => resolve()));
  const issuer = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    NODE_ENV: 'development',
    DATA_DIR: dataDir,
    DATABASE_URL: db.url,
    SMTP_URL: mail.url,
    LOG_LEVEL: 'info',
    ISSUER: issuer,
    PORT: String(port),
  });
  const { profile, logLines } = await startIdp(config, db.url, port);
  console.log(`  gatehouse: ${issuer}, log level ${config.logLevel} (lines dropped)`);

  // 3. The bare provider.
  const bare = await startBareProvider(USERS);
  onCleanUp(async () => await bare.close());
  console.log(`  bare:      ${bare.base}, oidc-provider with its in-memory adapter, node:http`);

  // 4. Organization, users, client; each user signs in to Gatehouse through the pages.
  t = performance.now();
  const clock = new SystemClock();
  const registry = new ClientRegistry(ds, clock, new AuditService(ds, clock));
  const registered = await registry.create({ name: 'Bench relying app', redirectUris: [REDIRECT_URI] }, { type: 'operator', id: 'bench' });
  const gatehouse = targetAt('gatehouse', issuer, registered.clientId, registered.clientSecret!);
  const organizationId = await seedOrganization(ds, 'bench');
  const users = await seedUsers(ds, organizationId, new PasswordHasher(config.argon2), PASSWORD, 'oidc', USERS);
  const browsers: Array<Array<[string, string]>> = [];
  await eachLimited(users, 4, async (user, i) => {
    browsers[i] = await signInThroughPages(gatehouse, mail, user);
  });
  await clients.run({ kind: 'setup', target: gatehouse, browsers });
  await clients.run({
    kind: 'setup',
    target: targetAt('bare', bare.base, bare.clientId, bare.clientSecret),
    browsers: users.map(() => []),
  });
  await ds.query('ANALYZE');
  console.log(`  sign-in:   ${fmt(users.length)} users signed in to Gatehouse through the pages (${seconds(t)})`);

  const postmaster = await postmasterPid(ds);
  const probe: Probe = { postmaster, clientThread: clients.threadId, profile };
  const all: Measurement[] = [];

  // Warm-up, not measured: the first slice of a run otherwise also warms up what the others find warm,
  // and only that slice's target pays for it. For discovery and JWKS, the clients' thread (its JIT), which
  // is what limits them; for token and refresh, both providers' code paths (JIT) and, for Gatehouse, the
  // pool's connections (each prepares its statements on first use, and PostgreSQL settles on a plan for
  // them after a few runs). Redeeming codes runs the statements a refresh runs too.
  const warmed = ENDPOINTS.filter((e): e is 'discovery' | 'jwks' => e === 'discovery' || e === 'jwks');
  for (const endpoint of warmed) {
    for (const target of ['gatehouse', 'bare'] as const) {
      checked(
        `warm-up (${target})`,
        await clients.run({ kind: 'measure', target, endpoint, concurrency: 2, ...windowAfter(0, WARMUP_MS) }),
      );
    }
  }
  const warmTokens = ENDPOINTS.some((e) => e === 'token' || e === 'refresh');
  if (warmTokens) {
    for (const target of ['gatehouse', 'bare'] as const) {
      checked(`warm-up codes (${target})`, await clients.run({ kind: 'prepare-codes', target, n: WARMUP_CODES }));
      checked(`warm-up (${target})`, await clients.run({ kind: 'redeem', target, concurrency: CONCURRENCY[CONCURRENCY.length - 1]! }));
    }
  }
  if (warmed.length > 0 || warmTokens) {
    const parts = [
      ...(warmed.length > 0 ? [`${warmed.join(', ')} ${WARMUP_MS} ms each`] : []),
      ...(warmTokens ? [`${fmt(WARMUP_CODES)} codes redeemed`] : []),
    ];
    console.log(`  warm-up:   ${parts.join('; ')}, both targets (not measured)`);
  }

  console.log('\nmeasuring (per slice: Gatehouse/s and bare/s)');
  for (const concurrency of CONCURRENCY) {
    for (const endpoint of ENDPOINTS) {
      if (endpoint === 'refresh') {
        // Fresh chains, one per browser (so one grant each), just before they are used.
        for (const target of ['gatehouse', 'bare'] as const) {
          checked(`refresh chains (${target})`, await clients.run({ kind: 'prepare-chains', target }));
        }
      }
      const slices: Record<TargetName, Measurement[]> = { gatehouse: [], bare: [] };
      const line: string[] = [];
      for (let s = 0; s < SLICES; s++) {
        // Alternating which goes first, so that neither always runs right after the other's load.
        const order: TargetName[] = s % 2 === 0 ? ['gatehouse', 'bare'] : ['bare', 'gatehouse'];
        for (const target of order) {
          slices[target].push(await slice(probe, clients, target, endpoint, concurrency, `${endpoint}-${concurrency}-${target}-${s + 1}`));
        }
        line.push(`${fmt(rate(slices.gatehouse[s]!), 0)}/${fmt(rate(slices.bare[s]!), 0)}`);
      }
      const g = merge(slices.gatehouse);
      const b = merge(slices.bare);
      all.push(g, b);
      const failures = [g, b].filter((m) => m.failed > 0).map((m) => `${m.target}: ${m.failed} FAILED: ${m.errors.join(' | ')}`);
      console.log(
        `  ${LABEL[endpoint].padEnd(26)} ${String(concurrency).padStart(2)} clients: Gatehouse ${fmt(rate(g), 1)}/s, bare ${fmt(rate(b), 1)}/s ` +
          `= ${fmt((rate(g) / rate(b)) * 100, 1)}%  (slices ${line.join(', ')})${failures.length ? `; ${failures.join('; ')}` : ''}`,
      );
    }
  }

  printReport(all);
  const disturbed = Math.max(0, ...all.map((m) => othersOf(m.usage) ?? 0));
  if (disturbed > 0.15) {
    console.log(
      `\n  WARNING: other processes used up to ${fmt(disturbed, 2)} cores during a run; the figures are lower than on a quiet machine.`,
    );
  }
  console.log(`\n  ${fmt(logLines())} log lines written by Gatehouse (dropped); ${fmt(mail.received)} mails received`);
  if (postmaster === null) console.log('  PostgreSQL CPU: n/a (the server is not a local process)');
  else if (process.env.DATABASE_URL) console.log('  PostgreSQL CPU: every backend of that server, not only the bench database');

  const broken = all.filter((m) => m.failed > 0);
  if (broken.length > 0) {
    console.error(
      `\nsome requests failed:\n  - ${broken.map((m) => `${m.target} ${LABEL[m.endpoint]} (${m.concurrency}): ${m.errors.join(' | ')}`).join('\n  - ')}`,
    );
    process.exitCode = 1;
  }
}

await runBenchmark(main);
