import { LOA2, STEP_UP_MAX_AGE_SECONDS } from './settings.js';

/**
 * What the portal keeps of a validated ID token: only claims that openid-client checked
 * (signature, issuer, audience, nonce, expiry) after the code exchange with Gatehouse.
 * Nothing here ever comes from the browser's request.
 */
export interface IdClaims {
  sub: string;
  acr?: unknown;
  amr?: unknown;
  auth_time?: unknown;
  iat?: unknown;
}

/** Clocks of the portal and Gatehouse may differ a little; an auth_time further in the future is refused. */
const FUTURE_TOLERANCE_SECONDS = 60;

export type StepUpStatus =
  { fresh: true; authTime: Date; until: Date } | { fresh: false; reason: 'no_acr' | 'weak_acr' | 'no_auth_time' | 'too_old' | 'in_future' };

/**
 * Whether an ID token's claims unlock the payment details: `acr` exactly loa:2 and an
 * `auth_time` at most STEP_UP_MAX_AGE_SECONDS before `now` (the portal's injected clock).
 */
export function stepUpStatus(claims: IdClaims | null, now: Date, maxAgeSeconds = STEP_UP_MAX_AGE_SECONDS): StepUpStatus {
  if (!claims || claims.acr === undefined || claims.acr === null) return { fresh: false, reason: 'no_acr' };
  if (claims.acr !== LOA2) return { fresh: false, reason: 'weak_acr' };
  const authTime = claims.auth_time;
  if (typeof authTime !== 'number' || !Number.isSafeInteger(authTime) || authTime <= 0) return { fresh: false, reason: 'no_auth_time' };
  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (authTime > nowSeconds + FUTURE_TOLERANCE_SECONDS) return { fresh: false, reason: 'in_future' };
  if (nowSeconds - authTime > maxAgeSeconds) return { fresh: false, reason: 'too_old' };
  return { fresh: true, authTime: new Date(authTime * 1000), until: new Date((authTime + maxAgeSeconds) * 1000) };
}

/** `amr` as a list of method names, whatever shape the token gave. */
export function methodsOf(claims: IdClaims | null): string[] {
  return Array.isArray(claims?.amr) ? claims.amr.filter((m): m is string => typeof m === 'string') : [];
}
