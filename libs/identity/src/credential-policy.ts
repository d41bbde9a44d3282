import { dictionary } from '@zxcvbn-ts/language-common';
import { codePointLength, hasForbiddenCharacters } from '#libs/core';
import type { Checked } from './normalize.js';
import { passwordStrength, type PasswordContext } from './password-strength.js';

/** The 10,000 most common passwords (ranked list bundled by @zxcvbn-ts/language-common). */
const COMMON = new Set(dictionary['passwords-common'].slice(0, 10_000).map((p) => p.toLowerCase()));

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 128;

export function isCommonPassword(password: string): boolean {
  return COMMON.has(password.toLowerCase());
}

/**
 * A new password (NIST SP 800-63B §5.1.1.2): 12–128 characters after NFKC normalization, not
 * in the common or breached lists, strong enough by zxcvbn with the person's context counted
 * as known (MIN_PASSWORD_SCORE), not the Enterprise ID or the email address, and not the
 * password it replaces. The reason says why a password is refused.
 */
export function checkNewPassword(password: string, context: PasswordContext & { previous?: string }): Checked<string> {
  const normalized = password.normalize('NFKC');
  const length = codePointLength(normalized);
  if (length < PASSWORD_MIN) return { ok: false, reason: `The password must be at least ${PASSWORD_MIN} characters long.` };
  if (length > PASSWORD_MAX) return { ok: false, reason: `The password must be at most ${PASSWORD_MAX} characters long.` };
  if (hasForbiddenCharacters(password)) return { ok: false, reason: 'The password contains invisible or control characters.' };
  const lower = normalized.toLowerCase();
  if (isCommonPassword(lower)) {
    return { ok: false, reason: 'This password is too common. Choose one that is harder to guess.' };
  }
  const email = context.email?.toLowerCase();
  if (context.enterpriseId && lower === context.enterpriseId.normalize('NFKC').toLowerCase()) {
    return { ok: false, reason: 'The password may not be your Enterprise ID.' };
  }
  if (email && (lower === email || lower === email.split('@')[0]))
    return { ok: false, reason: 'The password may not be your email address.' };
  if (context.previous !== undefined && normalized === context.previous.normalize('NFKC')) {
    return { ok: false, reason: 'The new password must differ from your old one.' };
  }
  const strength = passwordStrength(normalized, context, PASSWORD_MIN);
  if (!strength.ok) return { ok: false, reason: strength.reason };
  return { ok: true, value: normalized };
}

/**
 * A security code: only digits, a length within the organization's range (6–9), not one
 * digit repeated, not a straight ascending or descending run (123456, 987654, 890123).
 */
export function checkSecurityCode(raw: string, range: { min: number; max: number }): Checked<string> {
  const code = raw.normalize('NFKC').trim();
  if (!/^[0-9]+$/u.test(code)) return { ok: false, reason: 'The security code may contain only digits.' };
  if (code.length < range.min || code.length > range.max) {
    return {
      ok: false,
      reason:
        range.min === range.max
          ? `The security code must be ${range.min} digits.`
          : `The security code must be ${range.min} to ${range.max} digits.`,
    };
  }
  const digits = Array.from(code, Number);
  if (digits.every((d) => d === digits[0])) return { ok: false, reason: 'The security code may not repeat a single digit.' };
  const steps = digits.slice(1).map((d, i) => (d - digits[i]! + 10) % 10);
  if (steps.every((s) => s === 1) || steps.every((s) => s === 9)) {
    return { ok: false, reason: 'The security code may not be a run of consecutive digits.' };
  }
  return { ok: true, value: code };
}
