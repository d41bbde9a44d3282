import { allowedBy, verifySecret, type KnowledgeFactor } from '../factor.js';

/** An imported legacy password, verified once (with LEGACY_HASH_CHECK) to start enrollment, then retired. */
export interface LegacyPasswordRecord {
  method: 'legacy_password';
  at: string;
}

export const legacyPasswordFactor: KnowledgeFactor<LegacyPasswordRecord> = {
  id: 'legacy_password',
  role: 'first',
  challenge: 'form',
  // Pending imported accounts enroll with it.
  optional: false,
  availableFor: (_person, policy) => allowedBy(policy, legacyPasswordFactor),
  proves: () => ({ amr: ['pwd'], levels: [], fresh: true }),
  verify: verifySecret<LegacyPasswordRecord>('legacy_password'),
};
