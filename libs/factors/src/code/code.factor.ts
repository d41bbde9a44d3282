import type { Channel } from '#libs/core';
import { availableChannels } from '#libs/otp';
import { allowedBy, type Factor } from '../factor.js';
import { LOA1, LOA2 } from '../levels.js';

/**
 * A one-time code by message (email, SMS or voice call): issued, resent and verified by the one
 * code step (libs/otp: the pure machine in code-step.ts and CodeStepService around it). Its
 * record is the code step's `CodeVerification`.
 */
export interface CodeRecord {
  method: 'otp';
  channel: Channel;
  at: string;
}

/** RFC 8176: `sms` for a text message, `tel` for a voice call; an email code adds nothing. */
const CHANNEL_AMR: Record<Channel, readonly string[]> = { email: [], sms: ['sms'], voice: ['tel'] };

export const codeFactor: Factor<CodeRecord> = {
  id: 'otp',
  role: 'second',
  challenge: 'code',
  // The code by email is everyone's way in until another second factor can stand in for it.
  optional: false,
  availableFor: (person, policy) => allowedBy(policy, codeFactor) && availableChannels(person, policy).length > 0,
  proves: (record) => ({ amr: ['otp', ...CHANNEL_AMR[record.channel]], levels: [LOA1, LOA2], fresh: true }),
};
