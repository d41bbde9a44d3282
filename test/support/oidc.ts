import { createServer } from 'node:net';
import * as client from 'openid-client';
import type { OidcTimers } from '#libs/oidc';
import { AuditService } from '#libs/audit';
import type { Secrets } from '#libs/config';
import { FixedClock } from '#libs/core';
import { ClientRegistry, type ClientInput } from '#libs/oidc-store';
import { startApp, testConfig, type RunningApp } from './apps.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { codeMails, expectPage, nextEmailCode } from './journeys.js';
import { TestMailServer } from './mail.js';
import { fieldValue } from './account-changes.js';
import { seedUser, text, type WebClient, type WebResponse } from './web.js';

/**
 * End-to-end set-up for OpenID Connect: the IdP on a port its ISSUER names (so a real,
 * independent client, openid-client, can discover it), a real SMTP server for the codes,
 * and a FixedClock started at the real time (oidc-provider keeps its own clock for `iat`
 * and `exp`; Gatehouse's decides sessions, max_age and storage expiry).
 */
export interface OidcHarness {
  db: TestDatabase;
  mail: TestMailServer;
  clock: FixedClock;
  app: RunningApp;
  issuer: string;
  registry: ClientRegistry;
  /** Another IdP node serving the same issuer from the same database (its own port), closed with the harness. */
  startNode(): Promise<RunningApp>;
  close(): Promise<void>;
}

