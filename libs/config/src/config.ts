import { z } from 'zod';
import path from 'node:path';

/**
 * The one place that reads the environment. Everything else receives the typed,
 * frozen AppConfig through DI (APP_CONFIG) or as an argument.
 */

const port = z.coerce
  .number({ error: 'expected a TCP port number' })
  .int('expected a whole number')
  .min(0, 'expected a port between 0 and 65535')
  .max(65535, 'expected a port between 0 and 65535');

const optionalUrl = (protocols: string[], example: string) =>
  z
    .string()
    .trim()
    .optional()
    .transform((v) => (v === '' ? undefined : v))
    .refine(
      (v) => {
        if (v === undefined) return true;
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      { message: `expected a URL such as ${example}` },
    );

const secret = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v))
  .refine((v) => v === undefined || v.length >= 32, { message: 'expected at least 32 characters of random secret' });

const intInRange = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: `expected a whole number from ${min} to ${max}` })
    .int(`expected a whole number from ${min} to ${max}`)
    .min(min, `expected a whole number from ${min} to ${max}`)
    .max(max, `expected a whole number from ${min} to ${max}`)
    .default(fallback);

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(3000),
  ADMIN_PORT: port.default(3001),
  DEMO_PORT: port.default(3002),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  ISSUER: optionalUrl(['http:', 'https:'], 'https://id.example.com'),
  DATABASE_URL: optionalUrl(['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/db'),
  DATA_DIR: z.string().trim().min(1).default('.data'),
  SMTP_URL: optionalUrl(['smtp:', 'smtps:'], 'smtp://user:pass@mail.example.com:587'),
  MAIL_FROM: z.string().trim().min(3).default('Gatehouse <no-reply@localhost>'),
  SMS_WEBHOOK_URL: optionalUrl(['http:', 'https:'], 'https://sms.example.com/hook'),
  VOICE_WEBHOOK_URL: optionalUrl(['http:', 'https:'], 'https://voice.example.com/hook'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  OTP_SECRET: secret,
  COOKIE_SECRET: secret,
  KEY_ENCRYPTION_KEY: secret,
  ARGON2_MEMORY_KIB: intInRange(8192, 4 * 1024 * 1024, 19456),
  ARGON2_TIME_COST: intInRange(1, 20, 2),
  ARGON2_PARALLELISM: intInRange(1, 16, 1),
  SESSION_IDLE_MINUTES: intInRange(1, 24 * 60, 30),
  SESSION_ABSOLUTE_HOURS: intInRange(1, 24 * 30, 12),
  STEP_UP_MINUTES: intInRange(1, 24 * 60, 10),
});

export type Env = z.input<typeof envSchema>;

export interface AppConfig {
  readonly nodeEnv: 'development' | 'production' | 'test';
  readonly host: string;
  readonly port: number;
  readonly adminPort: number;
  readonly demoPort: number;
  readonly issuer: string;
  /** Unset means: start embedded PostgreSQL under dataDir/postgres. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly outboxDir: string;
  readonly smtpUrl: string | undefined;
  readonly mailFrom: string;
  readonly smsWebhookUrl: string | undefined;
  readonly voiceWebhookUrl: string | undefined;
  readonly logLevel: string;
  /** Explicit secrets; unset in development means generated dev secrets under dataDir. */
  readonly secrets: {
    readonly otp: string | undefined;
    readonly cookie: string | undefined;
    readonly keyEncryption: string | undefined;
  };
  readonly argon2: { readonly memoryKiB: number; readonly timeCost: number; readonly parallelism: number };
  readonly session: { readonly idleMinutes: number; readonly absoluteHours: number };
  /** How long an OTP verified in a session counts as fresh for sensitive account changes (step-up). */
  readonly stepUp: { readonly minutes: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const got = env[name];
      const shown =
        got === undefined
          ? 'unset'
          : name.endsWith('SECRET') || name.endsWith('KEY') || name.endsWith('_URL')
            ? 'a value'
            : JSON.stringify(got);
      return `${name}: ${issue.message} (got ${shown})`;
    });
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const issuer = (e.ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/+$/u, '');
  const dataDir = path.resolve(e.DATA_DIR);

  if (e.NODE_ENV === 'production') {
    const problems: string[] = [];
    if (!e.DATABASE_URL) problems.push('DATABASE_URL: required in production (the embedded database is for development only)');
    if (!e.SMTP_URL) problems.push('SMTP_URL: required in production (the file outbox is for development only)');
    if (!e.OTP_SECRET) problems.push('OTP_SECRET: required in production (at least 32 random characters)');
    if (!e.COOKIE_SECRET) problems.push('COOKIE_SECRET: required in production (at least 32 random characters)');
    if (!e.KEY_ENCRYPTION_KEY) problems.push('KEY_ENCRYPTION_KEY: required in production (at least 32 random characters)');
    if (!issuer.startsWith('https://')) problems.push(`ISSUER: must be an https URL in production (got ${JSON.stringify(issuer)})`);
    if (problems.length) throw new ConfigError(problems);
  }

  return deepFreeze({
    nodeEnv: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    adminPort: e.ADMIN_PORT,
    demoPort: e.DEMO_PORT,
    issuer,
    databaseUrl: e.DATABASE_URL,
    dataDir,
    outboxDir: path.join(dataDir, 'outbox'),
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    smsWebhookUrl: e.SMS_WEBHOOK_URL,
    voiceWebhookUrl: e.VOICE_WEBHOOK_URL,
    logLevel: e.LOG_LEVEL,
    secrets: { otp: e.OTP_SECRET, cookie: e.COOKIE_SECRET, keyEncryption: e.KEY_ENCRYPTION_KEY },
    argon2: { memoryKiB: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM },
    session: { idleMinutes: e.SESSION_IDLE_MINUTES, absoluteHours: e.SESSION_ABSOLUTE_HOURS },
    stepUp: { minutes: e.STEP_UP_MINUTES },
  });
}

/** DI token for AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');
