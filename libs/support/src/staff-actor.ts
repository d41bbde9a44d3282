import { DomainError, cleanText, codePointLength, foldKey, hasForbiddenCharacters } from '#libs/core';
import { auditMeta, type AuditEventInput } from '#libs/audit';
import type { RequestMeta } from '#libs/sessions';

export type StaffRole = 'support' | 'supervisor';

/** Who acts in the console: a staff member's id and role (the console's `@CurrentStaff()`). */
export interface StaffActor {
  id: string;
  role: StaffRole;
  /** The staff member's own address: when given, actions on an account with that email are refused (nobody acts on themselves). */
  email?: string;
}

/** Longest reason (free text or a ticket reference) a support action accepts. */
export const REASON_MAX = 500;

/** Field errors keyed like the form and JSON fields (`first_name`, `email`, `reason`, …). */
export type FieldErrors = Record<string, string>;

export function invalidInput(fieldErrors: FieldErrors): DomainError {
  return new DomainError('invalid_input', 'Please correct the fields marked below.', { fieldErrors });
}

/**
 * The reason every support action needs: free text or a ticket reference, one line of at
 * most REASON_MAX characters, nothing invisible. Returns the cleaned text or an error message.
 */
export function readReason(raw: unknown): { ok: true; value: string } | { ok: false; message: string } {
  const message = `Give a reason (free text or a ticket reference), in at most ${REASON_MAX} characters.`;
  if (typeof raw !== 'string' || raw.length > REASON_MAX * 4) return { ok: false, message };
  const value = cleanText(raw.replace(/[\r\n\t]+/gu, ' '));
  if (value === '' || codePointLength(value) > REASON_MAX || hasForbiddenCharacters(value)) return { ok: false, message };
  return { ok: true, value };
}

/** The reason, or an `invalid_input` error naming the `reason` field. */
export function requireReason(raw: unknown): string {
  const reason = readReason(raw);
  if (!reason.ok) throw invalidInput({ reason: reason.message });
  return reason.value;
}

/** Only a supervisor may do this. */
export function requireSupervisor(actor: StaffActor, what: string): void {
  if (actor.role !== 'supervisor') throw new DomainError('forbidden', `Only a supervisor can ${what}.`);
}

/**
 * Defence in depth behind the console's `assertCanActOn`: nobody acts on an end-user account
 * that has (or, after this change, would have) their own email address.
 */
export function assertNotOwnAccount(actor: StaffActor, ...emails: Array<string | null | undefined>): void {
  if (!actor.email) return;
  const mine = foldKey(actor.email.trim());
  if (emails.some((e) => typeof e === 'string' && foldKey(e.trim()) === mine)) {
    throw new DomainError('forbidden', 'You cannot act on your own account. Ask a colleague.');
  }
}

export function notFound(what: string): DomainError {
  return new DomainError('not_found', `No such ${what}.`);
}

/** An audit event of a support action: actor type `staff`, where the request came from, and the actor's role in the details. */
export function staffEvent(
  actor: StaffActor,
  meta: RequestMeta,
  event: { type: string; subject: { type: string; id: string }; organizationId: string; details: Record<string, unknown> },
): AuditEventInput {
  return {
    type: event.type,
    actor: { type: 'staff', id: actor.id },
    subject: event.subject,
    organizationId: event.organizationId,
    ...auditMeta(meta),
    details: { ...event.details, actor_role: actor.role },
  };
}
