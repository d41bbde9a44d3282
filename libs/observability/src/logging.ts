import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DestinationStream } from 'pino';
import type { Options } from 'pino-http';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/u;

/** Paths in every log record whose values are replaced: credentials travel in these. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.new_password',
  '*.security_code',
  '*.code',
  '*.otp',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.client_secret',
];

/**
 * pino-http options: JSON lines, a request id per request (a caller's `X-Request-Id` is
 * kept when it is well-formed, and echoed back), credentials redacted, and URLs logged
 * without their query string, since OAuth and OIDC put codes and tokens there.
 */
export function httpLoggerOptions(app: string, level: string, stream?: DestinationStream): Options | [Options, DestinationStream] {
  const options: Options = {
    level,
    base: { app },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    serializers: {
      req: (req: { id: string; method: string; url: string; remoteAddress?: string; headers?: Record<string, unknown> }) => ({
        id: req.id,
        method: req.method,
        path: String(req.url ?? '').split('?')[0],
        remoteAddress: req.remoteAddress,
        userAgent: req.headers?.['user-agent'],
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      // Only what helps diagnose: a database error also carries its query parameters,
      // which can be password hashes or tokens, so no other field of an error is logged.
      err: (err: { name?: string; type?: string; message?: string; code?: unknown; stack?: string }) => ({
        type: err.type ?? err.name,
        message: err.message,
        code: typeof err.code === 'string' || typeof err.code === 'number' ? err.code : undefined,
        stack: err.stack,
      }),
    },
    customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
  };
  return stream ? [options, stream] : options;
}
