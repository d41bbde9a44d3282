import { LOA1, acrOf, amrOf, compareLevels, hasFreshSecondFactor, isLevel, type Level, type VerificationRecord } from '#libs/factors';

/**
 * What an authorization request asks of the end-user's authentication, and whether a
 * Gatehouse session meets it. Pure functions: the interaction controller and the provider's
 * interaction policy both decide with them.
 */

export type { Level };

export interface AuthRequest {
  /** `prompt=login`: the user must authenticate again, whatever the session. */
  forceLogin: boolean;
  /** `max_age` in seconds, when asked. */
  maxAge: number | undefined;
  /** Voluntary `acr_values`, in order of preference. */
  acrValues: string[];
  /** Acceptable values of an essential `acr` claim (`claims` parameter), when one is asked. */
  essentialAcr: string[] | undefined;
}

function words(value: unknown): string[] {
  return typeof value === 'string' ? value.split(' ').filter(Boolean) : [];
}

/** Reads the parameters oidc-provider stored with an interaction (or its request context). */
export function parseAuthRequest(params: Record<string, unknown>): AuthRequest {
  const rawMaxAge = params.max_age;
  const maxAge =
    typeof rawMaxAge === 'number' ? rawMaxAge : typeof rawMaxAge === 'string' && /^\d+$/u.test(rawMaxAge) ? Number(rawMaxAge) : undefined;
  let essentialAcr: string[] | undefined;
  let claims: unknown = params.claims;
  if (typeof claims === 'string') {
    try {
      claims = JSON.parse(claims);
    } catch {
      claims = undefined;
    }
  }
  const acr = (claims as { id_token?: { acr?: { essential?: unknown; value?: unknown; values?: unknown } } } | undefined)?.id_token?.acr;
  if (acr && acr.essential === true) {
    if (typeof acr.value === 'string') essentialAcr = [acr.value];
    else if (Array.isArray(acr.values)) essentialAcr = acr.values.filter((v): v is string => typeof v === 'string');
  }
  return { forceLogin: words(params.prompt).includes('login'), maxAge, acrValues: words(params.acr_values), essentialAcr };
}

/**
 * The level a request demands: an essential `acr` is a requirement (the lowest acceptable
 * known value; `unsupported` when none is known); voluntary `acr_values` count by their
 * first known entry. `null`: no level asked.
 */
export function requiredLevel(request: AuthRequest): Level | 'unsupported' | null {
  if (request.essentialAcr) {
    const known = request.essentialAcr.filter(isLevel);
    if (known.length === 0) return 'unsupported';
    return known.reduce((low, v) => (compareLevels(v, low) < 0 ? v : low));
  }
  return request.acrValues.find(isLevel) ?? null;
}

/** Whether a login started for this request must verify an OTP even on a remembered device (CONTRACT: loa:2, max_age, prompt=login). */
export function needsFreshOtp(request: AuthRequest): boolean {
  return demandsMoreThanLoa1(requiredLevel(request)) || request.forceLogin || request.maxAge !== undefined;
}

/** A level above loa:1: only a second factor the person verifies reaches it (a remembered device does not). */
function demandsMoreThanLoa1(required: Level | 'unsupported' | null): required is Level {
  return required !== null && required !== 'unsupported' && compareLevels(required, LOA1) > 0;
}

/**
 * Whether a login mirrored by the provider (its `acr`) must be redone for this request:
 * Gatehouse treats a first-choice level above loa:1 as a requirement (CONTRACT), though
 * `acr_values` are voluntary in OIDC.
 */
export function acrFallsShort(request: AuthRequest, acr: unknown): boolean {
  const wanted = requiredLevel(request);
  return demandsMoreThanLoa1(wanted) && !(isLevel(acr) && compareLevels(acr, wanted) >= 0);
}

/**
 * The `acr` to report for a session: its own level, unless an essential `acr` lists only
 * lower values (password + OTP also meets loa:1), so the ID token carries a value the relying app accepts.
 */
export function reportedAcr(level: Level, request: AuthRequest): Level {
  if (!request.essentialAcr || request.essentialAcr.includes(level)) return level;
  const acceptable = request.essentialAcr.filter((v): v is Level => isLevel(v) && compareLevels(v, level) <= 0);
  return acceptable.reduce<Level>((best, v) => (compareLevels(v, best) > 0 ? v : best), acceptable[0] ?? level);
}

export interface SessionView {
  authTime: Date;
  verifications: readonly VerificationRecord[];
}

/** Proof that the session was authenticated in answer to this very interaction (see the interaction controller). */
export interface FreshLogin {
  /** Whether that login was asked to verify an OTP. */
  otpRequired: boolean;
}

export type LoginReason = 'no_session' | 'prompt_login' | 'max_age' | 'acr';

export type Decision =
  | { action: 'login'; requireOtp: boolean; reason: LoginReason }
  | { action: 'finish'; acr: Level; amr: string[]; authTime: Date }
  | { action: 'fail'; error: 'unmet_authentication_requirements'; description: string };

/**
 * Whether the session satisfies the request, or which sign-in to start. A session
 * authenticated for this interaction (`fresh`) satisfies `prompt=login` and `max_age`;
 * if it still falls short of the level, the requirement cannot be met.
 */
export function decide(request: AuthRequest, session: SessionView | null, now: Date, fresh: FreshLogin | null): Decision {
  const required = requiredLevel(request);
  if (required === 'unsupported') {
    return { action: 'fail', error: 'unmet_authentication_requirements', description: 'none of the requested acr values is supported' };
  }
  const requireOtp = needsFreshOtp(request);
  const level = session ? acrOf(session.verifications) : null;
  if (!session || !level) return { action: 'login', requireOtp, reason: 'no_session' };
  const finish: Decision = {
    action: 'finish',
    acr: reportedAcr(level, request),
    amr: amrOf(session.verifications),
    authTime: session.authTime,
  };
  if (fresh) {
    // Asked for a fresh second factor (a code today): one the person verified, not a remembered device.
    if ((fresh.otpRequired && !hasFreshSecondFactor(session.verifications)) || (required !== null && compareLevels(level, required) < 0)) {
      return {
        action: 'fail',
        error: 'unmet_authentication_requirements',
        description: 'the requested authentication level was not reached',
      };
    }
    return finish;
  }
  if (request.forceLogin) return { action: 'login', requireOtp, reason: 'prompt_login' };
  if (request.maxAge !== undefined && now.getTime() - session.authTime.getTime() > request.maxAge * 1000) {
    return { action: 'login', requireOtp, reason: 'max_age' };
  }
  if (required !== null && compareLevels(level, required) < 0) return { action: 'login', requireOtp, reason: 'acr' };
  return finish;
}
