import { checkEmail, checkLegacyHash, checkLegacyUserId, checkMobile, checkName, type LegacyAccountInput } from '#libs/identity';
import { ImportFileError } from './utf8-decoder.js';

export const REQUIRED_COLUMNS = ['legacy_user_id', 'password_hash', 'first_name', 'last_name', 'email'] as const;
export const OPTIONAL_COLUMNS = ['mobile'] as const;
const KNOWN = new Set<string>([...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS]);

export interface HeaderMap {
  /** Column index of every known column present. */
  index: Record<string, number>;
  /** Column names exactly as in the file. */
  names: string[];
  unknown: string[];
}

/** Reads the header row: names are trimmed and lower-cased; duplicates and missing required columns stop the import. */
export function readHeader(fields: string[]): HeaderMap {
  const names = fields.map((f) => f.trim());
  if (names.some((n) => n.includes('\u0000'))) {
    throw new ImportFileError('line 1: the header contains NUL bytes; the file may be UTF-16. Save it as UTF-8 and import it again');
  }
  const index: Record<string, number> = {};
  const unknown: string[] = [];
  const seen = new Map<string, number>();
  names.forEach((name, i) => {
    const key = name.toLowerCase();
    if (key !== '' && seen.has(key)) throw new ImportFileError(`line 1: column "${name}" appears more than once in the header`);
    seen.set(key, i);
    if (KNOWN.has(key)) index[key] = i;
    else unknown.push(name === '' ? `(empty, column ${i + 1})` : name);
  });
  const missing = REQUIRED_COLUMNS.filter((c) => index[c] === undefined);
  if (missing.length > 0) {
    throw new ImportFileError(
      `line 1: the header is missing required column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (required: ${REQUIRED_COLUMNS.join(', ')}; optional: mobile)`,
    );
  }
  return { index, names, unknown };
}

export type RowResult = { ok: true; account: LegacyAccountInput } | { ok: false; reason: string };

/** Validates and normalizes one data row. The first problem found is the reason. */
export function readRow(header: HeaderMap, fields: string[]): RowResult {
  if (fields.length !== header.names.length) {
    return { ok: false, reason: `row has ${fields.length} fields but the header has ${header.names.length}` };
  }
  const get = (column: string): string => {
    const i = header.index[column];
    return i === undefined ? '' : (fields[i] ?? '');
  };
  const id = checkLegacyUserId(get('legacy_user_id'));
  if (!id.ok) return id;
  const hash = checkLegacyHash(get('password_hash'));
  if (!hash.ok) return hash;
  const first = checkName(get('first_name'), 'first_name');
  if (!first.ok) return first;
  const last = checkName(get('last_name'), 'last_name');
  if (!last.ok) return last;
  const email = checkEmail(get('email'));
  if (!email.ok) return email;
  let mobile: string | null = null;
  if (get('mobile').trim() !== '') {
    const m = checkMobile(get('mobile'));
    if (!m.ok) return m;
    mobile = m.value;
  }
  return {
    ok: true,
    account: {
      legacyUserId: id.value.display,
      legacyUserIdKey: id.value.key,
      firstName: first.value,
      lastName: last.value,
      email: email.value.display,
      emailKey: email.value.key,
      mobile,
      passwordHash: hash.value.hash,
      hashFormat: hash.value.format,
    },
  };
}
