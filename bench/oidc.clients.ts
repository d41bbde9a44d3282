/**
 * HTTP clients of the OpenID Connect benchmark (bench/oidc.bench.ts), run in a worker
 * thread so that making requests and reading answers does not take turns with the servers
 * on their event loop. The thread keeps, per target (Gatehouse or the bare provider), its
 * browsers (cookie jars with a signed-in session), the authorization codes prepared for the
 * next token run and one refresh-token chain per client. Imports only Node built-ins (fetch
 * is Node's built-in undici, with keep-alive connections).
 */
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Recorder, readJson, serveJobs, sharedNow, type RunResult } from './support/worker.js';

export type TargetName = 'gatehouse' | 'bare';
export type Endpoint = 'discovery' | 'jwks' | 'token' | 'refresh';

/** A provider under test and the confidential client registered with it. */
export interface Target {
  name: TargetName;
  /** Where it listens (also its issuer). */
  base: string;
  discoveryPath: string;
  jwksPath: string;
  tokenPath: string;
  authorizationPath: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scope: string;
}

export type OidcJob =
  /** Remembers a target and its browsers (cookies of a signed-in browser, or none: the first authorization signs in). */
  | { kind: 'setup'; target: Target; browsers: Array<Array<[string, string]>> }
  /** Authorization codes for the next `redeem`: authorization requests answered by single sign-on, one browser at a time each. */
  | { kind: 'prepare-codes'; target: TargetName; n: number }
  /** Refresh-token chains, one per browser, each from a code redeemed now. */
  | { kind: 'prepare-chains'; target: TargetName }
  /**
   * Time-bounded: each client requests the endpoint again and again until `windowEnd`; only
   * requests that end inside [windowStart, windowEnd] (sharedNow() times) are counted.
   * `refresh`: client c of C takes the chains c, c + C, c + 2C, … in turn, and every
   * answer's refresh token is its chain's next request (a chain is never used by two
   * clients, so no refresh token is presented twice).
   */
  | {
      kind: 'measure';
      target: TargetName;
      endpoint: 'discovery' | 'jwks' | 'refresh';
      concurrency: number;
      windowStart: number;
      windowEnd: number;
    }
  /** Count-bounded: the clients redeem every prepared code; the time runs from the first request to the last answer. */
  | { kind: 'redeem'; target: TargetName; concurrency: number };

export type { RunResult };

// ---------------------------------------------------------------------------------------
// A browser without JavaScript: cookies, redirects and `Refresh` navigations
// ---------------------------------------------------------------------------------------

export interface Page {
  status: number;
  url: string;
  html: string;
}

/** Where a navigation ends: a page, or the relying app's redirect URI (never fetched). */
export type Landing = { page: Page; callback?: undefined } | { callback: URL; page?: undefined };

export class Browser {
  readonly cookies: Map<string, string>;

  constructor(
    readonly base: string,
    cookies: Iterable<[string, string]> = [],
  ) {
    this.cookies = new Map(cookies);
  }

  /** GET (or a form POST), then redirects and `Refresh: 0;url=…` until a page or a URL under `stopAt`. */
  async navigate(url: string, stopAt: string, form?: Record<string, string>): Promise<Landing> {
    let target = new URL(url, this.base);
    let body = form ? new URLSearchParams(form) : undefined;
    for (let hops = 0; hops < 12; hops++) {
      if (target.href.startsWith(stopAt)) return { callback: target };
      const response = await fetch(target, {
        method: body ? 'POST' : 'GET',
        redirect: 'manual',
        headers: {
          Cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
          ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded', Origin: this.base } : {}),
        },
        ...(body ? { body } : {}),
      });
      for (const line of response.headers.getSetCookie()) {
        const pair = line.split(';', 1)[0]!;
        const eq = pair.indexOf('=');
        const [name, value] = [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
        if (value === '' || /max-age=0|expires=thu, 01 jan 1970/iu.test(line)) this.cookies.delete(name);
        else this.cookies.set(name, value);
      }
      const refresh = response.status === 200 ? /url=(.+)$/iu.exec(response.headers.get('refresh') ?? '')?.[1] : undefined;
      const next = [301, 302, 303, 307].includes(response.status) ? response.headers.get('location') : refresh;
      const html = await response.text();
      if (!next) return { page: { status: response.status, url: target.href, html } };
      target = new URL(next, target);
      body = undefined;
    }
    throw new Error(`too many redirects from ${url}`);
  }
}

/** The CSRF token of a page's form. */
export function csrfOf(page: Page): string {
  const token = /name="csrf" value="([^"]+)"/u.exec(page.html)?.[1];
  if (!token) throw new Error(`no CSRF token on ${page.url} (HTTP ${page.status})`);
  return token;
}

