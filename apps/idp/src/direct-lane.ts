import type { INestApplication } from '@nestjs/common';
import { IncomingMessage, ServerResponse, type Server } from 'node:http';
import { Socket } from 'node:net';
import type Provider from 'oidc-provider';
import { pinoHttp } from 'pino-http';
import proxyaddr from 'proxy-addr';
import type { AppConfig } from '#libs/config';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '#libs/database';
import { DISCOVERY_PATH, OIDC_ROUTES, OidcProviderHost, setForwarded } from '#libs/oidc';
import { httpLoggerOptions } from '#libs/observability';
import { TRUST_PROXY, securityHeaders, type AppOptions } from '#libs/platform';
import { UNAVAILABLE_DETAIL } from '#libs/web';

/**
 * The provider endpoints that programs call, not browsers: discovery, JWKS, token,
 * introspection, revocation and userinfo. They take no cookies, render no page and read
 * their own bodies, so nothing of Express and Nest (routing, cookie parser, body parsers,
 * guards, filters) has anything to do on them.
 */
export const DIRECT_PATHS: ReadonlySet<string> = new Set([
  DISCOVERY_PATH,
  OIDC_ROUTES.jwks,
  OIDC_ROUTES.token,
  OIDC_ROUTES.introspection,
  OIDC_ROUTES.revocation,
  OIDC_ROUTES.userinfo,
]);

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Documents that depend only on the provider instance (its configuration and signing-key
 * set) and on the origin the request was made to (discovery lists its endpoints at the host
 * the caller used; the issuer is fixed): discovery and JWKS. The provider's own answer to the
 * first GET for an origin is kept and replayed to the next ones for that origin; a key
 * rotation makes a new instance (OidcProviderHost), which starts with nothing kept.
 */
const DOCUMENTS: ReadonlySet<string> = new Set([DISCOVERY_PATH, OIDC_ROUTES.jwks]);

/** Most answers kept per provider instance: the Host header is the caller's to choose, so beyond this nothing more is kept. */
const MAX_KEPT = 64;

/** Headers of a kept answer that belong to one request or connection, not to the document. */
const PER_REQUEST = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'access-control-allow-origin']);

interface KeptAnswer {
  headers: Array<[string, number | string | string[]]>;
  body: Buffer;
}

/**
 * Hands requests for DIRECT_PATHS straight from the HTTP server to oidc-provider, ahead of
 * Express, with what Express would have done for them and nothing more:
 * - the same access log line and request id (pino-http with the app's options),
 * - the same security headers (the app's helmet settings),
 * - X-Forwarded-* rewritten from the `trust proxy` rule (a peer that is not trusted cannot
 *   spoof the client's address, scheme or host; the provider runs with `proxy = true`).
 * Every other request, including any spelling of these paths other than the exact one, goes
 * to Express as before, and is still answered by the provider's middleware there.
 *
 * Why: these endpoints carry the relying apps' load (every sign-in redeems a code, every app
 * refreshes), and the Express and Nest layers cost more per request than oidc-provider's own
 * work on discovery and JWKS (docs/benchmarks.md).
 */
export function mountDirectLane(app: INestApplication, options: AppOptions): void {
  const server = app.getHttpServer() as Server;
  const [express, ...others] = server.listeners('request') as Listener[];
  if (!express || others.length > 0) throw new Error('expected exactly one request listener (Express) on the HTTP server');
  const direct = directLane(app.get(OidcProviderHost), options.config, options.logStream);
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!direct(req, res)) express(req, res);
  });
}

/** The lane's handler: true when it took the request. Exported for tests. */
export function directLane(
  host: OidcProviderHost,
  config: AppConfig,
  logStream?: AppOptions['logStream'],
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const logOptions = httpLoggerOptions('idp', config.logLevel, logStream);
  const logger = Array.isArray(logOptions) ? pinoHttp(logOptions[0], logOptions[1]) : pinoHttp(logOptions);
  const headers = fixedHeaders(securityHeaders(config));
  const trust = proxyaddr.compile(TRUST_PROXY);
  const kept = new WeakMap<Provider, Map<string, KeptAnswer>>();

  return (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!DIRECT_PATHS.has(path)) return false;
    logger(req, res);
    for (const [name, value] of headers) res.setHeader(name, value);
    forwardedFor(req, trust);
    const provider = host.current;
    if (req.method === 'GET' && DOCUMENTS.has(path)) {
      let documents = kept.get(provider);
      if (!documents) kept.set(provider, (documents = new Map<string, KeptAnswer>()));
      // After forwardedFor: the scheme and host the provider itself will build its URLs from.
      const key = `${String(req.headers['x-forwarded-proto'])}://${String(req.headers['x-forwarded-host'] ?? '')}${path}`;
      const answer = documents.get(key);
      if (answer) {
        replay(req, res, answer);
        return true;
      }
      if (documents.size < MAX_KEPT) keepAnswer(res, (a) => documents.set(key, a));
    }
    Promise.resolve(host.callback()(req, res)).catch((e: unknown) => fail(req, res, e));
    return true;
  };
}

