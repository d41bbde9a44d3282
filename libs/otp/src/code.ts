import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';

export const OTP_LENGTH = 6;

/** A 6-digit code from the CSPRNG, zero-padded ("004217" is as likely as "981733"). */
export function generateCode(): string {
  return randomInt(0, 1_000_000).toString().padStart(OTP_LENGTH, '0');
}

// White space (after NFKC, which also maps the ideographic space) and the dashes people type between groups.
const SEPARATORS = /[\s\-\u2010-\u2015\u2212]/gu;
const SIX_DIGITS = /^[0-9]{6}$/u;

/**
 * The code as typed, reduced to 6 ASCII digits, or null when it cannot be one. NFKC first
 * (full-width "１２３４５６" becomes "123456"), then white space and hyphens anywhere are
 * dropped ("123 456", " 123-456 "). Anything else (letters, 5 or 7 digits, other scripts'
 * digits) is malformed.
 */
export function normalizeCode(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > 64) return null;
  const compact = input.normalize('NFKC').replace(SEPARATORS, '');
  return SIX_DIGITS.test(compact) ? compact : null;
}

/** HMAC-SHA256 of `${challengeId}:${code}`: the stored value, bound to its challenge. */
export function codeHmac(key: Buffer, challengeId: string, code: string): Buffer {
  return createHmac('sha256', key).update(`${challengeId}:${code}`, 'utf8').digest();
}

/** Constant-time comparison of a stored HMAC with a candidate's. */
export function hmacMatches(stored: Buffer, candidate: Buffer): boolean {
  return stored.length === candidate.length && timingSafeEqual(stored, candidate);
}
