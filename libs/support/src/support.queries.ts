import type { EntityManager } from 'typeorm';
import type { PendingChangeRow } from './pending-change.js';
import type { TargetUser } from './account-actions.service.js';
import type { LegacyRow, UserRow } from './profile-correction.service.js';

/**
 * The support console's statements: correction requests and contact changes awaiting approval
 * (the support requests aggregate), and the reads and writes on users and legacy accounts its
 * actions make (to join the users aggregate's queries module when libs/identity gets one).
 */

/** Anything that runs a statement: a DataSource, an EntityManager or a QueryRunner. */
type Queryable = Pick<EntityManager, 'query'>;

/** A correction request with its legacy account and, once enrolled, its user. */
const SELECT = `
  SELECT r.id, r.status, r.message, r.created_at, r.resolved_at, r.resolved_by, r.resolution, r.organization_id,
         l.id AS legacy_account_id, l.legacy_user_id, l.status AS account_status, l.first_name, l.last_name, l.email, l.mobile,
         u.id AS user_id, u.enterprise_id,
         (SELECT c.id FROM support_contact_changes c WHERE c.correction_request_id = r.id AND c.status = 'pending') AS pending_change_id
    FROM correction_requests r
    JOIN legacy_accounts l ON l.id = r.legacy_account_id
    LEFT JOIN users u ON u.id = l.user_id`;

export function userRecoveryState(db: Queryable, values: unknown[]) {
  return db.query<Array<{ status: 'active' | 'disabled'; recovery_failed_attempts: number; recovery_locked_at: Date | null }>>(
    `SELECT status, recovery_failed_attempts, recovery_locked_at FROM users WHERE id = $1`,
    values,
  );
}

export function openSessionsOfUser(db: Queryable, values: unknown[]) {
  return db.query<Array<{ id: string; created_at: Date; last_seen_at: Date; acr: string; ip: string | null; user_agent: string | null }>>(
    `SELECT id, created_at, last_seen_at, acr, host(ip) AS ip, user_agent FROM sessions
        WHERE user_id = $1 AND ended_at IS NULL AND idle_expires_at > $2 AND absolute_expires_at > $2 ORDER BY last_seen_at DESC`,
    values,
  );
}

export function disableUser(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET status = 'disabled', updated_at = $2 WHERE id = $1`, values);
}

export function enableUser(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET status = 'active', updated_at = $2 WHERE id = $1`, values);
}

export function userForActionForUpdate(db: Queryable, values: unknown[]) {
  return db.query<TargetUser[]>(`SELECT id, organization_id, first_name, email, status FROM users WHERE id = $1 FOR UPDATE`, values);
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

export function userContactsForUpdate(db: Queryable, values: unknown[]) {
  return db.query<Array<{ organization_id: string; first_name: string; email: string; mobile: string | null }>>(
    `SELECT organization_id, first_name, email, mobile FROM users WHERE id = $1 FOR UPDATE`,
    values,
  );
}

export function setUserEmail(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET email = $2, email_key = $3, email_verified_at = NULL, updated_at = $4 WHERE id = $1`, values);
}

export function setUserMobile(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE users SET mobile = $2, mobile_verified_at = NULL, updated_at = $3,
                  preferred_otp_channel = CASE WHEN preferred_otp_channel IN ('sms', 'voice') THEN NULL ELSE preferred_otp_channel END
            WHERE id = $1`,
    values,
  );
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

export function userEmailAndName(db: Queryable, values: unknown[]) {
  return db.query<Array<{ email: string; first_name: string }>>(`SELECT email, first_name FROM users WHERE id = $1`, values);
}
export function legacyAccountForCorrection(db: Queryable, values: unknown[]) {
  return db.query<LegacyRow[]>(
    `SELECT id, organization_id, status, user_id, first_name, last_name, email, mobile FROM legacy_accounts WHERE id = $1 FOR UPDATE`,
    values,
  );
}

export function correctLegacyAccount(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE legacy_accounts SET first_name = $2, last_name = $3, email = $4, email_key = $5, mobile = $6, updated_at = $7 WHERE id = $1`,
    values,
  );
}

export function userProfileForUpdate(db: Queryable, values: unknown[]) {
  return db.query<UserRow[]>(
    `SELECT id, organization_id, first_name, last_name, email, mobile FROM users WHERE id = $1 FOR UPDATE`,
    values,
  );
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

export function setUserNames(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET first_name = $2, last_name = $3, updated_at = $4 WHERE id = $1`, values);
}
