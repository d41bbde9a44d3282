import { resolveLocale, type MessageLocale } from './templates.js';

/** Anything that runs SQL: an EntityManager, a DataSource or a QueryRunner. */
interface Queryable {
  query<T = unknown>(sql: string, parameters?: unknown[]): Promise<T>;
}

/** Whom a message is about: the same subjects as one-time codes. */
export interface MessageSubject {
  /** `user` or `legacy_account` have a stored language; any other (staff, contact) does not. */
  type: string;
  id: string;
}

/**
 * The language of a message to a person: the person's own locale (a user's, or a legacy
 * account's taken from the browser at the start of enrollment), else the organization's
 * default, else English. Staff get English (no staff locale yet); an emergency contact's
 * messages go by the subject they are issued for (its user).
 */
export async function messageLocaleFor(db: Queryable, subject: MessageSubject): Promise<MessageLocale>;
/** With a `fallback` (e.g. `null`) for subjects that have no stored language (staff, unknown ids). */
export async function messageLocaleFor<F>(db: Queryable, subject: MessageSubject, fallback: F): Promise<MessageLocale | F>;
export async function messageLocaleFor(db: Queryable, subject: MessageSubject, fallback: unknown = 'en'): Promise<unknown> {
  const table = subject.type === 'user' ? 'users' : subject.type === 'legacy_account' ? 'legacy_accounts' : undefined;
  if (!table || !/^[0-9a-f-]{36}$/iu.test(subject.id)) return fallback;
  const rows = await db.query<Array<{ locale: string | null; default_locale: string | null }>>(
    `SELECT t.locale, p.default_locale
       FROM ${table} t LEFT JOIN organization_policies p ON p.organization_id = t.organization_id
      WHERE t.id = $1`,
    [subject.id],
  );
  const row = rows[0];
  if (!row) return fallback;
  return resolveLocale(row?.locale ?? row?.default_locale ?? 'en');
}
