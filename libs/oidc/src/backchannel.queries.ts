import type { DataSource, EntityManager } from 'typeorm';

/** The statements of back-channel logout: the logout queue, and claiming the provider sessions (oidc_models, kind Session) to log out. */

export interface ClaimedSession {
  id: string;
  payload: {
    accountId?: string;
    authorizations?: Record<string, { sid?: string; grantId?: string }>;
  };
  gatehouse_session_id: string | null;
}

/** Takes up to `batch` queued sessions, skipping those another node holds; in the caller's transaction. */
export async function takeQueuedSessions(manager: EntityManager, batch: number): Promise<Array<{ session_id: string }>> {
  // A DELETE ... RETURNING answers [rows, count] through TypeORM's pg driver.
  const [queued] = await manager.query<[Array<{ session_id: string }>, number]>(
    `DELETE FROM oidc_logout_queue WHERE id IN (SELECT id FROM oidc_logout_queue ORDER BY id FOR UPDATE SKIP LOCKED LIMIT $1)
           RETURNING session_id`,
    [batch],
  );
  return queued;
}

/** Of these Gatehouse sessions, those whose end (or their person's change) warrants a logout, with why. */
export async function sessionsDueLogout(
  manager: EntityManager,
  sessionIds: string[],
  quietEndReasons: readonly string[],
): Promise<Array<{ id: string; reason: string }>> {
  return manager.query<Array<{ id: string; reason: string }>>(
    `SELECT s.id, CASE WHEN u.status <> 'active' THEN 'user_disabled'
                             WHEN s.ended_at IS NOT NULL THEN s.end_reason
                             ELSE 'credentials_changed' END AS reason
             FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id = ANY($1::uuid[])
              AND ((s.ended_at IS NOT NULL AND COALESCE(s.end_reason, '') <> ALL($2::text[]))
                   OR u.status <> 'active' OR u.credential_version <> s.credential_version)`,
    [sessionIds, quietEndReasons],
  );
}

/** Claims the provider sessions mirroring this Gatehouse session (see `claim`). */
export async function claimSessionsOf(runner: Pick<DataSource, 'query'>, gatehouseSessionId: string, now: Date): Promise<ClaimedSession[]> {
  return claim(runner, `gatehouse_session_id = $1`, [gatehouseSessionId], now);
}

/** Claims every provider session of a user but those mirroring `exceptSessionId` (see `claim`). */
export async function claimSessionsOfUser(
  runner: Pick<DataSource, 'query'>,
  userId: string,
  exceptSessionId: string | null,
  now: Date,
): Promise<ClaimedSession[]> {
  return claim(
    runner,
    `payload->>'accountId' = $1 AND ($2::uuid IS NULL OR gatehouse_session_id IS DISTINCT FROM $2::uuid)`,
    [userId, exceptSessionId],
    now,
  );
}

/**
 * Claims the provider sessions `where` selects, each exactly once across nodes: it is
 * deleted, or, when an authorization in progress holds it (an unexpired Interaction started
 * with it: a browser in the middle of the provider's flow, typically switching to the person
 * who just signed in), kept without its `authorizations`, so that flow can still end it itself
 * (deleting it under the flow would fail it with "sign-in request expired"); it has nothing
 * left to log out. Either way the caller logs out what it had.
 */
async function claim(runner: Pick<DataSource, 'query'>, where: string, params: unknown[], nowValue: Date): Promise<ClaimedSession[]> {
  // Expiry by the injected clock, as the adapter reads it (the Interaction's expires_at was set from it).
  const now = `$${params.length + 1}`;
  return await runner.query<ClaimedSession[]>(
    `WITH target AS (
         SELECT s.id, s.payload, s.gatehouse_session_id,
                EXISTS (SELECT 1 FROM oidc_models i
                         WHERE i.kind = 'Interaction' AND i.payload->'session'->>'cookie' = s.id
                           AND (i.expires_at IS NULL OR i.expires_at > ${now})) AS held
           FROM oidc_models s
          WHERE s.kind = 'Session' AND ${where}
            FOR UPDATE OF s
       ), deleted AS (
         DELETE FROM oidc_models m USING target t WHERE m.kind = 'Session' AND m.id = t.id AND NOT t.held RETURNING m.id
       ), kept AS (
         UPDATE oidc_models m SET payload = m.payload - 'authorizations' FROM target t
          WHERE m.kind = 'Session' AND m.id = t.id AND t.held RETURNING m.id
       )
       SELECT t.id, t.payload, t.gatehouse_session_id FROM target t
        WHERE t.id IN (SELECT id FROM deleted UNION ALL SELECT id FROM kept)`,
    [...params, nowValue],
  );
}
