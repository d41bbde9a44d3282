import type { AdapterPayload } from 'oidc-provider';
import type { DataSource, EntityManager } from 'typeorm';
import { runStatement } from '#libs/database';

/**
 * The statements on oidc_models (the OIDC models aggregate: every oidc-provider model but
 * Client, keyed by kind and id). The adapter's run as prepared statements on the pool: their
 * texts are fixed (the token read's is built once per adapter, see read-ahead.ts).
 */

/**
 * SQL condition on `kind` for the models issued under a grant (codes, access and refresh
 * tokens), which die with it. An authorization in progress that started from a grant (its
 * Interaction carries the grant id) is not one of them: it is left to finish and ends with a
 * grant of its own, so a logout or revocation does not fail a sign-in on its way.
 */
export const ISSUED_UNDER_GRANT = `kind NOT IN ('Grant', 'Interaction')`;

export interface ModelRow {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

/** One live model matching `where` (on $1 kind and $2 value; $3 now). */
export async function findModel(
  dataSource: DataSource,
  where: string,
  values: [kind: string, value: string, now: Date],
): Promise<ModelRow | undefined> {
  const { rows } = await runStatement<ModelRow>(
    dataSource,
    `SELECT payload, consumed_at FROM oidc_models WHERE ${where} AND (expires_at IS NULL OR expires_at > $3) LIMIT 1`,
    values,
  );
  return rows[0];
}

/** A code or token with its grant, session and account (the statement `readSql`, from tokenReadSql). */
export async function modelWithAhead(
  dataSource: DataSource,
  readSql: string,
  values: [kind: string, id: string, now: Date],
): Promise<
  (ModelRow & { grant_payload: AdapterPayload | null; session_payload: AdapterPayload | null; account: AdapterPayload | null }) | undefined
> {
  const { rows } = await runStatement<
    ModelRow & { grant_payload: AdapterPayload | null; session_payload: AdapterPayload | null; account: AdapterPayload | null }
  >(dataSource, readSql, values);
  return rows[0];
}

/** Updates a model in place, never inserting it (values: kind, id, payload, uid, expires_at). */
export async function updateModel(dataSource: DataSource, values: unknown[]): Promise<void> {
  await runStatement(
    dataSource,
    `UPDATE oidc_models SET payload = $3::jsonb, uid = $4, expires_at = $5 WHERE kind = $1 AND id = $2`,
    values,
  );
}

/** Inserts or updates a model, keeping its Gatehouse session link unless a new one is given. */
export async function upsertModel(dataSource: DataSource, values: unknown[]): Promise<void> {
  await runStatement(
    dataSource,
    `INSERT INTO oidc_models (kind, id, payload, grant_id, uid, user_code, expires_at, gatehouse_session_id)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8)
       ON CONFLICT (kind, id) DO UPDATE
         SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, uid = EXCLUDED.uid,
             user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at,
             gatehouse_session_id = COALESCE(EXCLUDED.gatehouse_session_id, oidc_models.gatehouse_session_id)`,
    values,
  );
}

/** Marks a code or refresh token used; answers whether this call did. */
export async function consumeModel(dataSource: DataSource, values: [kind: string, id: string, now: Date]): Promise<boolean> {
  const { rowCount } = await runStatement(
    dataSource,
    `UPDATE oidc_models SET consumed_at = $3 WHERE kind = $1 AND id = $2 AND consumed_at IS NULL RETURNING id`,
    values,
  );
  return rowCount === 1;
}

export async function deleteModel(dataSource: DataSource, values: [kind: string, id: string]): Promise<void> {
  await runStatement(dataSource, `DELETE FROM oidc_models WHERE kind = $1 AND id = $2`, values);
}

export async function deleteModelsOfGrant(dataSource: DataSource, values: [kind: string, grantId: string]): Promise<void> {
  await dataSource.query(`DELETE FROM oidc_models WHERE kind = $1 AND grant_id = $2`, values);
}

/** Every artifact issued under a grant, and the grant itself. */
export async function deleteGrantWithArtifacts(dataSource: DataSource, grantId: string): Promise<void> {
  await dataSource.query(`DELETE FROM oidc_models WHERE (grant_id = $1 AND ${ISSUED_UNDER_GRANT}) OR (kind = 'Grant' AND id = $1)`, [
    grantId,
  ]);
}

export async function grantIdOfModel(dataSource: DataSource, kind: string, id: string): Promise<string | null | undefined> {
  const lost = await dataSource.query<Array<{ grant_id: string | null }>>(`SELECT grant_id FROM oidc_models WHERE kind = $1 AND id = $2`, [
    kind,
    id,
  ]);
  return lost[0]?.grant_id;
}

/** Deletes up to `limit` expired rows; answers how many. */
export async function deleteExpiredModels(dataSource: DataSource, now: Date, limit: number): Promise<number> {
  const [, count] = await dataSource.query<[unknown[], number]>(
    `DELETE FROM oidc_models WHERE ctid IN (SELECT ctid FROM oidc_models WHERE expires_at <= $1 LIMIT $2)`,
    [now, limit],
  );
  return count;
}

/**
 * Writes held models (values: the unnest arrays) in one statement; with a held use of a code or
 * refresh token, only if that use wins. Answers whether it did (true without a use).
 */
export async function writeHeldModels(
  dataSource: DataSource,
  values: unknown[],
  consumption: { kind: string; id: string; at: Date } | undefined,
): Promise<boolean> {
  const insert = `INSERT INTO oidc_models (kind, id, payload, grant_id, uid, user_code, expires_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])`;
  const upsert = `ON CONFLICT (kind, id) DO UPDATE
         SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, uid = EXCLUDED.uid,
             user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at`;
  if (!consumption) {
    await runStatement(dataSource, `${insert} ${upsert}`, values);
    return true;
  }
  const { rows: result } = await runStatement<{ used: boolean }>(
    dataSource,
    `WITH used AS (
         UPDATE oidc_models SET consumed_at = $8 WHERE kind = $9 AND id = $10 AND consumed_at IS NULL RETURNING id
       ), saved AS (
         ${insert} AS t WHERE EXISTS (SELECT 1 FROM used) ${upsert} RETURNING 1
       )
       SELECT EXISTS (SELECT 1 FROM used) AS used, (SELECT count(*) FROM saved) AS saved`,
    [...values, consumption.at, consumption.kind, consumption.id],
  );
  return result[0]?.used === true;
}

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