export interface OidcHarnessOptions {
  /** The apps' keys (testSecrets() by default); the CLI must use the same to read the signing keys. */
  secrets?: Secrets;
  oidcTimers?: Partial<OidcTimers>;
  /** More configuration, e.g. SMS_WEBHOOK_URL and VOICE_WEBHOOK_URL. */
  env?: Record<string, string>;
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startOidcHarness(options: OidcHarnessOptions = {}): Promise<OidcHarness> {
  const db = await createTestDatabase();
  const mail = await TestMailServer.start();
  const clock = new FixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const config = testConfig({ ...options.env, SMTP_URL: mail.url, ISSUER: issuer, PORT: String(port) });
  const appOptions = {
    ...(options.secrets ? { secrets: options.secrets } : {}),
    ...(options.oidcTimers ? { oidcTimers: options.oidcTimers } : {}),
  };
  const app = await startApp('idp', db.url, { config, clock, port, ...appOptions });
  const registry = new ClientRegistry(db.dataSource, clock, new AuditService(db.dataSource, clock));
  const nodes: RunningApp[] = [];
  return {
    db,
    mail,
    clock,
    app,
    issuer,
    registry,
    async startNode() {
      const node = await startApp('idp', db.url, { config, clock, port: await freePort(), ...appOptions });
      nodes.push(node);
      return node;
    },
    async close() {
      for (const node of nodes) await node.close();
      await app.close();
      await mail.stop();
      await db.drop();
    },
  };
}

export const REDIRECT_URI = 'https://rp.example.test/callback';
export const POST_LOGOUT_URI = 'https://rp.example.test/signed-out';

/** A relying app as openid-client sees it, registered through the ClientRegistry (what `client:create` uses). */
export interface RelyingApp {
  clientId: string;
  clientSecret: string | undefined;
  config: client.Configuration;
  redirectUri: string;
}

export async function registerApp(
  h: OidcHarness,
  input: Partial<ClientInput> = {},
  options: { wrongSecret?: string } = {},
): Promise<RelyingApp> {
  const registered = await h.registry.create(
    {
      name: input.name ?? 'Reconciliation portal',
      redirectUris: input.redirectUris ?? [REDIRECT_URI],
      postLogoutRedirectUris: input.postLogoutRedirectUris ?? [POST_LOGOUT_URI],
      ...(input.backchannelLogoutUri ? { backchannelLogoutUri: input.backchannelLogoutUri } : {}),
      ...(input.public !== undefined ? { public: input.public } : {}),
      ...(input.grants ? { grants: input.grants } : {}),
      ...(input.scopes ? { scopes: input.scopes } : {}),
      ...(input.pkceRequired !== undefined ? { pkceRequired: input.pkceRequired } : {}),
    },
    { type: 'operator', id: 'test' },
  );
  return {
    clientId: registered.clientId,
    clientSecret: registered.clientSecret,
    config: await discover(h, registered.clientId, options.wrongSecret ?? registered.clientSecret),
    redirectUri: input.redirectUris?.[0] ?? REDIRECT_URI,
  };
}

export async function discover(h: OidcHarness, clientId: string, secret: string | undefined): Promise<client.Configuration> {
  return await client.discovery(new URL(h.issuer), clientId, undefined, secret ? client.ClientSecretBasic(secret) : client.None(), {
    execute: [client.allowInsecureRequests],
  });
}

/** An authorization request with PKCE, state and nonce, and what the callback must be checked against. */
export interface AuthorizationRequest {
  url: URL;
  checks: { pkceCodeVerifier: string; expectedState: string; expectedNonce: string; maxAge?: number };
}

export async function authorizationRequest(rp: RelyingApp, params: Record<string, string> = {}): Promise<AuthorizationRequest> {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const expectedState = client.randomState();
  const expectedNonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(rp.config, {
    redirect_uri: rp.redirectUri,
    scope: 'openid profile email gatehouse',
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    state: expectedState,
    nonce: expectedNonce,
    ...params,
  });
  return {
    url,
    checks: { pkceCodeVerifier, expectedState, expectedNonce, ...(params.max_age ? { maxAge: Number(params.max_age) } : {}) },
  };
}

/** Where a browser ends up: a page of ours, or the relying app's callback (never fetched). */
export type Landing = { page: WebResponse; callback?: undefined } | { callback: URL; page?: undefined };

/**
 * Follows redirects and `Refresh` navigations from `start` (a URL, or a response just
 * received) like a browser without JavaScript, stopping at a page or at `stopAt` (the
 * relying app's origin, which is never fetched).
 */
export async function browse(web: WebClient, start: string | URL | WebResponse, stopAt = 'https://rp.example.test'): Promise<Landing> {
  let response = typeof start === 'string' || start instanceof URL ? await web.get(String(start), false) : start;
  for (let hops = 0; hops < 20; hops++) {
    let next: string | null = null;
    if ([301, 302, 303, 307].includes(response.status) && response.location) next = response.location;
    else if (response.status === 200 && response.headers.get('refresh'))
      next = /url=(.+)$/iu.exec(response.headers.get('refresh')!)?.[1] ?? null;
    if (!next) return { page: response };
    const target = new URL(next, web.base);
    if (target.href.startsWith(stopAt)) return { callback: target };
    response = await web.get(target.href, false);
  }
  throw new Error('too many redirects');
}

export function landedOnCallback(landing: Landing): URL {
  if (!landing.callback) throw new Error(`expected the callback, got ${landing.page.status}: ${text(landing.page.html).slice(0, 400)}`);
  return landing.callback;
}

export function landedOnPage(landing: Landing, contains: string, status = 200): WebResponse {
  if (!landing.page) throw new Error(`expected a page with "${contains}", got the callback ${landing.callback.href}`);
  return expectPage(landing.page, status, contains);
}

export interface Person {
  userId: string;
  password: string;
  email: string;
}

/**
 * Seeds a new active user of `organizationId` at each call, with its own user ID
 * (`<prefix>.<n>`), password and email: `const person = people(h, org, 'emp')`.
 */
export function people(
  h: OidcHarness,
  organizationId: string,
  prefix: string,
): (options?: { mobile?: string }) => Promise<Person & { id: string; mobile?: string }> {
  let n = 0;
  return async (options = {}) => {
    n += 1;
    const who = { userId: `${prefix}.${n}`, password: `correct horse battery ${n}`, email: `${prefix}${n}@example.com` };
    const id = await seedUser(h.db.dataSource, organizationId, { ...who, enterpriseId: who.userId, mobile: options.mobile ?? null });
    return { ...who, id, ...(options.mobile ? { mobile: options.mobile } : {}) };
  };
}

/**
 * On the sign-in page: password, then (unless a remembered device skips it) the emailed code. Ends wherever the browser
 * lands next (`stopAt`: the relying app's origin, as for `browse`).
 */
export async function signIn(
  h: OidcHarness,
  web: WebClient,
  who: Person,
  options: { remember?: boolean; expectOtp?: boolean; stopAt?: string } = {},
): Promise<Landing> {
  const seen = codeMails(h.mail, who.email).length;
  const afterPassword = await browse(
    web,
    await web.post('/signin', { user_id: who.userId, password: who.password }, false),
    options.stopAt,
  );
  if (options.expectOtp === false) return afterPassword;
  landedOnPage(afterPassword, 'We sent a 6-digit code by email');
  const code = await nextEmailCode(h.mail, who.email, seen);
  return await browse(
    web,
    await web.post('/signin/otp', { action: 'verify', code, ...(options.remember ? { remember: 'on' } : {}) }, false),
    options.stopAt,
  );
}

/**
 * The OTP-only step-up an application's loa:2 request gets on a session that is signed in
 * but short of loa:2: from the step-up page (already landed on) through the code by email
 * to wherever the interaction then leads.
 */
export async function stepUpForApp(h: OidcHarness, web: WebClient, who: Person, landing: Landing, stopAt?: string): Promise<Landing> {
  landedOnPage(landing, 'Confirm it is you');
  const page = landing.page!;
  expect(page.html).not.toContain('f-password');
  const returnTo = fieldValue(page.html, 'return_to');
  const seen = codeMails(h.mail, who.email).length;
  const sent = await web.post('/account/step-up', { action: 'send', channel: 'email', return_to: returnTo });
  landedOnPage({ page: sent }, 'We sent a 6-digit code by email');
  const code = await nextEmailCode(h.mail, who.email, seen);
  const verified = await web.post(
    '/account/step-up',
    { action: 'verify', code, flow: fieldValue(sent.html, 'flow'), return_to: fieldValue(sent.html, 'return_to') },
    false,
  );
  return await browse(web, verified, stopAt);
}

/** A whole authorization: from the request through any sign-in to the tokens. */
export async function authorize(
  h: OidcHarness,
  web: WebClient,
  rp: RelyingApp,
  who: Person | null,
  params: Record<string, string> = {},
  options: { remember?: boolean; expectOtp?: boolean } = {},
): Promise<{ tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>; callback: URL; request: AuthorizationRequest }> {
  const request = await authorizationRequest(rp, params);
  let landing = await browse(web, request.url);
  if (landing.page) {
    if (!who) throw new Error(`expected single sign-on, got a page: ${text(landing.page.html).slice(0, 300)}`);
    landedOnPage(landing, 'Password');
    landing = await signIn(h, web, who, options);
  }
  const callback = landedOnCallback(landing);
  const tokens = await client.authorizationCodeGrant(rp.config, callback, request.checks);
  return { tokens, callback, request };
}

/** Where a response sends the browser next: a redirect, or a `Refresh` navigation. */
export function nextLocation(response: WebResponse): string {
  if ([302, 303].includes(response.status) && response.location) return response.location;
  const refresh = /url=(.+)$/iu.exec(response.headers.get('refresh') ?? '')?.[1];
  if (response.status === 200 && refresh) return refresh;
  throw new Error(`expected a redirect, got ${response.status}`);
}

/**
 * Sends requests for one issuer to the node a test chooses, as a load balancer would:
 * `to(url, node)` rewrites an IdP URL (relative, or on any node's origin) to that node.
 */
export function nodeRouter<N extends string>(issuer: string, origins: Record<N, string>): (url: string, node: N) => string {
  return (url, node) => {
    const u = new URL(url, issuer);
    if (!Object.values<string>(origins).includes(u.origin)) throw new Error(`not an IdP URL: ${url}`);
    return `${origins[node]}${u.pathname}${u.search}`;
  };
}
