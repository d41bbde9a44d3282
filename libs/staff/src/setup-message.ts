import { containsLink, plainText } from '#libs/notifications';
import type { StaffRole } from './roles.js';

export interface StaffSetupMessageInput {
  name: string;
  role: StaffRole;
  /** As generateSetupCode() formats it. */
  code: string;
  expiresAt: Date;
}

/**
 * `staff_setup`: the email that carries a new staff member's one-time setup code. Plain
 * text, link-free like every Gatehouse message (the console's address is something staff
 * get from their team, never from a message). The code is in the body only, not in the
 * subject, which mail clients show on lock screens.
 */
export function staffSetupMessage(input: StaffSetupMessageInput): { subject: string; text: string } {
  if (!/^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$/u.test(input.code)) throw new RangeError('not a setup code');
  const name = plainText(input.name, 60);
  const until = `${new Intl.DateTimeFormat('en', { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC', hour12: false }).format(input.expiresAt)} UTC`;
  const subject = 'Your Gatehouse support console account';
  const text = [
    name ? `Hello ${name},` : 'Hello,',
    '',
    `An account with the role "${input.role}" was created for you in the Gatehouse support console.`,
    'To set it up, open the support console at the address your team gave you, choose "Set up your account",',
    'enter this one-time setup code and choose a password:',
    '',
    `    ${input.code}`,
    '',
    `The code is valid until ${until} and can be used once. Setting up your account also confirms this email address.`,
    'Every sign-in to the console then needs your password and a one-time code sent to this address.',
    '',
    'Never share this code. Gatehouse never asks for it by phone, and never sends links.',
    'If you did not expect this message, tell your supervisor.',
    '',
  ].join('\n');
  if (containsLink(subject) || containsLink(text)) throw new Error('A message template produced link-like text; refusing to send it');
  return { subject, text };
}
