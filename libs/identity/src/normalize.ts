import { domainToASCII } from 'node:url';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { cleanText, codePointLength, foldKey, hasForbiddenCharacters } from '#libs/core';

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const fail = <T>(reason: string): Checked<T> => ({ ok: false, reason });

export const LIMITS = {
  name: 100,
  email: 254,
  emailLocal: 64,
  legacyUserId: 128,
  passwordHash: 1024,
} as const;

/** A first or last name: NFC, trimmed, visible characters only, 1–100 characters. */
export function checkName(raw: string, field: string): Checked<string> {
  if (hasForbiddenCharacters(raw)) return fail(`${field} contains control or invisible characters`);
  const value = cleanText(raw);
  if (value === '') return fail(`${field} is empty`);
  if (codePointLength(value) > LIMITS.name) return fail(`${field} is longer than ${LIMITS.name} characters`);
  return ok(value);
}

export interface NormalizedEmail {
  /** As the person wrote it, NFC-normalized, with the domain lower-cased. */
  display: string;
  /** Comparison key: NFKC + lower-cased local part, ASCII (punycode) domain. */
  key: string;
}

// Characters never valid unquoted in a local part; quoted local parts are not accepted.
const LOCAL_FORBIDDEN = /[\s"(),:;<>@[\\\]]/u;

/**
 * Email syntax check and normalization. Accepts internationalized addresses (RFC 6531),
 * rejects quoted local parts, IP-literal domains and anything invisible.
 */
export function checkEmail(raw: string): Checked<NormalizedEmail> {
  if (hasForbiddenCharacters(raw)) return fail('email contains control or invisible characters');
  const value = raw.normalize('NFC').trim();
  if (value === '') return fail('email is empty');
  if (codePointLength(value) > LIMITS.email) return fail(`email is longer than ${LIMITS.email} characters`);
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) return fail('email is not a valid address');
  const local = value.slice(0, at);
  const domain = value.slice(at + 1).toLowerCase();
  if (codePointLength(local) > LIMITS.emailLocal || LOCAL_FORBIDDEN.test(local)) return fail('email is not a valid address');
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) return fail('email is not a valid address');
  // Only letters, digits, hyphens and dots (plus non-ASCII for IDNs): domainToASCII would
  // otherwise percent-decode (`ex%61mple.com` -> `example.com`) and the key would not match.
  if (!/^[a-z0-9.\-\u0080-\u{10ffff}]+$/u.test(domain)) return fail('email is not a valid address');
  const asciiDomain = domainToASCII(domain);
  if (
    asciiDomain === '' ||
    !asciiDomain.includes('.') ||
    asciiDomain.length > 253 ||
    !/^[a-z0-9.-]+$/u.test(asciiDomain) ||
    asciiDomain.split('.').some((label) => label === '' || label.length > 63 || label.startsWith('-') || label.endsWith('-')) ||
    /^[0-9.]+$/u.test(asciiDomain)
  ) {
    return fail('email is not a valid address');
  }
  return ok({ display: `${local}@${domain}`, key: `${foldKey(local)}@${asciiDomain}` });
}

/**
 * A mobile number in E.164 (`+393331234567`). National formats are rejected with a
 * reason that asks for E.164, because the country cannot be guessed safely.
 */
export function checkMobile(raw: string): Checked<string> {
  const value = raw.trim();
  if (hasForbiddenCharacters(value)) return fail('mobile contains control or invisible characters');
  if (!value.startsWith('+'))
    return fail('mobile must be in international E.164 format, starting with + and the country code (e.g. +393331234567)');
  if (!/^\+[0-9 ().-]{4,24}$/u.test(value)) return fail('mobile is not a valid E.164 number');
  const phone = parsePhoneNumberFromString(value);
  if (!phone || !phone.isValid()) return fail('mobile is not a valid phone number');
  return ok(phone.number);
}

/** A legacy user ID: visible characters, no white space, 1–128 characters. */
export function checkLegacyUserId(raw: string): Checked<{ display: string; key: string }> {
  if (hasForbiddenCharacters(raw)) return fail('legacy_user_id contains control or invisible characters');
  const value = raw.normalize('NFC').trim();
  if (value === '') return fail('legacy_user_id is empty');
  if (/\s/u.test(value)) return fail('legacy_user_id contains white space');
  if (codePointLength(value) > LIMITS.legacyUserId) return fail(`legacy_user_id is longer than ${LIMITS.legacyUserId} characters`);
  return ok({ display: value, key: foldKey(value) });
}
