import type { PendingAuthorization, PortalSessionRow } from './portal-sessions.js';
import type { Queryable } from '#libs/database';

/** The demo portal's statements: its own sessions and the payment details it keeps. */

/** Anything that runs a statement: a DataSource, an EntityManager or a QueryRunner. */

export function paymentDetailsOf(db: Queryable, values: unknown[]) {
  return db.query<Array<{ iban: string; account_holder: string; updated_at: Date }>>(
    `SELECT iban, account_holder, updated_at FROM demo_portal_payment_details WHERE sub = $1`,
    values,
  );
}

export function paymentDetailsForUpdate(db: Queryable, values: unknown[]) {
  return db.query<Array<{ iban: string }>>(`SELECT iban FROM demo_portal_payment_details WHERE sub = $1 FOR UPDATE`, values);
}

export function upsertPaymentDetails(db: Queryable, values: unknown[]) {
  return db.query(
    `INSERT INTO demo_portal_payment_details (sub, iban, account_holder, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (sub) DO UPDATE SET iban = EXCLUDED.iban, account_holder = EXCLUDED.account_holder, updated_at = EXCLUDED.updated_at`,
    values,
  );
}
export function portalSessionByToken(db: Queryable, values: unknown[]) {
  return db.query<PortalSessionRow[]>(
    `SELECT sub, profile, id_claims, id_token, pending, draft, expires_at FROM demo_portal_sessions WHERE token_hash = $1 AND expires_at > $2`,
    values,
  );
}

export function deleteExpiredPortalSessions(db: Queryable, values: unknown[]) {
  return db.query(`DELETE FROM demo_portal_sessions WHERE expires_at <= $1`, values);
}

export function insertPortalSession(db: Queryable, values: unknown[]) {
  return db.query(`INSERT INTO demo_portal_sessions (token_hash, created_at, expires_at) VALUES ($1, $2, $3)`, values);
}

export function setPortalSessionPending(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE demo_portal_sessions SET pending = $2 WHERE token_hash = $1`, values);
}

export function takePortalSessionPending(db: Queryable, values: unknown[]) {
  return db.query<[Array<{ pending: PendingAuthorization | null }>, number]>(
    `WITH old AS (SELECT pending AS was FROM demo_portal_sessions WHERE token_hash = $1 AND expires_at > $2 FOR UPDATE)
       UPDATE demo_portal_sessions SET pending = NULL FROM old WHERE token_hash = $1 AND old.was IS NOT NULL RETURNING old.was AS pending`,
    values,
  );
}

export function insertSignedInPortalSession(db: Queryable, values: unknown[]) {
  return db.query(
    `INSERT INTO demo_portal_sessions (token_hash, sub, profile, id_claims, id_token, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    values,
  );
}

export function updatePortalSessionProfile(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE demo_portal_sessions SET profile = $2, id_claims = $3, id_token = $4, draft = $6 WHERE token_hash = $1 AND sub = $5`,
    values,
  );
}

export function takePortalSessionDraft(db: Queryable, values: unknown[]) {
  return db.query<[Array<{ draft: PendingAuthorization['draft'] | null }>, number]>(
    `WITH old AS (SELECT draft AS was FROM demo_portal_sessions WHERE token_hash = $1 FOR UPDATE)
       UPDATE demo_portal_sessions SET draft = NULL FROM old WHERE token_hash = $1 AND old.was IS NOT NULL RETURNING old.was AS draft`,
    values,
  );
}

export function deletePortalSession(db: Queryable, values: unknown[]) {
  return db.query(`DELETE FROM demo_portal_sessions WHERE token_hash = $1`, values);
}
