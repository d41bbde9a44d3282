import { cleanText, codePointLength, hasForbiddenCharacters } from '#libs/core';

/** IBAN lengths of the SEPA countries (ISO 13616 registry); other countries get the generic 15–34 check. */
const LENGTHS: Record<string, number> = {
  AD: 24, AT: 20, BE: 16, BG: 22, CH: 21, CY: 28, CZ: 24, DE: 22, DK: 18, EE: 20, ES: 24, FI: 18, FR: 27, GB: 22, GI: 23,
  GR: 27, HR: 21, HU: 28, IE: 22, IS: 26, IT: 27, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MT: 31, NL: 18, NO: 15, PL: 28,
  PT: 25, RO: 24, SE: 24, SI: 19, SK: 24, SM: 27, VA: 22,
}; // prettier-ignore

export interface PaymentDetailsInput {
  iban: string;
  accountHolder: string;
}

/** The form as submitted (field names as in the HTML). */
export interface PaymentDetailsForm {
  iban: string;
  account_holder: string;
}

export type PaymentDetailsErrors = Partial<Record<keyof PaymentDetailsInput, string>>;

/** ISO 7064 MOD 97-10 over the rearranged IBAN, letters as 10..35. */
function mod97(iban: string): number {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const value = ch >= 'A' ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    remainder = Number(`${remainder}${value}`) % 97;
  }
  return remainder;
}

/** Upper-case, without the spaces people type or paste between groups. */
export function normalizeIban(raw: string): string {
  return raw.replace(/[\s\u00a0]+/gu, '').toUpperCase();
}

/** Groups of four, as printed on statements. */
export function formatIban(iban: string): string {
  return iban.replace(/(.{4})(?=.)/gu, '$1 ');
}

/** Validates and normalizes the form; `errors` names each bad field. */
export function validatePaymentDetails(
  fields: Record<string, unknown>,
): { ok: true; value: PaymentDetailsInput } | { ok: false; errors: PaymentDetailsErrors } {
  const errors: PaymentDetailsErrors = {};
  const rawIban = typeof fields.iban === 'string' ? fields.iban : '';
  const rawHolder = typeof fields.account_holder === 'string' ? fields.account_holder : '';
  const iban = normalizeIban(rawIban);
  const expected = LENGTHS[iban.slice(0, 2)];
  if (iban === '') errors.iban = 'Enter the IBAN.';
  else if (rawIban.length > 64 || !/^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/u.test(iban)) {
    errors.iban = 'An IBAN starts with a two-letter country code and two check digits, then letters and digits (15 to 34 in all).';
  } else if (expected !== undefined && iban.length !== expected) {
    errors.iban = `An IBAN from ${iban.slice(0, 2)} has ${expected} characters; this one has ${iban.length}.`;
  } else if (mod97(iban) !== 1) errors.iban = 'This IBAN is not valid: check it for typing errors.';

  const accountHolder = cleanText(rawHolder);
  if (accountHolder === '') errors.accountHolder = 'Enter the account holder.';
  else if (rawHolder.length > 400 || hasForbiddenCharacters(rawHolder) || codePointLength(accountHolder) > 140) {
    errors.accountHolder = 'Use up to 140 visible characters.';
  } else if (codePointLength(accountHolder) < 2) errors.accountHolder = 'Enter the full name of the account holder.';

  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, value: { iban, accountHolder } };
}
