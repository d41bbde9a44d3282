import type { PendingChangeRow } from './pending-change.js';
import type { Queryable } from '#libs/database';

/**
 * The support console's statements: correction requests and contact changes awaiting approval
 * (the support requests aggregate), and the reads and writes on users and legacy accounts its
 * actions make (to join the users aggregate's queries module when libs/identity gets one).
 */

/** Anything that runs a statement: a DataSource, an EntityManager or a QueryRunner. */

/** A correction request with its legacy account and, once enrolled, its user. */
const SELECT = `
  SELECT r.id, r.status, r.message, r.created_at, r.resolved_at, r.resolved_by, r.resolution, r.organization_id,
         l.id AS legacy_account_id, l.legacy_user_id, l.status AS account_status, l.first_name, l.last_name, l.email, l.mobile,
         u.id AS user_id, u.enterprise_id,
         (SELECT c.id FROM support_contact_changes c WHERE c.correction_request_id = r.id AND c.status = 'pending') AS pending_change_id
    FROM correction_requests r
    JOIN legacy_accounts l ON l.id = r.legacy_account_id
    LEFT JOIN users u ON u.id = l.user_id`;

export function openSessionsOfUser(db: Queryable, values: unknown[]) {
  return db.query<Array<{ id: string; created_at: Date; last_seen_at: Date; acr: string; ip: string | null; user_agent: string | null }>>(
    `SELECT id, created_at, last_seen_at, acr, host(ip) AS ip, user_agent FROM sessions
        WHERE user_id = $1 AND ended_at IS NULL AND idle_expires_at > $2 AND absolute_expires_at > $2 ORDER BY last_seen_at DESC`,
    values,
  );
}

export function pendingContactChanges(db: Queryable, values: unknown[]) {
  return db.query<Array<PendingChangeRow & Record<string, unknown>>>(
    `SELECT c.*, u.enterprise_id, u.first_name, u.last_name, u.status AS user_status, count(*) OVER () AS total
         FROM support_contact_changes c JOIN users u ON u.id = c.user_id
        WHERE c.status = 'pending' ORDER BY c.requested_at, c.id LIMIT $1 OFFSET $2`,
    values,
  );
}

export function contactChangeById(db: Queryable, values: unknown[]) {
  return db.query<PendingChangeRow[]>(`SELECT * FROM support_contact_changes WHERE id = $1`, values);
}

export function pendingContactChangeOfUser(db: Queryable, values: unknown[]) {
  return db.query<PendingChangeRow[]>(`SELECT * FROM support_contact_changes WHERE user_id = $1 AND status = 'pending'`, values);
}

export function approveContactChange(db: Queryable, values: unknown[]) {
  return db.query<[PendingChangeRow[], number]>(
    `UPDATE support_contact_changes SET status = 'approved', decided_by = $2, decided_at = $3 WHERE id = $1 RETURNING *`,
    values,
  );
}

export function resolveCorrectionRequest(db: Queryable, values: unknown[]) {
  return db.query<[Array<{ id: string }>, number]>(
    `UPDATE correction_requests SET status = 'resolved', resolved_at = $2, resolved_by = $3, resolution = $4
            WHERE id = $1 AND status = 'open' RETURNING id`,
    values,
  );
}

export function decideContactChange(db: Queryable, values: unknown[]) {
  return db.query<[PendingChangeRow[], number]>(
    `UPDATE support_contact_changes SET status = $2, decided_by = $3, decided_at = $4, decision_reason = $5 WHERE id = $1 RETURNING *`,
    values,
  );
}

export function contactChangeForUpdate(db: Queryable, values: unknown[]) {
  return db.query<PendingChangeRow[]>(`SELECT * FROM support_contact_changes WHERE id = $1 FOR UPDATE`, values);
}
export function countCorrectionRequests(db: Queryable, values: unknown[]) {
  return db.query<Array<{ n: string }>>(`SELECT count(*) AS n FROM correction_requests WHERE status = $1`, values);
}

export function correctionRequestsByStatus(db: Queryable, values: unknown[]) {
  return db.query<Array<Record<string, unknown>>>(`${SELECT} WHERE r.status = $1 ORDER BY r.created_at, r.id LIMIT $2 OFFSET $3`, values);
}

export function correctionRequestById(db: Queryable, values: unknown[]) {
  return db.query<Array<Record<string, unknown>>>(`${SELECT} WHERE r.id = $1`, values);
}

export function openCorrectionRequestsOfLegacy(db: Queryable, values: unknown[]) {
  return db.query<Array<Record<string, unknown>>>(
    `${SELECT} WHERE r.legacy_account_id = $1 AND r.status = 'open' ORDER BY r.created_at`,
    values,
  );
}

export function markCorrectionRequestResolved(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE correction_requests SET status = 'resolved', resolved_at = $2, resolved_by = $3, resolution = $4 WHERE id = $1`,
    values,
  );
}

export function rejectCorrectionRequest(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE correction_requests SET status = 'rejected', resolved_at = $2, resolved_by = $3, resolution = $4 WHERE id = $1`,
    values,
  );
}

export function lockCorrectionRequest(db: Queryable, values: unknown[]) {
  return db.query<Array<{ id: string }>>(`SELECT id FROM correction_requests WHERE id = $1 FOR UPDATE`, values);
}

export function pendingContactChangeIdOfUser(db: Queryable, values: unknown[]) {
  return db.query<Array<{ id: string }>>(`SELECT id FROM support_contact_changes WHERE user_id = $1 AND status = 'pending'`, values);
}

export function insertContactChange(db: Queryable, values: unknown[]) {
  return db.query<PendingChangeRow[]>(
    `INSERT INTO support_contact_changes (user_id, organization_id, changes, reason, correction_request_id, requested_by, requested_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    values,
  );
}
