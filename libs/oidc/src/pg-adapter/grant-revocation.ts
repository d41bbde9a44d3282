import { errors } from 'oidc-provider';
import type { DataSource } from 'typeorm';

/**
 * SQL condition on `kind` for the models issued under a grant (codes, access and refresh
 * tokens), which die with it. An authorization in progress that started from a grant (its
 * Interaction carries the grant id) is not one of them: it is left to finish and ends with a
 * grant of its own, so a logout or revocation does not fail a sign-in on its way.
 */
export const ISSUED_UNDER_GRANT = `kind NOT IN ('Grant', 'Interaction')`;

/** Every artifact issued under a grant, and the grant itself. */
export async function revokeGrant(dataSource: DataSource, grantId: string): Promise<void> {
  await dataSource.query(`DELETE FROM oidc_models WHERE (grant_id = $1 AND ${ISSUED_UNDER_GRANT}) OR (kind = 'Grant' AND id = $1)`, [
    grantId,
  ]);
}

/** A code or refresh token presented after it was used: reuse, so the whole grant goes (RFC 6749 4.1.2, RFC 9700 4.14.2). Throws InvalidGrant. */
export async function usedAlready(dataSource: DataSource, kind: string, id: string): Promise<never> {
  const lost = await dataSource.query<Array<{ grant_id: string | null }>>(`SELECT grant_id FROM oidc_models WHERE kind = $1 AND id = $2`, [
    kind,
    id,
  ]);
  const grantId = lost[0]?.grant_id;
  if (grantId) await revokeGrant(dataSource, grantId);
  throw new errors.InvalidGrant(`${kind === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
}
