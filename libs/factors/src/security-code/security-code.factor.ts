import { knowledgeFactor } from '../factor.js';

/** The security code the person chose at enrollment (argon2id, checked with PasswordHasher): proves them in recovery, with a code. */
export interface SecurityCodeRecord {
  method: 'security_code';
  at: string;
}

export const securityCodeFactor = knowledgeFactor<SecurityCodeRecord>({
  id: 'security_code',
  role: 'recovery',
  // Recovery needs it.
  optional: false,
  amr: [],
});
