import { allowedBy, verifySecret, type KnowledgeFactor } from '../factor.js';

/** The security code the person chose at enrollment (argon2id, verified with PasswordHasher): proves them in recovery, with a code. */
export interface SecurityCodeRecord {
  method: 'security_code';
  at: string;
}

export const securityCodeFactor: KnowledgeFactor<SecurityCodeRecord> = {
  id: 'security_code',
  role: 'recovery',
  challenge: 'form',
  // Recovery needs it.
  optional: false,
  availableFor: (_person, policy) => allowedBy(policy, securityCodeFactor),
  proves: () => ({ amr: [], levels: [], fresh: true }),
  verify: verifySecret<SecurityCodeRecord>('security_code'),
};
