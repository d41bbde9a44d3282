import { createHash } from 'node:crypto';
import { sessionEnded } from '#libs/account';
import { auditMeta, type AuditEventInput } from '#libs/audit';
import type { Channel } from '#libs/core';
import type { Queryable } from '#libs/database';
import type { Directory, UserRecord } from '#libs/identity';
import type { Delivery, StepError } from '#libs/otp';
import type { RequestMeta } from '#libs/sessions';
import type { PhoneChannel, PhoneKind } from './phone.js';
import { DEFAULT_CONTACT_POLICY, type ContactPolicy, type EmergencyContactKind } from './policy.js';
import { contactRowOf } from './emergency-contacts.queries.js';

/** Who is acting: the signed-in user in a session (pages, session API), or a relying app with the user's access token. */
export interface ContactActor {
  userId: string;
  sessionId?: string;
  clientId?: string;
}

export interface PendingCode {
  channel: Channel;
  expiresAt: Date;
  delivery: Delivery;
}

export interface EmergencyContacts {
  email: { address: string | null; verifiedAt: Date | null; pending: PendingCode | null };
  phone: {
    number: string | null;
    kind: PhoneKind | null;
    channels: PhoneChannel[];
    verifiedAt: Date | null;
    verifiedBy: PhoneChannel | null;
    pending: PendingCode | null;
  };
  policy: ContactPolicy & { remindersUsed: number; remindersLeft: number };
  /** Contacts the policy requires that are not verified. */
  missing: EmergencyContactKind[];
}

/**
 * What a change did. `ok: false`: nothing changed (bad input, a wrong code, no reminder
 * left); `error` says why and `field` names the input. `ok: true` may still carry an error:
 * the contact was saved but its code could not be sent (cooldown, hourly cap, delivery).
 */
export interface ContactOutcome {
  ok: boolean;
  status?: 'saved' | 'unchanged' | 'code_sent' | 'verified' | 'removed' | 'deferred';
  error?: StepError;
  field?: 'email' | 'phone' | 'channel' | 'code';
  delivery?: Delivery;
}

export interface ContactRow {
  email: string | null;
  email_key: string | null;
  email_verified_at: Date | null;
  email_challenge_id: string | null;
  email_message_id: string | null;
  email_code_expires_at: Date | null;
  phone: string | null;
  phone_type: PhoneKind | null;
  phone_verified_at: Date | null;
  phone_verified_by: PhoneChannel | null;
  phone_challenge_id: string | null;
  phone_message_id: string | null;
  phone_code_channel: PhoneChannel | null;
  phone_code_expires_at: Date | null;
  reminders_used: number;
}

/** The row of a user who never set a contact. */
export const EMPTY_ROW: ContactRow = {
  email: null,
  email_key: null,
  email_verified_at: null,
  email_challenge_id: null,
  email_message_id: null,
  email_code_expires_at: null,
  phone: null,
  phone_type: null,
  phone_verified_at: null,
  phone_verified_by: null,
  phone_challenge_id: null,
  phone_message_id: null,
  phone_code_channel: null,
  phone_code_expires_at: null,
  reminders_used: 0,
};

export const fail = (code: string, message: string, field?: ContactOutcome['field']): ContactOutcome => ({
  ok: false,
  error: { code, message },
  ...(field ? { field } : {}),
});

/** Thrown inside a transaction to roll it back with an answer for the caller. */
export class Rollback extends Error {
  constructor(readonly outcome: ContactOutcome) {
    super(outcome.error?.code ?? 'rollback');
  }
}

/**
 * The code of an emergency contact is bound to its value: the OTP's flow id is derived from
 * the contact's kind and comparison key, so a code sent to one address or number never
 * verifies another, even one set a moment later.
 */
export function contactBinding(kind: EmergencyContactKind, key: string): string {
  return `emergency_contact:${kind}:${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 40)}`;
}

/** The policy columns this feature added to `organization_policies`, as its statements select them (null: no policy row). */
export interface PolicyColumns {
  require_email: boolean | null;
  require_phone: boolean | null;
  reminder_limit: number | null;
}

/** An organization's contact policy from its row; the defaults when it has none. */
export function policyOf(r: PolicyColumns | undefined): ContactPolicy {
  if (!r || r.require_email === null) return { ...DEFAULT_CONTACT_POLICY };
  return { requireEmail: r.require_email, requirePhone: r.require_phone === true, reminderLimit: r.reminder_limit ?? 0 };
}

export function kindName(kind: EmergencyContactKind): string {
  return kind === 'email' ? 'email address' : 'phone number';
}

/** The contact of this kind as it is now: its value, comparison key, code in flight and verification. */
export function contactOf(row: ContactRow, kind: EmergencyContactKind) {
  return kind === 'email'
    ? { value: row.email, key: row.email_key, challengeId: row.email_challenge_id, verifiedAt: row.email_verified_at }
    : { value: row.phone, key: row.phone, challengeId: row.phone_challenge_id, verifiedAt: row.phone_verified_at };
}

/** Where the request came from and on whose behalf, as the OTP engine records it. */
export function otpContext(user: UserRecord, meta: RequestMeta) {
  return {
    actor: { type: 'user' as const, id: user.id },
    organizationId: user.organizationId,
    ...auditMeta(meta),
  };
}

/** The audit event of a user changing their own contacts, in a session or through a relying app. */
export function contactEvent(
  user: UserRecord,
  actor: ContactActor,
  meta: RequestMeta,
  type: string,
  details: Record<string, unknown>,
): AuditEventInput {
  const { actor: by, ...origin } = otpContext(user, meta);
  return {
    type,
    actor: by,
    subject: { type: 'user', id: user.id },
    ...origin,
    details: {
      ...details,
      via: actor.clientId ? 'access_token' : 'session',
      ...(actor.sessionId ? { session_id: actor.sessionId } : {}),
      ...(actor.clientId ? { client_id: actor.clientId } : {}),
    },
  };
}

/** The user acting on their contacts, who must still be active (else their session has ended). */
export async function activeUser(directory: Directory, userId: string): Promise<UserRecord> {
  const user = await directory.user(userId);
  if (!user || user.status !== 'active') throw sessionEnded();
  return user;
}

/** The user's contact row as it is now (no lock); an empty one when they never set a contact. */
export async function currentRow(db: Queryable, userId: string): Promise<ContactRow> {
  const rows = await contactRowOf(db, [userId]);
  return rows[0] ?? EMPTY_ROW;
}
