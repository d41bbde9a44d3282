/**
 * Text hygiene shared by every input path (CSV import, forms, API).
 * Rejects what people cannot see or that changes how text renders:
 * C0/C1 controls (NUL included), bidi overrides and isolates, zero-width characters.
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;

export function hasForbiddenCharacters(value: string): boolean {
  return FORBIDDEN.test(value);
}

/** NFC, trimmed, inner runs of white space folded to one space. */
export function cleanText(value: string): string {
  return value.normalize('NFC').trim().replace(/\s+/gu, ' ');
}

/** Case-insensitive comparison key: NFKC, then full Unicode lower-casing. */
export function foldKey(value: string): string {
  return value.normalize('NFKC').toLowerCase().normalize('NFKC');
}

/** Length in user-perceived characters (code points), not UTF-16 units. */
export function codePointLength(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

/** A lower-case UUID, as PostgreSQL writes them; the same pattern for SQL (`~`) and JavaScript. */
export const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
const UUID = new RegExp(UUID_PATTERN, 'u');

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

const UUID_ANY_CASE = new RegExp(UUID_PATTERN, 'iu');

/** A UUID in either case, as PostgreSQL reads one (for ids that people type or paste: staff pages, support paths). */
export function isUuidAnyCase(value: string): boolean {
  return UUID_ANY_CASE.test(value);
}
