import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '#libs/audit';
import { Clock, DomainError, isUuidAnyCase } from '#libs/core';
import { checkEmail, setUserEmail, setUserMobile, userContactsForUpdate } from '#libs/identity';
import { RememberedDeviceService, type RequestMeta } from '#libs/sessions';
import { SupportNotices } from './notices.js';
import { toPendingChange, type PendingChange } from './pending-change.js';
import type { ProfileField } from './profile.js';
import { assertNotOwnAccount, notFound, requireReason, requireSupervisor, staffEvent, type StaffActor } from './staff-actor.js';
import {
  approveContactChange,
  contactChangeById,
  contactChangeForUpdate,
  decideContactChange,
  pendingContactChangeOfUser,
  pendingContactChanges,
  resolveCorrectionRequest,
} from './support.queries.js';

/** A pending change with who it is about, for the approvals page. */
export interface PendingChangeListing extends PendingChange {
  user: { enterpriseId: string; firstName: string; lastName: string; status: 'active' | 'disabled' };
}

function alreadyDecided(change: PendingChange): DomainError {
  return new DomainError('already_decided', `This change was already ${change.status}.`, { status: change.status });
}

/**
 * Four-eyes on the contacts of enrolled users. An email or mobile change that support asked
 * for takes effect only when another staff member with the supervisor role approves it (never
 * the one who asked; the console also keeps staff from acting on their own account). On
 * approval, in one transaction: the contact takes the new value and is marked unverified (a
 * mobile is no OTP channel until the user verifies it with a code; see README), every
 * remembered device is revoked (the next sign-in needs a code), a correction request the
 * change came from is resolved, the decision is audited and a link-free notice goes to the
 * previous contact.
 */
