import type { OpenRow, TriedRow } from './transaction-codes.service.js';
import type { Queryable } from '#libs/database';

/** The statements on transaction codes and the verifiers allowed to check them (the transaction codes aggregate). */

/** Anything that runs a statement: a DataSource, an EntityManager or a QueryRunner. */

/** A code is open while it can still be verified: not used, not cancelled, not expired, not locked. */
const OPEN = `consumed_at IS NULL AND cancelled_at IS NULL AND expires_at > $now AND attempts < max_attempts`;
const open = (param: string) => OPEN.replace('$now', param);

export function openCodeForReference(db: Queryable, values: unknown[]) {
  return db.query<Array<{ id: string; expires_at: Date }>>(
    `SELECT id, expires_at FROM transaction_codes WHERE issuer_client_id = $1 AND reference = $2 AND ${open('$3')}`,
    values,
  );
}

export function openCodesOfUser(db: Queryable, values: unknown[]) {
  return db.query<Array<{ id: string; code_nonce: Buffer }>>(
    `SELECT id, code_nonce FROM transaction_codes WHERE user_id = $1 AND ${open('$2')}`,
    values,
  );
}

export function insertTransactionCode(db: Queryable, values: unknown[]) {
  return db.query(
    `INSERT INTO transaction_codes (id, user_id, issuer_client_id, reference, description, code_nonce, code_hmac, max_attempts,
                                        valid_until_end_of, time_zone, message_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    values,
  );
}

export function openCodesForVerifier(db: Queryable, values: unknown[]) {
  return db.query<Array<{ id: string }>>(
    `SELECT id FROM transaction_codes
              WHERE reference = $1 AND ${open('$3')}
                AND (issuer_client_id = $2
                     OR issuer_client_id IN (SELECT issuer_client_id FROM transaction_code_verifiers WHERE verifier_client_id = $2))
              ORDER BY created_at`,
    values,
  );
}

export function tryTransactionCode(db: Queryable, values: unknown[]) {
  return db.query<Array<TriedRow & { matched: boolean }>>(
    `WITH tried AS (
           UPDATE transaction_codes
              SET attempts = attempts + 1,
                  consumed_at = CASE WHEN code_hmac = $3 THEN $2::timestamptz END,
                  consumed_by_client_id = CASE WHEN code_hmac = $3 THEN $4 END
            WHERE id = $1 AND ${open('$2')}
            RETURNING id, user_id, issuer_client_id, attempts, max_attempts, consumed_at IS NOT NULL AS matched)
         SELECT t.id::text AS id, t.user_id::text AS user_id, u.organization_id::text AS organization_id,
                t.issuer_client_id, t.attempts, t.max_attempts, t.matched
           FROM tried t LEFT JOIN users u ON u.id = t.user_id`,
    values,
  );
}

export function codeToCancel(db: Queryable, values: unknown[]) {
  return db.query<
    Array<{
      user_id: string;
      organization_id: string | null;
      reference: string;
      message_id: string | null;
      consumed_at: Date | null;
      cancelled_at: Date | null;
    }>
  >(
    `SELECT t.user_id::text AS user_id, u.organization_id::text AS organization_id, t.reference, t.message_id::text AS message_id,
                t.consumed_at, t.cancelled_at
           FROM transaction_codes t LEFT JOIN users u ON u.id = t.user_id
          WHERE t.id = $1 AND t.issuer_client_id = $2 FOR UPDATE OF t`,
    values,
  );
}

export function markCodeCancelled(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE transaction_codes SET cancelled_at = $2 WHERE id = $1`, values);
}

export function openCodesWithOrganization(db: Queryable, values: unknown[]) {
  return db.query<Array<OpenRow & { organization_id: string | null }>>(
    `SELECT id::text AS id, issuer_client_id, reference, description, code_nonce, expires_at,
              to_char(valid_until_end_of, 'YYYY-MM-DD') AS valid_until_end_of, time_zone,
              (SELECT u.organization_id::text FROM users u WHERE u.id = $1) AS organization_id
         FROM transaction_codes WHERE user_id = $1 AND ${open('$2')}
        ORDER BY created_at DESC`,
    values,
  );
}

export function lockKeyHashes(db: Queryable, values: unknown[]) {
  return db.query<Array<{ k: number }>>(`SELECT DISTINCT hashtext(k) AS k FROM unnest($1::text[]) AS k ORDER BY 1`, values);
}

export function takeAdvisoryLock(db: Queryable, values: unknown[]) {
  return db.query(`SELECT pg_advisory_xact_lock($1::int, $2::int)`, values);
}
export function clientsForVerifierGrant(db: Queryable, values: unknown[]) {
  return db.query<Array<{ client_id: string; scopes: string[]; grant_types: string[] }>>(
    `SELECT client_id, scopes, grant_types FROM oidc_clients WHERE client_id = ANY($1::text[]) FOR SHARE`,
    values,
  );
}

export function insertVerifierGrant(db: Queryable, values: unknown[]) {
  return db.query<Array<{ verifier_client_id: string }>>(
    `INSERT INTO transaction_code_verifiers (verifier_client_id, issuer_client_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING verifier_client_id`,
    values,
  );
}
