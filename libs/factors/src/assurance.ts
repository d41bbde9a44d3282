import { compareLevels, type Level } from './levels.js';
import { factorOf, proofOf, type VerificationRecord } from './registry.js';

/**
 * A session's `acr` and `amr`, derived from its verification records in one place, by asking
 * each record's factor what it proves (never by a factor's name).
 */

/** The highest level the records reach, if one of them is a first factor; null otherwise. */
export function acrOf(records: readonly VerificationRecord[]): Level | null {
  if (!records.some((r) => factorOf(r)?.role === 'first')) return null;
  let best: Level | null = null;
  for (const r of records) {
    for (const level of proofOf(r)?.levels ?? []) if (best === null || compareLevels(level, best) > 0) best = level;
  }
  return best;
}

/** RFC 8176 values of every record, in order, each once (`pwd`; `otp` with `sms`/`tel` for a code's channel). */
export function amrOf(records: readonly VerificationRecord[]): string[] {
  const amr = new Set<string>();
  for (const r of records) for (const value of proofOf(r)?.amr ?? []) amr.add(value);
  return [...amr];
}

/** Whether a second factor was verified by the person in this authentication (what a fresh login is asked for). */
const freshSecond = (r: VerificationRecord): boolean => factorOf(r)?.role === 'second' && proofOf(r)?.fresh === true;

export function hasFreshSecondFactor(records: readonly VerificationRecord[]): boolean {
  return records.some(freshSecond);
}

/** The time of the latest second factor the person verified (step-up freshness), if any. */
export function lastFreshSecondFactorAt(records: readonly VerificationRecord[]): Date | null {
  const times = records.filter(freshSecond).map((r) => new Date(r.at).getTime());
  return times.length ? new Date(Math.max(...times)) : null;
}

/**
 * Whether the records prove a person who lost their way in: a recovery factor (the security
 * code) and a second factor the person verified now (a code to a verified contact), never one
 * of them alone.
 */
export function recoveryProven(records: readonly VerificationRecord[]): boolean {
  return records.some((r) => factorOf(r)?.role === 'recovery') && records.some(freshSecond);
}

/** How the audit trail names a record: its factor, and the channel a code went by. */
export function describeRecord(record: VerificationRecord): string {
  return 'channel' in record ? `${record.method}:${record.channel}` : record.method;
}

/**
 * Whether a second factor verified without a challenge (a remembered device) completes an
 * authentication: always, unless a fresh one is asked and it is not.
 */
export function completes(record: VerificationRecord, freshRequired: boolean): boolean {
  return factorOf(record)?.role === 'second' && (!freshRequired || proofOf(record)?.fresh === true);
}
