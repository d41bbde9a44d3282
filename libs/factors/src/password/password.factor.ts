import { allowedBy, type Factor } from '../factor.js';

/** The Gatehouse password (argon2id): typed on the sign-in page; the first factor of every sign-in. */
export interface PasswordRecord {
  method: 'password';
  at: string;
}

export const passwordFactor: Factor<PasswordRecord> = {
  id: 'password',
  role: 'first',
  challenge: 'form',
  optional: false,
  availableFor: (_person, policy) => allowedBy(policy, passwordFactor),
  proves: () => ({ amr: ['pwd'], levels: [], fresh: true }),
};