export interface AuthorizationRequest {
  url: string;
  verifier: string;
  state: string;
}

/** An authorization code request with PKCE (S256), state and nonce, as a relying app sends it. */
export function authorizationRequest(t: Target): AuthorizationRequest {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const url = new URL(t.authorizationPath, t.base);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: t.clientId,
    redirect_uri: t.redirectUri,
    scope: t.scope,
    state,
    nonce: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  return { url: url.href, verifier, state };
}

/** The code from the callback of `request`; throws on an error answer or a wrong state. */
export function codeFrom(callback: URL, request: AuthorizationRequest): string {
  const code = callback.searchParams.get('code');
  if (!code || callback.searchParams.get('state') !== request.state) {
    throw new Error(`authorization failed: ${callback.search.slice(0, 300)}`);
  }
  return code;
}

// ---------------------------------------------------------------------------------------
// The requests that are measured
// ---------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

async function getJson(url: string): Promise<{ status: number; json: Json }> {
  const response = await fetch(url);
  return { status: response.status, json: (await response.json()) as Json };
}

async function tokenRequest(t: Target, form: Record<string, string>): Promise<Json> {
  const basic = Buffer.from(`${encodeURIComponent(t.clientId)}:${encodeURIComponent(t.clientSecret)}`).toString('base64');
  const response = await fetch(new URL(t.tokenPath, t.base), {
    method: 'POST',
    headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  const json = await readJson(response);
  const ok =
    response.status === 200 &&
    json.token_type === 'Bearer' &&
    typeof json.access_token === 'string' &&
    typeof json.id_token === 'string' &&
    typeof json.refresh_token === 'string';
  if (!ok) throw new Error(`token (${form.grant_type}): HTTP ${response.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

interface PreparedCode {
  code: string;
  verifier: string;
}

interface TargetState {
  target: Target;
  browsers: Browser[];
  codes: PreparedCode[];
  /** The current refresh token of each chain. */
  chains: string[];
}

const targets = new Map<TargetName, TargetState>();

function stateOf(name: TargetName): TargetState {
  const s = targets.get(name);
  if (!s) throw new Error(`target ${name} was not set up`);
  return s;
}

/** Runs `worker(client)` for `concurrency` clients at once and times it from start to end. */
async function countBounded(concurrency: number, worker: (client: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, client) => worker(client)));
  return performance.now() - started;
}

/** One code by single sign-on: the browser's session answers the authorization request without a page. */
async function oneCode(s: TargetState, browser: Browser): Promise<PreparedCode> {
  const request = authorizationRequest(s.target);
  const landing = await browser.navigate(request.url, s.target.redirectUri);
  if (!landing.callback) {
    throw new Error(`expected single sign-on, got HTTP ${landing.page.status} at ${landing.page.url}: ${landing.page.html.slice(0, 200)}`);
  }
  return { code: codeFrom(landing.callback, request), verifier: request.verifier };
}

async function prepareCodes(s: TargetState, n: number): Promise<RunResult> {
  const rec = new Recorder();
  let next = 0;
  rec.result.elapsedMs = await countBounded(s.browsers.length, async (b) => {
    while (next++ < n) {
      try {
        s.codes.push(await oneCode(s, s.browsers[b]!));
        rec.result.completed++;
      } catch (error) {
        rec.fail(error);
      }
    }
  });
  return rec.result;
}

async function redeem(t: Target, prepared: PreparedCode): Promise<Json> {
  return await tokenRequest(t, {
    grant_type: 'authorization_code',
    code: prepared.code,
    redirect_uri: t.redirectUri,
    code_verifier: prepared.verifier,
  });
}

/** New chains, one per browser (so each from its own grant); the previous ones are dropped. */
async function prepareChains(s: TargetState): Promise<RunResult> {
  const rec = new Recorder();
  s.chains = [];
  rec.result.elapsedMs = await countBounded(s.browsers.length, async (b) => {
    try {
      s.chains.push((await redeem(s.target, await oneCode(s, s.browsers[b]!))).refresh_token as string);
      rec.result.completed++;
    } catch (error) {
      rec.fail(error);
    }
  });
  return rec.result;
}

async function redeemAll(s: TargetState, concurrency: number): Promise<RunResult> {
  const rec = new Recorder();
  const codes = s.codes.splice(0);
  let next = 0;
  rec.result.elapsedMs = await countBounded(concurrency, async () => {
    for (let i = next++; i < codes.length; i = next++) {
      const t = performance.now();
      try {
        await redeem(s.target, codes[i]!);
        rec.result.latenciesMs.push(performance.now() - t);
        rec.result.completed++;
      } catch (error) {
        rec.fail(error);
      }
    }
  });
  return rec.result;
}

/** One request of a time-bounded endpoint (`chain`: which refresh chain); throws unless the answer is right. */
async function once(s: TargetState, endpoint: 'discovery' | 'jwks' | 'refresh', chain: number): Promise<void> {
  const t = s.target;
  if (endpoint === 'discovery') {
    const { status, json } = await getJson(new URL(t.discoveryPath, t.base).href);
    if (status !== 200 || json.issuer !== t.base) throw new Error(`discovery: HTTP ${status} issuer ${String(json.issuer)}`);
  } else if (endpoint === 'jwks') {
    const { status, json } = await getJson(new URL(t.jwksPath, t.base).href);
    if (status !== 200 || !Array.isArray(json.keys) || json.keys.length === 0) throw new Error(`jwks: HTTP ${status}`);
  } else {
    const current = s.chains[chain];
    if (!current) throw new Error(`refresh: no chain ${chain}`);
    const answer = await tokenRequest(t, { grant_type: 'refresh_token', refresh_token: current });
    if (answer.refresh_token === current) throw new Error('refresh: the refresh token was not rotated');
    s.chains[chain] = answer.refresh_token as string;
  }
}

async function measure(job: Extract<OidcJob, { kind: 'measure' }>): Promise<RunResult> {
  const s = stateOf(job.target);
  const rec = new Recorder();
  const perClient = Math.max(1, Math.floor(s.chains.length / job.concurrency));
  await Promise.all(
    Array.from({ length: job.concurrency }, async (_, client) => {
      for (let k = 0; sharedNow() < job.windowEnd; k++) {
        const t = sharedNow();
        try {
          await once(s, job.endpoint, client + (k % perClient) * job.concurrency);
          const end = sharedNow();
          if (end >= job.windowStart && end <= job.windowEnd) {
            rec.result.latenciesMs.push(end - t);
            rec.result.completed++;
          }
        } catch (error) {
          rec.fail(error);
          // A broken refresh chain cannot go on; the failure is reported.
          if (job.endpoint === 'refresh') return;
        }
      }
    }),
  );
  rec.result.elapsedMs = job.windowEnd - job.windowStart;
  return rec.result;
}

async function run(job: OidcJob): Promise<RunResult> {
  switch (job.kind) {
    case 'setup':
      targets.set(job.target.name, {
        target: job.target,
        browsers: job.browsers.map((cookies) => new Browser(job.target.base, cookies)),
        codes: [],
        chains: [],
      });
      return { completed: job.browsers.length, failed: 0, elapsedMs: 0, latenciesMs: [], errors: [] };
    case 'prepare-codes':
      return await prepareCodes(stateOf(job.target), job.n);
    case 'prepare-chains':
      return await prepareChains(stateOf(job.target));
    case 'measure':
      return await measure(job);
    case 'redeem':
      return await redeemAll(stateOf(job.target), job.concurrency);
  }
}

serveJobs<OidcJob, RunResult>(run);
