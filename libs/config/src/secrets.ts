import { hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AppConfig } from './config.js';

/** Keys derived from the configured secrets, each for one purpose only. */
export interface Secrets {
  /** HMAC-SHA256 key for one-time codes. */
  readonly otp: Buffer;
  /** Key for signing cookies and CSRF tokens. */
  readonly cookie: Buffer;
  /** AES-256-GCM key for message payloads waiting in the outbox. */
  readonly outbox: Buffer;
  /** AES-256-GCM key for signing keys at rest. */
  readonly signingKeys: Buffer;
}

export const SECRETS = Symbol('SECRETS');

function derive(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), `gatehouse:${purpose}`, 32));
}

/**
 * Resolves secrets: explicit ones from the environment (always, and required in
 * production), otherwise development secrets generated once under DATA_DIR/secrets.json
 * (mode 0600) so codes and sessions survive restarts.
 */
export function resolveSecrets(config: AppConfig): Secrets {
  let { otp, cookie, keyEncryption } = config.secrets;
  if (!otp || !cookie || !keyEncryption) {
    if (config.nodeEnv === 'production') throw new Error('OTP_SECRET, COOKIE_SECRET and KEY_ENCRYPTION_KEY are required in production');
    const file = path.join(config.dataDir, 'secrets.json');
    let stored: Record<string, string> = {};
    if (existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    const generated = {
      otp: stored.otp ?? randomBytes(32).toString('base64url'),
      cookie: stored.cookie ?? randomBytes(32).toString('base64url'),
      keyEncryption: stored.keyEncryption ?? randomBytes(32).toString('base64url'),
    };
    if (!existsSync(file) || Object.keys(stored).length < 3) {
      mkdirSync(config.dataDir, { recursive: true });
      writeFileSync(file, JSON.stringify(generated), { mode: 0o600 });
    }
    otp ??= generated.otp;
    cookie ??= generated.cookie;
    keyEncryption ??= generated.keyEncryption;
  }
  return Object.freeze({
    otp: derive(otp, 'otp'),
    cookie: derive(cookie, 'cookie'),
    outbox: derive(keyEncryption, 'outbox'),
    signingKeys: derive(keyEncryption, 'signing-keys'),
  });
}

/** Fixed secrets for tests and benchmarks. */
export function testSecrets(seed = 'test'): Secrets {
  return Object.freeze({
    otp: derive(seed, 'otp'),
    cookie: derive(seed, 'cookie'),
    outbox: derive(seed, 'outbox'),
    signingKeys: derive(seed, 'signing-keys'),
  });
}
