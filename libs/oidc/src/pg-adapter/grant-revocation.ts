import { errors } from 'oidc-provider';
import type { DataSource } from 'typeorm';
import { deleteGrantWithArtifacts, grantIdOfModel } from '#libs/oidc-store';

export { ISSUED_UNDER_GRANT } from '#libs/oidc-store';
/** Every artifact issued under a grant, and the grant itself. */
export async function revokeGrant(dataSource: DataSource, grantId: string): Promise<void> {
  await deleteGrantWithArtifacts(dataSource, grantId);
}

/** A code or refresh token presented after it was used: reuse, so the whole grant goes (RFC 6749 4.1.2, RFC 9700 4.14.2). Throws InvalidGrant. */
export async function usedAlready(dataSource: DataSource, kind: string, id: string): Promise<never> {
  const grantId = await grantIdOfModel(dataSource, kind, id);
  if (grantId) await revokeGrant(dataSource, grantId);
  throw new errors.InvalidGrant(`${kind === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
}
