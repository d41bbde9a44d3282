import type { EntityManager } from 'typeorm';

/** The statements on oidc_signing_keys (the signing keys aggregate), each in the caller's transaction. */

/** Any constant: serializes key creation across nodes starting at once. */
const KEY_LOCK = 727275;

export interface KeyRow {
  kid: string;
  alg: string;
  encrypted_jwk: Buffer;
  created_at: Date;
  activates_at: Date;
  retired_at: Date | null;
}

/** Serializes key creation and rotation across nodes (until the transaction ends). */
export async function lockSigningKeys(manager: EntityManager): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock($1)`, [KEY_LOCK]);
}

/** Keys still published at the cut-off (not retired before `retiredAfter`), newest activation first; with the encrypted keys if asked. */
export async function publishedKeys(manager: EntityManager, retiredAfter: Date, withKeys: boolean): Promise<KeyRow[]> {
  return manager.query<KeyRow[]>(
    `SELECT kid, alg, created_at, activates_at, retired_at${withKeys ? ', encrypted_jwk' : ''}
         FROM oidc_signing_keys WHERE retired_at IS NULL OR retired_at > $1
        ORDER BY activates_at DESC, created_at DESC`,
    [retiredAfter],
  );
}

/** Deletes the keys not yet active at `now`; answers their kids. */
export async function deletePendingKeys(manager: EntityManager, now: Date): Promise<string[]> {
  const [withdrawn] = await manager.query<[Array<{ kid: string }>, number]>(
    `DELETE FROM oidc_signing_keys WHERE activates_at > $1 RETURNING kid`,
    [now],
  );
  return withdrawn.map((w) => w.kid);
}

export async function retireKey(manager: EntityManager, kid: string, retiredAt: Date): Promise<void> {
  await manager.query(`UPDATE oidc_signing_keys SET retired_at = $2 WHERE kid = $1`, [kid, retiredAt]);
}

/** Inserts a key (values: kid, alg, encrypted_jwk, created_at, activates_at). */
export async function insertKey(manager: EntityManager, values: unknown[]): Promise<void> {
  await manager.query(
    `INSERT INTO oidc_signing_keys (kid, alg, encrypted_jwk, created_at, activates_at) VALUES ($1, $2, $3, $4, $5)`,
    values,
  );
}
