import type { Configuration } from 'oidc-provider';

/** Whether a token was issued to this client or names it as (one of) its audience. */
export function tokenConcerns(token: { clientId?: string | undefined; aud?: unknown }, clientId: string): boolean {
  if (token.clientId === clientId) return true;
  const { aud } = token;
  return aud === clientId || (Array.isArray(aud) && aud.includes(clientId));
}

/** Who learns about a token (oidc-provider's `introspection` feature). */
export const INTROSPECTION = {
  enabled: true,
  // Only a confidential client (it authenticates) learns about a token, and only about one issued to it or
  // meant for it (its audience): any other answers `active: false`, as for a token that does not exist.
  allowedPolicy: async (_ctx, client, token) => client.clientAuthMethod !== 'none' && tokenConcerns(token, client.clientId),
} satisfies NonNullable<Configuration['features']>['introspection'];

/** Who revokes a token (oidc-provider's `revocation` feature). */
export const REVOCATION = {
  enabled: true,
  // Only the client a token was issued to revokes it; another client's request answers 200 and changes nothing.
  allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
} satisfies NonNullable<Configuration['features']>['revocation'];
