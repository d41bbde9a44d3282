/**
 * The organization's emergency-contact policy and what it asks of one user, as pure
 * functions: which required contacts are still unverified, and whether a session must be
 * asked to verify them (with or without "Remind me later").
 */

export type EmergencyContactKind = 'email' | 'phone';

export interface ContactPolicy {
  requireEmail: boolean;
  requirePhone: boolean;
  /** How many times a user may answer "Remind me later" (0: never). */
  reminderLimit: number;
}

export interface ContactStanding {
  emailVerified: boolean;
  phoneVerified: boolean;
  /** "Remind me later" answers so far (per user, across sessions). */
  remindersUsed: number;
  /** Whether this session already answered "Remind me later". */
  deferredThisSession: boolean;
}

export type ContactPrompt =
  | { ask: false; missing: EmergencyContactKind[] }
  | { ask: true; missing: EmergencyContactKind[]; remindersLeft: number; canDefer: boolean };

export const DEFAULT_CONTACT_POLICY: Readonly<ContactPolicy> = Object.freeze({
  requireEmail: false,
  requirePhone: false,
  reminderLimit: 3,
});

/** Required contacts that are not verified (a contact that is set but unverified counts as missing). */
export function missingContacts(
  policy: ContactPolicy,
  standing: Pick<ContactStanding, 'emailVerified' | 'phoneVerified'>,
): EmergencyContactKind[] {
  const missing: EmergencyContactKind[] = [];
  if (policy.requireEmail && !standing.emailVerified) missing.push('email');
  if (policy.requirePhone && !standing.phoneVerified) missing.push('phone');
  return missing;
}

export function remindersLeft(policy: ContactPolicy, remindersUsed: number): number {
  return Math.max(0, policy.reminderLimit - remindersUsed);
}

/**
 * Whether to ask now. Nothing missing, or a session that already chose "Remind me later",
 * is not asked (again); otherwise the user is asked, and may postpone only while reminders
 * are left.
 */
export function contactPrompt(policy: ContactPolicy, standing: ContactStanding): ContactPrompt {
  const missing = missingContacts(policy, standing);
  if (missing.length === 0 || standing.deferredThisSession) return { ask: false, missing };
  const left = remindersLeft(policy, standing.remindersUsed);
  return { ask: true, missing, remindersLeft: left, canDefer: left > 0 };
}
