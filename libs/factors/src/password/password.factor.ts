import { allowedBy, verifySecret, type KnowledgeFactor } from '../factor.js';

/** The Gatehouse password (argon2id): typed on the sign-in page; the first factor of every sign-in. Verified with PasswordHasher. */
export interface PasswordRecord {
  method: 'password';
  at: string;
}

export const passwordFactor: KnowledgeFactor<PasswordRecord> = {
  id: 'password',
  role: 'first',
  challenge: 'form',
  optional: false,
  availableFor: (_person, policy) => allowedBy(policy, passwordFactor),
  proves: () => ({ amr: ['pwd'], levels: [], fresh: true }),
  verify: verifySecret<PasswordRecord>('password'),
};
