import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * One-time setup codes for new staff: 20 characters of Crockford base32 (100 random bits),
 * shown as five groups of four (`K7QF-3XWM-9PDA-H2NC-8TRB`). The first 8 characters are a
 * selector that finds the staff member (so wrong guesses are counted per account); the
 * whole code is checked against its HMAC-SHA256 under the server's OTP key. Only the
 * selector and the HMAC are stored.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const SETUP_CODE_LENGTH = 20;
const SELECTOR_LENGTH = 8;

export function generateSetupCode(): string {
  const bytes = randomBytes(SETUP_CODE_LENGTH);
  // 256 is a multiple of 32: the low five bits of a random byte are uniform.
  const chars = [...bytes].map((b) => ALPHABET[b & 31]!).join('');
  return formatSetupCode(chars);
}

export function formatSetupCode(compact: string): string {
  return compact.match(/.{1,4}/gu)!.join('-');
}

/** As typed or pasted: case, spaces and hyphens do not matter; O reads as 0 and I or L as 1. Null when it cannot be a code. */
export function normalizeSetupCode(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw.length > 64) return null;
  const compact = raw.normalize('NFKC').toUpperCase().replace(/[\s-]/gu, '').replace(/O/gu, '0').replace(/[IL]/gu, '1');
  if (compact.length !== SETUP_CODE_LENGTH) return null;
  for (const c of compact) if (!ALPHABET.includes(c)) return null;
  return compact;
}

export function setupSelector(compact: string): string {
  return compact.slice(0, SELECTOR_LENGTH);
}

export function setupCodeHmac(key: Buffer, compact: string): Buffer {
  return createHmac('sha256', key).update(`staff-setup:${compact}`).digest();
}

export function setupCodeMatches(key: Buffer, compact: string, stored: Buffer): boolean {
  const expected = setupCodeHmac(key, compact);
  return stored.length === expected.length && timingSafeEqual(stored, expected);
}
