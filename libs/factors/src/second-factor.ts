import type { FactorPerson, FactorPolicy } from './factor.js';
import { FACTORS, availableFactors, factorOf, type FactorId, type VerificationRecord } from './registry.js';

/**
 * The second-factor step of a sign-in (or a step-up), factor-blind: which factors it offers the
 * person, and whether a record may answer it. The flows' machines ask these; no flow names a
 * factor. A factor that challenges the person (a code today; an authenticator app or a passkey
 * next) is offered at the step; one the browser presents without the person (a remembered
 * device) stands in before the step, never at it.
 */

/** Every second factor that challenges the person: what a step stored before it recorded its offer accepts. */
export const SECOND_FACTORS_THAT_CHALLENGE: readonly FactorId[] = FACTORS.filter(
  (f) => f.role === 'second' && f.challenge !== 'cookie',
).map((f) => f.id);

/** The second factors a step offers this person under this policy, in the registry's order. */
export function secondFactorsOffered(person: FactorPerson, policy: FactorPolicy): FactorId[] {
  return availableFactors(person, policy, 'second')
    .filter((f) => f.challenge !== 'cookie')
    .map((f) => f.id);
}

/**
 * Why a record cannot answer a second-factor step that offered `offered`; null when it can: it
 * must come from a second factor the step offered, verified by the person in this step (fresh).
 */
export function secondFactorRefusal(record: VerificationRecord, offered: readonly string[]): string | null {
  const factor = factorOf(record);
  if (!factor) return `unknown factor ${record.method}`;
  if (factor.role !== 'second') return `${factor.id} is not a second factor`;
  if (!offered.includes(factor.id)) return `${factor.id} was not offered at this step`;
  if (!factor.proves(record).fresh) return `${factor.id} does not answer a challenge`;
  return null;
}
