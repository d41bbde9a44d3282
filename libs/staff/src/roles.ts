import { auditMeta, type AuditEventInput } from '#libs/audit';
import { DomainError, foldKey } from '#libs/core';

export type StaffRole = 'support' | 'supervisor';
export const STAFF_ROLES: readonly StaffRole[] = ['support', 'supervisor'];

export function isStaffRole(value: unknown): value is StaffRole {
  return typeof value === 'string' && (STAFF_ROLES as readonly string[]).includes(value);
}

/** The signed-in staff member, as the console hands it to controllers (`req.staff`, `@CurrentStaff()`). */
export interface StaffPrincipal {
  id: string;
  email: string;
  name: string;
  role: StaffRole;
}

/** Whether a staff member with `actual` may do what needs `required`: a supervisor can do everything support can. */
export function hasRole(actual: StaffRole, required: StaffRole): boolean {
  return actual === required || (actual === 'supervisor' && required === 'support');
}

/** Whom a console action is about. `email` (an end user's address), when given, also catches a staff member's own user account. */
export interface ActionTarget {
  type: 'user' | 'legacy_account' | 'staff';
  id: string;
  email?: string | null;
}

/**
 * The two rules of the issue, for every console action: a staff member never acts on their
 * own account (their staff account, or an end-user account with their own email address),
 * and `support` never acts on staff. Throws DomainError `forbidden` (403).
 */
export function assertCanActOn(staff: Pick<StaffPrincipal, 'id' | 'email' | 'role'>, target: ActionTarget): void {
  if (target.type === 'staff') {
    if (target.id === staff.id) throw new DomainError('forbidden', 'You cannot act on your own account.');
    if (!hasRole(staff.role, 'supervisor')) throw new DomainError('forbidden', 'Only a supervisor can act on staff accounts.');
    return;
  }
  if (target.email && sameMailbox(target.email, staff.email)) {
    throw new DomainError('forbidden', 'You cannot act on your own account. Ask a colleague.');
  }
}

/** Case-insensitive address comparison (NFKC, whole address folded), as good as it needs to be for "is this me". */
function sameMailbox(a: string, b: string): boolean {
  return foldKey(a.trim()) === foldKey(b.trim());
}

/** The audit event of a refused anonymous attempt on a staff account: the account when one was named (else no subject), and why. */
export function refusedAttempt(
  type: string,
  staffId: string | null,
  meta: Parameters<typeof auditMeta>[0],
  reason: string,
): AuditEventInput {
  return {
    type,
    actor: { type: 'anonymous' },
    subject: staffId ? { type: 'staff', id: staffId } : null,
    ...auditMeta(meta),
    details: { reason },
  };
}
