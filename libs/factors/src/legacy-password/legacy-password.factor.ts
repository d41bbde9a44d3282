import { knowledgeFactor } from '../factor.js';

/** An imported legacy password, verified once (with libs/identity LEGACY_HASH_CHECK) to start enrollment, then retired. */
export interface LegacyPasswordRecord {
  method: 'legacy_password';
  at: string;
}

export const legacyPasswordFactor = knowledgeFactor<LegacyPasswordRecord>({
  id: 'legacy_password',
  role: 'first',
  // Pending imported accounts enroll with it.
  optional: false,
  amr: ['pwd'],
});
