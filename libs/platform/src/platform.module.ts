import { Global, Module, type DynamicModule, type INestApplication, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import cookieParser from 'cookie-parser';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { Logger, LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AuditModule } from '#libs/audit';
import { APP_CONFIG, SECRETS, resolveSecrets, type AppConfig, type Secrets } from '#libs/config';
import { Clock, SystemClock } from '#libs/core';
import { HealthController, httpLoggerOptions } from '#libs/observability';
import { dataSourceOptions } from './data-source.js';

export interface AppOptions {
  config: AppConfig;
  databaseUrl: string;
  /** Injected time source; tests pass a FixedClock. */
  clock?: Clock;
  /** Keys; resolved from config (or DATA_DIR in development) when not given. */
  secrets?: Secrets;
  /** Where JSON log lines go (stdout by default); tests capture them. */
  logStream?: DestinationStream;
}

/**
 * What every Gatehouse HTTP app shares, global: APP_CONFIG, Clock, SECRETS, TypeORM's DataSource,
 * logging, health, and the audit trail (AuditModule, re-exported: nearly every library records
 * audit events, so no library module imports it). Each library's own providers come from its
 * module (libs/<name>/src/<name>.module.ts); see docs/adr/0008-one-nest-module-per-library.md.
 */
@Global()
@Module({})
export class PlatformModule {
  static forRoot(app: string, options: AppOptions): DynamicModule {
    const { config } = options;
    return {
      module: PlatformModule,
      imports: [
        TypeOrmModule.forRoot({ ...dataSourceOptions(options.databaseUrl, { applicationName: `gatehouse-${app}` }) }),
        LoggerModule.forRoot({ pinoHttp: httpLoggerOptions(app, config.logLevel, options.logStream) }),
        AuditModule,
      ],
      controllers: [HealthController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: Clock, useValue: options.clock ?? new SystemClock() },
        { provide: SECRETS, useFactory: () => options.secrets ?? resolveSecrets(config) },
      ],
      exports: [APP_CONFIG, Clock, SECRETS, AuditModule],
    };
  }
}

export interface HttpAppOptions {
  /** Paths whose request bodies Nest must leave unread, for a handler that parses its own (oidc-provider). */
  rawBodyPaths?: (path: string) => boolean;
}

/** Largest JSON or form body the app's own routes accept. */
export const BODY_LIMIT = '100kb';

/** Which peers may tell us the client's address, scheme and host (X-Forwarded-*): Express's `trust proxy` value. */
export const TRUST_PROXY = 'loopback';

/** helmet with Gatehouse's settings: every response of every app gets these headers. */
export function securityHeaders(config: AppConfig): ReturnType<typeof helmet> {
  const https = config.issuer.startsWith('https://');
  return helmet({
    // Same-origin form posts must carry a real Origin header (no-referrer makes Chromium send "null").
    referrerPolicy: { policy: 'same-origin' },
    contentSecurityPolicy: {
      directives: {
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        // Over plain http (development only) the browser must not rewrite our URLs to https.
        'upgrade-insecure-requests': https ? [] : null,
      },
    },
    strictTransportSecurity: https,
  });
}

/** Creates a Nest HTTP app with our logger, helmet and no Nest banner noise. Not yet listening. */
export async function createHttpApp(
  module: Type | DynamicModule,
  config: AppConfig,
  options: HttpAppOptions = {},
): Promise<INestApplication> {
  // Nest's own body parser is off: ours skips the paths of handlers that read the raw body.
  const app = await NestFactory.create(module, { bufferLogs: true, abortOnError: false, bodyParser: false });
  app.useLogger(app.get(Logger));
  app.use(securityHeaders(config));
  app.use(cookieParser());
  const raw = options.rawBodyPaths ?? (() => false);
  const unlessRaw =
    (parser: (req: Request, res: Response, next: NextFunction) => void) => (req: Request, res: Response, next: NextFunction) =>
      raw(req.path) ? next() : parser(req, res, next);
  app.use(unlessRaw(express.json({ limit: BODY_LIMIT })));
  app.use(unlessRaw(express.urlencoded({ extended: true, limit: BODY_LIMIT })));
  app.use(bodyParserProblem);
  const http = app.getHttpAdapter().getInstance() as { disable?: (s: string) => void; set?: (k: string, v: unknown) => void };
  http.disable?.('x-powered-by');
  http.set?.('trust proxy', TRUST_PROXY);
  return app;
}

const BODY_ERRORS: Readonly<Record<string, { code: string; detail: string }>> = {
  'entity.parse.failed': { code: 'malformed_body', detail: 'The request body is not valid JSON or form data.' },
  'entity.too.large': { code: 'body_too_large', detail: `The request body is larger than ${BODY_LIMIT}.` },
  'parameters.too.many': { code: 'too_many_parameters', detail: 'The request body has too many fields.' },
  'charset.unsupported': { code: 'unsupported_charset', detail: 'The request body must be UTF-8.' },
  'encoding.unsupported': { code: 'unsupported_encoding', detail: 'The request body has an unsupported content encoding.' },
  'request.aborted': { code: 'request_aborted', detail: 'The request body was not received in full.' },
  'request.size.invalid': { code: 'request_size_invalid', detail: 'The request body does not match its Content-Length.' },
};

/** A body the parsers refuse gets an RFC 9457 problem, before any route runs; nothing else is touched. */
function bodyParserProblem(error: unknown, _req: Request, res: Response, next: NextFunction): void {
  const e = error as { type?: unknown; status?: unknown } | null;
  const known = e && typeof e.type === 'string' ? BODY_ERRORS[e.type] : undefined;
  if (!known || typeof e?.status !== 'number' || e.status < 400 || e.status > 499 || res.headersSent) return next(error);
  res
    .status(e.status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: `urn:gatehouse:problem:${known.code}`,
        title: known.code.replace(/_/gu, ' '),
        status: e.status,
        detail: known.detail,
        code: known.code,
      }),
    );
}
