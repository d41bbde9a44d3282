import type { StaffRow } from './staff.service.js';
import type { StaffSessionRow } from './staff-session.service.js';
import type { StaffLoginRow } from './staff-signin.service.js';
import type { Queryable } from '#libs/database';

/** The statements on staff and their console sessions (the staff aggregate). */

/** Anything that runs a statement: a DataSource, an EntityManager or a QueryRunner. */

const STAFF_COLUMNS = `id, email, name, role, status, email_verified_at, setup_expires_at, created_at, updated_at`;

export function insertStaff(db: Queryable, values: unknown[]) {
  return db.query<StaffRow[]>(
    `INSERT INTO staff (email, email_key, name, role, status, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6)
         ON CONFLICT (email_key) DO NOTHING RETURNING ${STAFF_COLUMNS}`,
    values,
  );
}

export function staffById(db: Queryable, values: unknown[]) {
  return db.query<StaffRow[]>(`SELECT ${STAFF_COLUMNS} FROM staff WHERE id = $1`, values);
}

export function countSetupAttempt(db: Queryable, values: unknown[]) {
  return db.query<[Array<StaffRow & { setup_code_hmac: Buffer }>, number]>(
    `UPDATE staff SET setup_attempts = setup_attempts + 1
        WHERE setup_selector = $1 AND status = 'pending' AND setup_expires_at > $2 AND setup_attempts < $3
        RETURNING ${STAFF_COLUMNS}, setup_code_hmac`,
    values,
  );
}

export function giveSetupAttemptBack(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE staff SET setup_attempts = GREATEST(setup_attempts - 1, 0) WHERE id = $1`, values);
}

export function completeStaffSetup(db: Queryable, values: unknown[]) {
  return db.query<[StaffRow[], number]>(
    `UPDATE staff SET password_hash = $2, status = 'active', email_verified_at = $3, setup_selector = NULL, setup_code_hmac = NULL,
                          setup_expires_at = NULL, setup_attempts = 0, updated_at = $3
          WHERE id = $1 AND status = 'pending' AND setup_selector = $4
          RETURNING ${STAFF_COLUMNS}`,
    values,
  );
}

export function allStaff(db: Queryable) {
  return db.query<StaffRow[]>(`SELECT ${STAFF_COLUMNS} FROM staff ORDER BY lower(name), email_key`, []);
}

export function staffHasPassword(db: Queryable, values: unknown[]) {
  return db.query<Array<{ has_password: boolean }>>(`SELECT password_hash IS NOT NULL AS has_password FROM staff WHERE id = $1`, values);
}

export function setStaffStatus(db: Queryable, values: unknown[]) {
  return db.query<[StaffRow[], number]>(`UPDATE staff SET status = $2, updated_at = $3 WHERE id = $1 RETURNING ${STAFF_COLUMNS}`, values);
}

export function staffByIdForUpdate(db: Queryable, values: unknown[]) {
  return db.query<StaffRow[]>(`SELECT ${STAFF_COLUMNS} FROM staff WHERE id = $1 FOR UPDATE`, values);
}

export function setStaffSetup(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE staff SET setup_selector = $2, setup_code_hmac = $3, setup_expires_at = $4, setup_attempts = 0, updated_at = $5 WHERE id = $1`,
    values,
  );
}
export function insertStaffSession(db: Queryable, values: unknown[]) {
  return db.query<Array<{ id: string }>>(
    `INSERT INTO staff_sessions (token_hash, staff_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, ip, user_agent)
       VALUES ($1, $2, $3, $3, $4, $5, $6, $7) RETURNING id`,
    values,
  );
}

export function staffSessionByToken(db: Queryable, values: unknown[]) {
  return db.query<StaffSessionRow[]>(
    `SELECT s.id, s.staff_id, s.created_at, s.idle_expires_at, s.absolute_expires_at, st.email, st.name, st.role, st.status
         FROM staff_sessions s JOIN staff st ON st.id = s.staff_id
        WHERE s.token_hash = $1 AND s.ended_at IS NULL`,
    values,
  );
}

export function touchStaffSession(db: Queryable, values: unknown[]) {
  return db.query<[Array<{ idle_expires_at: Date }>, number]>(
    `UPDATE staff_sessions SET last_seen_at = $2, idle_expires_at = LEAST($3, absolute_expires_at)
        WHERE id = $1 AND ended_at IS NULL RETURNING idle_expires_at`,
    values,
  );
}

export function staffOfSession(db: Queryable, values: unknown[]) {
  return db.query<Array<{ staff_id: string }>>(`SELECT staff_id FROM staff_sessions WHERE id = $1`, values);
}

export function endStaffSessionsOf(db: Queryable, values: unknown[]) {
  return db.query<[unknown[], number]>(
    `UPDATE staff_sessions SET ended_at = $2, end_reason = $3 WHERE staff_id = $1 AND ended_at IS NULL`,
    values,
  );
}

export function endStaffSession(db: Queryable, values: unknown[]) {
  return db.query<[unknown[], number]>(
    `UPDATE staff_sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL RETURNING id`,
    values,
  );
}
export function staffByEmailKey(db: Queryable, values: unknown[]) {
  return db.query<StaffLoginRow[]>(`SELECT id, email, name, role, status, password_hash FROM staff WHERE email_key = $1`, values);
}

export function rehashStaffPassword(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE staff SET password_hash = $2 WHERE id = $1 AND password_hash = $3`, values);
}

export function staffSignInRowById(db: Queryable, values: unknown[]) {
  return db.query<StaffLoginRow[]>(`SELECT id, email, name, role, status, NULL AS password_hash FROM staff WHERE id = $1`, values);
}
