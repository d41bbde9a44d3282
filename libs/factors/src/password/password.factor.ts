import { knowledgeFactor } from '../factor.js';

/** The Gatehouse password (argon2id, checked with PasswordHasher): typed on the sign-in page; the first factor of every sign-in. */
export interface PasswordRecord {
  method: 'password';
  at: string;
}

export const passwordFactor = knowledgeFactor<PasswordRecord>({
  id: 'password',
  role: 'first',
  optional: false,
  amr: ['pwd'],
});
