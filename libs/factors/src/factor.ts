import type { Channel } from '#libs/core';
import type { Level } from './levels.js';

/**
 * A factor: one way a person proves who they are. Each factor is a folder beside this file and
 * one line in the registry (registry.ts); flows and the OIDC checks ask the registry, never a
 * factor's name. Modelled on Keycloak's Authenticator SPI (`configuredFor`: availableFor here),
 * Ory Kratos's strategies (one factor serves sign-in, step-up and recovery) and Logto's
 * verification records (what a verification yields is a typed record).
 */
export interface Factor<R extends { method: string; at: string } = { method: string; at: string }> {
  /** Its name: the `method` of the record it yields, and its entry in an organization's allowed factors. */
  readonly id: R['method'];
  /**
   * Where it stands in an authentication: `first` starts one (a password), `second` follows a
   * first (a code, a remembered device), `recovery` proves a person who lost their second
   * factor (with a code), and never signs in by itself.
   */
  readonly role: 'first' | 'second' | 'recovery';
  /**
   * How it challenges: `form` (the person types a secret the page asks for), `code` (a one-time
   * code is sent and typed back: libs/otp's CodeStepService), `cookie` (the browser presents a
   * token without the person's help).
   */
  readonly challenge: 'form' | 'code' | 'cookie';
  /** Whether an organization's policy may leave it out (false while no other factor can stand in for it). */
  readonly optional: boolean;
  /** Whether it may serve this person under this policy (Keycloak's `configuredFor` and the policy together). */
  availableFor(person: FactorPerson, policy: FactorPolicy): boolean;
  /** What one of its records proves. */
  proves(record: R): Proof;
  /** Why this policy cannot stand as it is, for this factor; null when it can. */
  policyProblem?(policy: FactorPolicy): string | null;
}

/** What a verification record proves. */
export interface Proof {
  /** RFC 8176 `amr` values, in order. */
  amr: readonly string[];
  /** The levels it satisfies once the authentication has a first factor (a first factor's own, if it is one). */
  levels: readonly Level[];
  /** Verified by the person answering a challenge in this authentication (a remembered device is not). */
  fresh: boolean;
}

/** Whom a factor may serve: what it needs to know of the person. */
export interface FactorPerson {
  email: string;
  mobile: string | null;
  mobileVerifiedAt: Date | null;
}

/** The organization's policy, as far as factors read it. */
export interface FactorPolicy {
  /** The factors the organization allows (their ids). */
  allowedFactors: readonly string[];
  otpChannels: readonly Channel[];
  rememberDeviceEnabled: boolean;
}

/**
 * A hash check a knowledge factor runs: argon2id's PasswordHasher fits as it is, a legacy
 * format's check through libs/identity's LEGACY_HASH_CHECK. A port, so that a factor needs
 * no library above it (identity and sessions read the factors).
 */
export interface SecretCheck {
  verify(hash: string, secret: string): Promise<{ ok: boolean; rehashed?: string | undefined }>;
}

/** What a knowledge factor's verification answers: its record when the secret matched (with a rehash to store, if one was made). */
export type KnowledgeVerdict<R> = { ok: true; record: R; rehashed?: string | undefined } | { ok: false };

/**
 * A factor the person answers by typing a secret the page asks for (`challenge: 'form'`):
 * the password, a legacy password, the security code. `verify` checks the secret against
 * the stored hash and yields the factor's record; throttling and auditing stay with the flow.
 */
export interface KnowledgeFactor<R extends { method: string; at: string }> extends Factor<R> {
  readonly challenge: 'form';
  verify(secret: string, hash: string, check: SecretCheck, now: Date): Promise<KnowledgeVerdict<R>>;
}

/**
 * A knowledge factor whose record is its name and the time: its `verify` checks the secret
 * with the hash check it is given (the same for all of them), and an organization may list it
 * as allowed. `amr` is what its record proves (RFC 8176); it satisfies no level by itself.
 */
export function knowledgeFactor<R extends { method: string; at: string }>(spec: {
  id: R['method'];
  role: Factor['role'];
  optional: boolean;
  amr: readonly string[];
}): KnowledgeFactor<R> {
  const factor: KnowledgeFactor<R> = {
    ...spec,
    challenge: 'form',
    availableFor: (_person, policy) => allowedBy(policy, factor),
    proves: () => ({ amr: spec.amr, levels: [], fresh: true }),
    async verify(secret, hash, check, now) {
      const checked = await check.verify(hash, secret);
      if (!checked.ok) return { ok: false };
      return {
        ok: true,
        record: { method: spec.id, at: now.toISOString() } as R,
        ...(checked.rehashed ? { rehashed: checked.rehashed } : {}),
      };
    },
  };
  return factor;
}

/** A factor the organization's policy names among the allowed ones. */
export const allowedBy = (policy: FactorPolicy, factor: { id: string }): boolean => policy.allowedFactors.includes(factor.id);