@Injectable()
export class ContactApprovalService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly devices: RememberedDeviceService,
    private readonly notices: SupportNotices,
  ) {}

  /** Changes waiting for a decision, oldest first. */
  async pending(page: { limit?: number; offset?: number } = {}): Promise<{ total: number; items: PendingChangeListing[] }> {
    const limit = Math.min(100, Math.max(1, page.limit ?? 50));
    const offset = Math.max(0, page.offset ?? 0);
    const rows = await pendingContactChanges(this.dataSource, [limit, offset]);
    return {
      total: rows[0] ? Number(rows[0].total) : 0,
      items: rows.map((r) => ({
        ...toPendingChange(r),
        user: {
          enterpriseId: r.enterprise_id as string,
          firstName: r.first_name as string,
          lastName: r.last_name as string,
          status: r.user_status as 'active' | 'disabled',
        },
      })),
    };
  }

  async get(id: string): Promise<PendingChange | null> {
    if (!isUuidAnyCase(id)) return null;
    const rows = await contactChangeById(this.dataSource, [id]);
    return rows[0] ? toPendingChange(rows[0]) : null;
  }

  /** The change of this user waiting for a decision, if any. */
  async pendingForUser(userId: string): Promise<PendingChange | null> {
    if (!isUuidAnyCase(userId)) return null;
    const rows = await pendingContactChangeOfUser(this.dataSource, [userId]);
    return rows[0] ? toPendingChange(rows[0]) : null;
  }

  /**
   * A supervisor other than the requester approves: the change takes effect. Throws
   * `forbidden` for a support role, `four_eyes` for the requester, `already_decided`, and
   * `stale_change` when the contact on file is no longer the one the request started from.
   */
  async approve(actor: StaffActor, changeId: string, meta: RequestMeta = {}): Promise<PendingChange> {
    requireSupervisor(actor, 'approve an email or mobile change');
    const sent: string[] = [];
    const result = await this.dataSource.transaction(async (m) => {
      const change = await this.lock(m, changeId);
      if (change.requestedBy === actor.id) {
        throw new DomainError('four_eyes', 'You asked for this change: another supervisor must approve it.');
      }
      const [user] = await userContactsForUpdate(m, [change.userId]);
      if (!user) throw notFound('user');
      const about = { type: 'user', id: change.userId };
      const { email, mobile } = change.changes;
      assertNotOwnAccount(actor, user.email, email?.after);
      if ((email && email.before !== user.email) || (mobile && mobile.before !== user.mobile)) {
        throw new DomainError(
          'stale_change',
          'The email or mobile number on file changed since this was requested. Reject this change and ask again.',
        );
      }
      const now = this.clock.now();
      if (email) {
        const checked = checkEmail(email.after ?? '');
        if (!checked.ok) throw new DomainError('stale_change', 'The requested email address is no longer valid. Reject this change.');
        await setUserEmail(m, [change.userId, checked.value.display, checked.value.key, now]);
      }
      if (mobile) {
        await setUserMobile(m, [change.userId, mobile.after, now]);
      }
      const [decided] = await approveContactChange(m, [change.id, actor.id, now]);
      // Remembered devices skip the code; the next sign-in must send one, by the new contacts.
      const revoked = await this.devices.revoke(
        change.userId,
        'all',
        { type: 'staff', id: actor.id },
        'contact changed by support',
        meta,
        m,
      );
      let resolvedRequest: string | null = null;
      if (change.correctionRequestId) {
        const [resolved] = await resolveCorrectionRequest(m, [change.correctionRequestId, now, actor.id, change.reason]);
        resolvedRequest = resolved[0]?.id ?? null;
      }
      const fields = (['email', 'mobile'] as const).filter((f) => change.changes[f]) as ProfileField[];
      await this.audit.record(
        staffEvent(actor, meta, {
          type: 'support.contact_change_approved',
          subject: { type: 'user', id: change.userId },
          organizationId: user.organization_id,
          details: {
            change_id: change.id,
            requested_by: change.requestedBy,
            reason: change.reason,
            changes: change.changes,
            devices_revoked: revoked,
            ...(resolvedRequest ? { correction_request_id: resolvedRequest } : {}),
          },
        }),
        m,
      );
      if (resolvedRequest) {
        await this.audit.record(
          staffEvent(actor, meta, {
            type: 'support.correction_resolved',
            subject: { type: 'user', id: change.userId },
            organizationId: user.organization_id,
            details: { correction_request_id: resolvedRequest, change_id: change.id, reason: change.reason },
          }),
          m,
        );
      }
      // To the previous contact: if the change was not wanted, its owner hears of it where they still are.
      sent.push(
        await this.notices.email(m, user.email, 'contact_changed_by_support', { firstName: user.first_name, fields, at: now }, about),
      );
      if (mobile?.before) sent.push(await this.notices.mobileReplaced(m, mobile.before, now, about));
      return toPendingChange(decided[0]!);
    });
    this.notices.deliver(sent);
    return result;
  }

  /** A supervisor turns the change down (with a reason); nothing changes for the user. */
  async reject(actor: StaffActor, changeId: string, reason: unknown, meta: RequestMeta = {}): Promise<PendingChange> {
    requireSupervisor(actor, 'reject an email or mobile change');
    const why = requireReason(reason);
    return await this.decide(actor, changeId, 'rejected', why, meta);
  }

  /** The staff member who asked withdraws the request (with a reason). */
  async cancel(actor: StaffActor, changeId: string, reason: unknown, meta: RequestMeta = {}): Promise<PendingChange> {
    const why = requireReason(reason);
    return await this.decide(actor, changeId, 'cancelled', why, meta);
  }

  private async decide(
    actor: StaffActor,
    changeId: string,
    status: 'rejected' | 'cancelled',
    reason: string,
    meta: RequestMeta,
  ): Promise<PendingChange> {
    return await this.dataSource.transaction(async (m) => {
      const change = await this.lock(m, changeId);
      if (status === 'cancelled' && change.requestedBy !== actor.id) {
        throw new DomainError('forbidden', 'Only the staff member who asked for this change can cancel it; a supervisor can reject it.');
      }
      const [decided] = await decideContactChange(m, [change.id, status, actor.id, this.clock.now(), reason]);
      await this.audit.record(
        staffEvent(actor, meta, {
          type: `support.contact_change_${status}`,
          subject: { type: 'user', id: change.userId },
          organizationId: change.organizationId,
          details: { change_id: change.id, requested_by: change.requestedBy, reason },
        }),
        m,
      );
      return toPendingChange(decided[0]!);
    });
  }

  private async lock(m: EntityManager, changeId: string): Promise<PendingChange> {
    if (!isUuidAnyCase(changeId)) throw notFound('change');
    const [row] = await contactChangeForUpdate(m, [changeId]);
    if (!row) throw notFound('change');
    const change = toPendingChange(row);
    if (change.status !== 'pending') throw alreadyDecided(change);
    return change;
  }
}
