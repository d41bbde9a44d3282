import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import { pbkdf2, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { hasForbiddenCharacters } from '#libs/core';
import type { LegacyHashFormat } from './types.js';
import { LIMITS, type Checked } from './normalize.js';

const pbkdf2Async = promisify(pbkdf2);

const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/u;
const ARGON2 = /^\$argon2(id|i)\$(?:v=(\d+)\$)?([mtp]=\d+,[mtp]=\d+,[mtp]=\d+)\$([A-Za-z0-9+/]{8,})\$([A-Za-z0-9+/]{16,})$/u;
const PBKDF2 = /^pbkdf2_sha256\$(\d+)\$([^$]{1,128})\$([A-Za-z0-9+/]+={0,2})$/u;

export interface LegacyHashLimits {
  bcryptCost: number;
  argonMemoryKiB: number;
  argonTime: number;
  argonParallelism: number;
  /** argon2's memory × passes (KiB), the measure of its work. */
  argonWork: number;
  pbkdf2Iterations: number;
}

/**
 * The most work an imported legacy hash may cost to check. A failed password check is
 * answered no sooner than SignInOptions.failureFloor (800 ms), so that no account's hash
 * tells, by its time, that it exists: each limit keeps one check well inside that floor
 * (measured on 2 vCPUs, docs/security.md: bcrypt 12 ≈ 410 ms with bcryptjs, PBKDF2 1,000,000
 * ≈ 220 ms, argon2 64 MiB × 4 ≈ 320 ms). They admit the defaults of the systems people
 * migrate from (bcrypt 10–12, Django 5.2's 1,000,000 PBKDF2 iterations, OWASP's argon2id).
 */
export const IMPORT_LIMITS: LegacyHashLimits = {
  bcryptCost: 12,
  argonMemoryKiB: 65_536,
  argonTime: 4,
  argonParallelism: 4,
  argonWork: 262_144,
  pbkdf2Iterations: 1_000_000,
};

/**
 * The bounds a stored legacy hash is still checked within at sign-in: those of imports made
 * before IMPORT_LIMITS, so their accounts keep working (never more than one sign-in attempt
 * may tie up a core for).
 */
export const VERIFY_LIMITS: LegacyHashLimits = {
  bcryptCost: 16,
  argonMemoryKiB: 262_144,
  argonTime: 20,
  argonParallelism: 16,
  argonWork: 262_144 * 20,
  pbkdf2Iterations: 5_000_000,
};

/** Recognizes one of the accepted legacy formats and checks it is complete and within `limits` (the import's by default). */
export function checkLegacyHash(
  raw: string,
  limits: LegacyHashLimits = IMPORT_LIMITS,
): Checked<{ hash: string; format: LegacyHashFormat }> {
  const MAX = limits;
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
      parallelism > MAX.argonParallelism ||
      memory * time > MAX.argonWork
    ) {
      return {
        ok: false,
        reason: `password_hash argon2 parameters are out of the accepted range (m ≤ ${MAX.argonMemoryKiB} KiB, t ≤ ${MAX.argonTime}, p ≤ ${MAX.argonParallelism}, m×t ≤ ${MAX.argonWork})`,
      };
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
 * password or a damaged hash: both are simply "no match". The old system hashed what was
 * typed, in whatever Unicode form the keyboard gave: the typed form is tried first, then
 * its NFC and NFKC forms where they differ (a password set on one system, typed on another).
 */
export async function verifyLegacyHash(hash: string, password: string): Promise<boolean> {
  const checked = checkLegacyHash(hash, VERIFY_LIMITS);
  if (!checked.ok) return false;
  for (const form of new Set([password, password.normalize('NFC'), password.normalize('NFKC')])) {
    if (await matchesLegacy(checked.value.format, hash, form)) return true;
  }
  return false;
}

async function matchesLegacy(format: LegacyHashFormat, hash: string, password: string): Promise<boolean> {
  try {
    switch (format) {
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

/** verifyLegacyHash as the legacy password factor's hash check (libs/factors SecretCheck): a legacy hash is never rehashed. */
export const LEGACY_HASH_CHECK = {
  verify: async (hash: string, secret: string): Promise<{ ok: boolean }> => ({ ok: await verifyLegacyHash(hash, secret) }),
};
