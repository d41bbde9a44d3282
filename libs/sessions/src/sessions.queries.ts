import type { DataSource, EntityManager } from 'typeorm';
import type { Queryable } from '#libs/database';

/**
 * Statements on sessions and remembered devices (the sessions aggregate), so far those the
 * account page needs; SessionService's and RememberedDeviceService's own statements move here
 * in a later pass.
 */

/** Anything that runs a statement: a DataSource, an EntityManager or a QueryRunner. */

export function openSessionsWithApps(db: Queryable, values: unknown[]) {
  return db.query<
    Array<{ id: string; created_at: Date; last_seen_at: Date; ip: string | null; user_agent: string | null; apps: string[] }>
  >(
    `SELECT s.id, s.created_at, s.last_seen_at, host(s.ip) AS ip, s.user_agent,
              ARRAY(SELECT DISTINCT COALESCE(c.name, a.client_id)
                      FROM oidc_models m
                      CROSS JOIN LATERAL jsonb_object_keys(
                        CASE WHEN jsonb_typeof(m.payload->'authorizations') = 'object' THEN m.payload->'authorizations' ELSE '{}'::jsonb END
                      ) AS a(client_id)
                      LEFT JOIN oidc_clients c ON c.client_id = a.client_id
                     WHERE m.kind = 'Session' AND m.gatehouse_session_id = s.id AND (m.expires_at IS NULL OR m.expires_at > $2)
                     ORDER BY 1) AS apps
         FROM sessions s JOIN users u ON u.id = s.user_id AND u.credential_version = s.credential_version
        WHERE s.user_id = $1 AND s.ended_at IS NULL AND s.idle_expires_at > $2 AND s.absolute_expires_at > $2
        ORDER BY s.last_seen_at DESC, s.id`,
    values,
  );
}

export function endSessionOfUser(db: Queryable, values: unknown[]) {
  return db.query<[Array<{ id: string }>, number]>(
    `UPDATE sessions SET ended_at = $3, end_reason = $4 WHERE id = $1 AND user_id = $2 AND ended_at IS NULL RETURNING id`,
    values,
  );
}

/** The id of the user's remembered device whose token hashes to `tokenHash`, or null. */
export async function rememberedDeviceIdOf(db: DataSource | EntityManager, tokenHash: Buffer, userId: string): Promise<string | null> {
  const rows = await db.query<Array<{ id: string }>>(`SELECT id FROM remembered_devices WHERE token_hash = $1 AND user_id = $2`, [
    tokenHash,
    userId,
  ]);
  return rows[0]?.id ?? null;
}
