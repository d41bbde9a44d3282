import type { Factor, FactorPerson, FactorPolicy, Proof } from './factor.js';
import { codeFactor } from './code/code.factor.js';
import { legacyPasswordFactor } from './legacy-password/legacy-password.factor.js';
import { passwordFactor } from './password/password.factor.js';
import { rememberedDeviceFactor } from './remembered-device/remembered-device.factor.js';
import { securityCodeFactor } from './security-code/security-code.factor.js';

/**
 * Every factor Gatehouse knows, one line each. Adding a factor: its folder, its line here,
 * a migration, a view (docs/architecture.md, "The factor model").
 */
export const FACTORS = [passwordFactor, legacyPasswordFactor, codeFactor, rememberedDeviceFactor, securityCodeFactor] as const;

type RecordOf<F> = F extends Factor<infer R> ? R : never;

/** What was verified in one authentication, when and how: the record one of the factors yields. */
export type VerificationRecord = RecordOf<(typeof FACTORS)[number]>;

export type FactorId = VerificationRecord['method'];

/** Every factor's id, in the registry's order: the default of an organization's allowed factors. */
export const FACTOR_IDS: readonly FactorId[] = FACTORS.map((f) => f.id);

const BY_ID = new Map<string, Factor<VerificationRecord>>(FACTORS.map((f) => [f.id, f as Factor<VerificationRecord>]));

export const isFactorId = (value: unknown): value is FactorId => typeof value === 'string' && BY_ID.has(value);

/** The factor that yielded a record (none for a record of a factor this version does not know). */
export function factorOf(record: { method: string }): Factor<VerificationRecord> | undefined {
  return BY_ID.get(record.method);
}

/** What a record proves; nothing for a record this version does not know. */
export function proofOf(record: VerificationRecord): Proof | undefined {
  return factorOf(record)?.proves(record);
}

/** The factors of a role that may serve this person under this policy, in the registry's order. */
export function availableFactors(person: FactorPerson, policy: FactorPolicy, role?: Factor['role']): Array<Factor<VerificationRecord>> {
  return FACTORS.filter((f) => (role === undefined || f.role === role) && f.availableFor(person, policy));
}

/**
 * Why a list of allowed factors cannot stand (unknown names, a factor that cannot be left out,
 * a setting that contradicts it); null when it can.
 */
export function allowedFactorsProblem(policy: FactorPolicy): string | null {
  const unknown = policy.allowedFactors.filter((id) => !isFactorId(id));
  if (unknown.length > 0) return `unknown factors: ${unknown.join(', ')} (known: ${FACTOR_IDS.join(', ')})`;
  const missing = FACTORS.filter((f) => !f.optional && !policy.allowedFactors.includes(f.id)).map((f) => f.id);
  if (missing.length > 0) return `these factors cannot be left out yet: ${missing.join(', ')}`;
  for (const f of FACTORS) {
    const problem = f.policyProblem?.(policy);
    if (problem) return problem;
  }
  return null;
}
