import type { Configuration } from 'oidc-provider';
import type { Clock, Duration } from '#libs/core';

export const TTL = {
  AccessToken: 10 * 60,
  ClientCredentials: 10 * 60,
  AuthorizationCode: 60,
  IdToken: 60 * 60,
  RefreshToken: 14 * 24 * 60 * 60,
  Interaction: 60 * 60,
} as const;

/**
 * oidc-provider's `ttl` setting: Gatehouse's lifetimes (TTL), with the provider's sessions and
 * grants living no longer than Gatehouse's session absolute timeout; and `sessionTtl`, the
 * lifetime of a provider session when it is saved.
 */
export function providerLifetimes(
  clock: Clock,
  sessionAbsolute: Duration,
): { ttl: NonNullable<Configuration['ttl']>; sessionTtl: (session: { authTime(): number | undefined }) => number } {
  const absoluteSeconds = Math.floor(sessionAbsolute.milliseconds / 1000);
  // No longer than the Gatehouse session it mirrors (absolute timeout from the authentication).
  const sessionTtl = (session: { authTime(): number | undefined }): number => {
    const authTime = session.authTime();
    if (typeof authTime !== 'number') return TTL.Interaction;
    return Math.max(60, authTime + absoluteSeconds - Math.floor(clock.now().getTime() / 1000));
  };
  return {
    sessionTtl,
    ttl: {
      AccessToken: TTL.AccessToken,
      ClientCredentials: TTL.ClientCredentials,
      AuthorizationCode: TTL.AuthorizationCode,
      IdToken: TTL.IdToken,
      Interaction: TTL.Interaction,
      // Rotation keeps the family's lifetime: a rotated token inherits what is left.
      RefreshToken: (ctx) => ctx?.oidc?.entities.RotatedRefreshToken?.remainingTTL ?? TTL.RefreshToken,
      Session: (_ctx, session) => sessionTtl(session),
      Grant: absoluteSeconds,
    },
  };
}
