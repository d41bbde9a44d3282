import { lastFreshSecondFactorAt } from '#libs/factors';

/**
 * What was verified in one authentication, when and how. A session's `acr` and `amr` are
 * derived from these records, never from flags: the records and the derivation live with the
 * factors that yield them (libs/factors); sessions store and read them.
 */
export { LOA1, LOA2, acrOf, amrOf, type VerificationRecord } from '#libs/factors';

/** The time of the latest second factor the person verified (a code today), if any (step-up freshness). */
export const lastOtpAt = lastFreshSecondFactorAt;
