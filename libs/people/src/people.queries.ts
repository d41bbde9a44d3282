import type { PersonRow } from './people.service.js';
import type { Queryable } from '#libs/database';

/**
 * The support console's reads of people (users and legacy accounts, with their devices, sessions
 * and correction requests): to join the users aggregate's queries module when libs/identity gets one.
 */

/** Anything that runs a statement: a DataSource, an EntityManager or a QueryRunner. */

/**
 * The people of both kinds, with the columns every summary needs: those matching every
 * word ($1, folded like the stored keys), or the one with id $3. $2 is now.
 */
function matches(by: 'words' | 'id'): string {
  const userWhere =
    by === 'words'
      ? `NOT EXISTS (SELECT 1 FROM q WHERE strpos(u.search_key || ' ' || coalesce(la.search_key, ''), q.tok) = 0)`
      : `u.id = $3`;
  const legacyWhere = by === 'words' ? `NOT EXISTS (SELECT 1 FROM q WHERE strpos(l.search_key, q.tok) = 0)` : `l.id = $3`;
  return `
  WITH q AS (SELECT gh_search_fold(t) AS tok FROM unnest($1::text[]) AS t),
  matches AS (
    SELECT 'user'::text AS kind, u.id, u.enterprise_id, la.legacy_user_id, la.id AS legacy_account_id, u.first_name, u.last_name,
           u.status, u.organization_id, u.email, u.email_verified_at, u.mobile, u.mobile_verified_at,
           u.recovery_locked_at, u.recovery_failed_attempts, u.credential_version, u.created_at
      FROM users u
      LEFT JOIN LATERAL (SELECT l.id, l.legacy_user_id, l.search_key FROM legacy_accounts l WHERE l.user_id = u.id ORDER BY l.created_at LIMIT 1) la ON true
     WHERE ${userWhere}
    UNION ALL
    SELECT 'legacy_account', l.id, NULL, l.legacy_user_id, l.id, l.first_name, l.last_name,
           'pending', l.organization_id, l.email, NULL, l.mobile, NULL,
           NULL, 0, NULL, l.created_at
      FROM legacy_accounts l
     WHERE l.status = 'pending' AND ${legacyWhere}
  )`;
}

const SUMMARY_COLUMNS = `
  m.*, o.slug AS org_slug, o.name AS org_name,
  (SELECT count(*)::int FROM remembered_devices d
    WHERE m.kind = 'user' AND d.user_id = m.id AND d.revoked_at IS NULL AND d.expires_at > $2
      AND d.credential_version = m.credential_version) AS devices,
  (SELECT count(*)::int FROM correction_requests c WHERE c.legacy_account_id = m.legacy_account_id AND c.status = 'open') AS open_corrections`;

export function countPeopleMatches(db: Queryable, values: unknown[]) {
  return db.query<Array<{ total: number }>>(`${matches('words')} SELECT count(*)::int AS total FROM matches`, values);
}

export function peopleMatchesPage(db: Queryable, values: unknown[]) {
  return db.query<PersonRow[]>(
    `${matches('words')}
       SELECT ${SUMMARY_COLUMNS}
         FROM matches m JOIN organizations o ON o.id = m.organization_id
        ORDER BY gh_search_fold(m.last_name), gh_search_fold(m.first_name), m.kind, m.id
        LIMIT $3 OFFSET $4`,
    values,
  );
}

export function personSummaryById(db: Queryable, values: unknown[]) {
  return db.query<PersonRow[]>(
    `${matches('id')}
       SELECT ${SUMMARY_COLUMNS}
         FROM matches m JOIN organizations o ON o.id = m.organization_id
        WHERE m.kind = $4`,
    values,
  );
}

export function enrolledUserOfLegacy(db: Queryable, values: unknown[]) {
  return db.query<Array<{ user_id: string | null }>>(`SELECT user_id FROM legacy_accounts WHERE id = $1 AND status = 'enrolled'`, values);
}

export function rememberedDevicesOfUser(db: Queryable, values: unknown[]) {
  return db.query<PersonRow[]>(
    `SELECT id, name, credential_version, created_at, last_used_at, expires_at, revoked_at, revoked_reason
         FROM remembered_devices WHERE user_id = $1 ORDER BY (revoked_at IS NULL) DESC, last_used_at DESC LIMIT 50`,
    values,
  );
}

export function sessionsOfUser(db: Queryable, values: unknown[]) {
  return db.query<PersonRow[]>(
    `SELECT id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, acr, host(ip) AS ip, user_agent
         FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND idle_expires_at > $2 AND absolute_expires_at > $2
        ORDER BY last_seen_at DESC LIMIT 50`,
    values,
  );
}

export function correctionRequestsOfLegacy(db: Queryable, values: unknown[]) {
  return db.query<PersonRow[]>(
    `SELECT id, status, message, created_at, resolved_at, resolved_by, resolution
         FROM correction_requests WHERE legacy_account_id = $1 ORDER BY created_at DESC LIMIT 50`,
    values,
  );
}
