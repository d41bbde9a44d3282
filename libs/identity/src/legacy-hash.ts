import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import { pbkdf2, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { hasForbiddenCharacters } from '../../core/src/index.js';
import type { LegacyHashFormat } from './entities.js';
import { LIMITS, type Checked } from './normalize.js';

const pbkdf2Async = promisify(pbkdf2);

const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/u;
const ARGON2 = /^\$argon2(id|i)\$(?:v=(\d+)\$)?([mtp]=\d+,[mtp]=\d+,[mtp]=\d+)\$([A-Za-z0-9+/]{8,})\$([A-Za-z0-9+/]{16,})$/u;
const PBKDF2 = /^pbkdf2_sha256\$(\d+)\$([^$]{1,128})\$([A-Za-z0-9+/]+={0,2})$/u;

/** Bounds that keep one sign-in attempt from tying up a core for long. */
const MAX = { bcryptCost: 16, argonMemoryKiB: 262_144, argonTime: 20, argonParallelism: 16, pbkdf2Iterations: 5_000_000 };

/** Recognizes one of the accepted legacy formats and checks it is complete and within bounds. */
export function checkLegacyHash(raw: string): Checked<{ hash: string; format: LegacyHashFormat }> {
  const hash = raw.trim();
  if (hash === '') return { ok: false, reason: 'password_hash is empty' };
  if (hash.length > LIMITS.passwordHash) return { ok: false, reason: 'password_hash is too long' };

  if (hash.startsWith('$2')) {
    const m = BCRYPT.exec(hash);
    if (!m) return { ok: false, reason: 'password_hash is not a complete bcrypt hash ($2a$/$2b$/$2y$, cost, 53 characters)' };
    const cost = Number(m[1]);
    if (cost < 4 || cost > MAX.bcryptCost) return { ok: false, reason: `password_hash bcrypt cost must be 4 to ${MAX.bcryptCost}` };
    return { ok: true, value: { hash, format: 'bcrypt' } };
  }
  if (hash.startsWith('$argon2')) {
    const m = ARGON2.exec(hash);
    if (!m) return { ok: false, reason: 'password_hash is not a complete argon2 PHC string ($argon2id$ or $argon2i$)' };
    // Parameters may come in any order (node-argon2 writes m,p,t; the reference writes m,t,p).
    const params = new Map((m[3] ?? '').split(',').map((kv) => [kv[0], Number(kv.slice(2))] as const));
    if (params.size !== 3) return { ok: false, reason: 'password_hash is not a complete argon2 PHC string ($argon2id$ or $argon2i$)' };
    const [memory, time, parallelism] = [params.get('m') ?? 0, params.get('t') ?? 0, params.get('p') ?? 0];
    if (
      memory < 8 ||
      memory > MAX.argonMemoryKiB ||
      time < 1 ||
      time > MAX.argonTime ||
      parallelism < 1 ||
      parallelism > MAX.argonParallelism
    ) {
      return { ok: false, reason: 'password_hash argon2 parameters are out of the accepted range' };
    }
    return { ok: true, value: { hash, format: 'argon2' } };
  }
  if (hash.startsWith('pbkdf2_sha256$')) {
    // The salt is free text: refuse what cannot be seen or stored (PostgreSQL text cannot hold NUL).
    if (hasForbiddenCharacters(hash)) return { ok: false, reason: 'password_hash contains control or invisible characters' };
    const m = PBKDF2.exec(hash);
    if (!m) return { ok: false, reason: 'password_hash is not a complete Django pbkdf2_sha256 hash' };
    const iterations = Number(m[1]);
    if (iterations < 1 || iterations > MAX.pbkdf2Iterations) {
      return { ok: false, reason: `password_hash pbkdf2 iterations must be 1 to ${MAX.pbkdf2Iterations}` };
    }
    if (Buffer.from(m[3] ?? '', 'base64').length !== 32)
      return { ok: false, reason: 'password_hash pbkdf2_sha256 digest must be 32 bytes' };
    return { ok: true, value: { hash, format: 'pbkdf2_sha256' } };
  }
  return { ok: false, reason: 'password_hash has an unknown format (accepted: bcrypt, argon2id/argon2i, pbkdf2_sha256)' };
}

/**
 * Verifies a password against an imported legacy hash. Never throws for a wrong
 * password or a damaged hash: both are simply "no match".
 */
export async function verifyLegacyHash(hash: string, password: string): Promise<boolean> {
  const checked = checkLegacyHash(hash);
  if (!checked.ok) return false;
  try {
    switch (checked.value.format) {
      case 'bcrypt':
        return await bcrypt.compare(password, hash.replace(/^\$2y\$/u, '$2b$'));
      case 'argon2':
        return await argon2.verify(hash, password);
      case 'pbkdf2_sha256': {
        const [, iterations, salt, digest] = hash.split('$') as [string, string, string, string];
        const expected = Buffer.from(digest, 'base64');
        const actual = await pbkdf2Async(password, salt, Number(iterations), expected.length, 'sha256');
        return actual.length === expected.length && timingSafeEqual(actual, expected);
      }
    }
  } catch {
    return false;
  }
}
