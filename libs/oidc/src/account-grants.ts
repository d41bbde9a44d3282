import type { EntityManager } from 'typeorm';
import { ISSUED_UNDER_GRANT } from './pg-adapter.js';

/** What revoking an account's grants removed. */
export interface RevokedGrants {
  /** Grants that were still live (one per relying app the person signed in to). */
  grants: number;
  /** Authorization codes, access and refresh tokens issued under them that could still have been used. */
  artifacts: number;
}

/**
 * Revokes everything the provider issued to an account: every grant of `accountId` and every
 * artifact issued under one (authorization codes, access tokens, refresh tokens, also those
 * with `offline_access`), in the caller's transaction, so it commits with the change that
 * warrants it (a disabled user). Introspection then answers `active: false`, userinfo refuses
 * the access tokens and a refresh is `invalid_grant`, also if the account is enabled again.
 *
 * Provider sessions (`kind = 'Session'`) are left for the back-channel logout queue, which
 * claims them to tell the relying apps; their grants are gone already.
 *
 * One statement: the grants by account (`oidc_models_grant_account_idx`), then what was issued
 * under them by `grant_id` (`oidc_models_grant_idx`). Counts leave out what was already used
 * (a rotated refresh token, a redeemed code) or expired.
 */
export async function revokeAccountGrants(manager: Pick<EntityManager, 'query'>, accountId: string, now: Date): Promise<RevokedGrants> {
  const [row] = await manager.query<Array<{ grants: number; artifacts: number }>>(
    `WITH grants AS (
       DELETE FROM oidc_models WHERE kind = 'Grant' AND payload->>'accountId' = $1 RETURNING id, expires_at
     ), issued AS (
       DELETE FROM oidc_models WHERE ${ISSUED_UNDER_GRANT} AND grant_id IN (SELECT id FROM grants) RETURNING consumed_at, expires_at
     )
     SELECT (SELECT count(*) FROM grants WHERE expires_at IS NULL OR expires_at > $2)::int AS grants,
            (SELECT count(*) FROM issued WHERE consumed_at IS NULL AND (expires_at IS NULL OR expires_at > $2))::int AS artifacts`,
    [accountId, now],
  );
  return { grants: row?.grants ?? 0, artifacts: row?.artifacts ?? 0 };
}

/**
 * Revokes what the provider issued in one Gatehouse session: the grant of every relying app the
 * provider sessions mirroring it (`gatehouse_session_id`) signed in to, and every artifact
 * issued under those grants, in the caller's transaction (with the session's end). Grants of
 * the person's other sessions (other browsers and apps hold their own) are left alone; only
 * grants of `accountId` are touched.
 *
 * The provider sessions themselves are left for the back-channel logout queue, which the
 * session's end fills: it claims them and tells the relying apps.
 */
export async function revokeSessionGrants(
  manager: Pick<EntityManager, 'query'>,
  gatehouseSessionId: string,
  accountId: string,
  now: Date,
): Promise<RevokedGrants> {
  const [row] = await manager.query<Array<{ grants: number; artifacts: number }>>(
    `WITH ids AS (
       SELECT a.value->>'grantId' AS id
         FROM oidc_models s CROSS JOIN LATERAL jsonb_each(
                CASE WHEN jsonb_typeof(s.payload->'authorizations') = 'object' THEN s.payload->'authorizations' ELSE '{}'::jsonb END) a
        WHERE s.kind = 'Session' AND s.gatehouse_session_id = $1 AND s.payload->>'accountId' = $2
     ), grants AS (
       DELETE FROM oidc_models WHERE kind = 'Grant' AND id IN (SELECT id FROM ids) AND payload->>'accountId' = $2 RETURNING id, expires_at
     ), issued AS (
       DELETE FROM oidc_models WHERE ${ISSUED_UNDER_GRANT} AND grant_id IN (SELECT id FROM grants) RETURNING consumed_at, expires_at
     )
     SELECT (SELECT count(*) FROM grants WHERE expires_at IS NULL OR expires_at > $3)::int AS grants,
            (SELECT count(*) FROM issued WHERE consumed_at IS NULL AND (expires_at IS NULL OR expires_at > $3))::int AS artifacts`,
    [gatehouseSessionId, accountId, now],
  );
  return { grants: row?.grants ?? 0, artifacts: row?.artifacts ?? 0 };
}