/** What Express derives with `trust proxy` (`req.protocol`, `req.host`, `req.ip`), made the request's only X-Forwarded-* (setForwarded). */
export function forwardedFor(req: IncomingMessage, trust: (addr: string, i: number) => boolean): void {
  const remote = req.socket.remoteAddress ?? '';
  const trusted = remote !== '' && trust(remote, 0);
  const first = (name: string): string | undefined => {
    const value = req.headers[name];
    const text = Array.isArray(value) ? value[0] : value;
    if (!text) return undefined;
    const comma = text.indexOf(',');
    return (comma === -1 ? text : text.slice(0, comma)).trim() || undefined;
  };
  const socketProtocol = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  setForwarded(req, {
    protocol: (trusted ? first('x-forwarded-proto') : undefined) ?? socketProtocol,
    host: (trusted ? first('x-forwarded-host') : undefined) ?? req.headers.host,
    ip: proxyaddr(req, trust),
  });
}

/**
 * The headers a middleware sets on every response, computed once: helmet with static
 * settings sets the same headers whatever the request, and building them (the CSP string
 * above all) on each request costs more than some of these endpoints' own work.
 */
function fixedHeaders(
  middleware: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void,
): Array<[string, string | number | string[]]> {
  const req = new IncomingMessage(new Socket());
  const res = new ServerResponse(req);
  let done = false;
  middleware(req, res, (error?: unknown) => {
    if (error) throw error instanceof Error ? error : new Error('the security-headers middleware failed');
    done = true;
  });
  if (!done) throw new Error('the security-headers middleware did not finish at once: its headers cannot be computed ahead');
  return res.getHeaderNames().map((name): [string, string | number | string[]] => [name, res.getHeader(name)!]);
}

/** Keeps the provider's 200 answer on `res`: the headers it set (not the ones already there) and the body koa ends it with. */
function keepAnswer(res: ServerResponse, keep: (answer: KeptAnswer) => void): void {
  const before = new Set(res.getHeaderNames());
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.end = ((...args: unknown[]) => {
    const [chunk] = args;
    if (res.statusCode === 200 && (typeof chunk === 'string' || Buffer.isBuffer(chunk))) {
      const headers = res
        .getHeaderNames()
        .filter((name) => !before.has(name) && !PER_REQUEST.has(name))
        .map((name): [string, number | string | string[]] => [name, res.getHeader(name)!]);
      keep({ headers, body: typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk) });
    }
    return end(...args);
  }) as ServerResponse['end'];
}

/** A kept answer, with CORS as the provider's open policy answers it (the caller's Origin, or `*`). */
function replay(req: IncomingMessage, res: ServerResponse, answer: KeptAnswer): void {
  res.statusCode = 200;
  for (const [name, value] of answer.headers) res.setHeader(name, value);
  const origin = req.headers.origin;
  res.setHeader('Access-Control-Allow-Origin', typeof origin === 'string' && origin !== '' ? origin : '*');
  res.setHeader('Content-Length', answer.body.length);
  res.end(answer.body);
}

/** The provider answers its own errors; this is for a failure outside it. */
function fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
  (req as IncomingMessage & { log?: { error(o: unknown, m: string): void } }).log?.error({ err: error }, 'direct lane failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  if (isDatabaseUnavailable(error)) {
    // Worth trying again shortly (as the provider's own answers say while the database cannot be reached).
    res.statusCode = 503;
    res.setHeader('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
    res.end(JSON.stringify({ error: 'temporarily_unavailable', error_description: UNAVAILABLE_DETAIL }));
    return;
  }
  res.statusCode = 500;
  res.end(JSON.stringify({ error: 'server_error', error_description: 'an unexpected error occurred' }));
}
