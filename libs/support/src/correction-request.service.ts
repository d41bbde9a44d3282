import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '#libs/audit';
import { Clock, DomainError, isUuidAnyCase } from '#libs/core';
import type { RequestMeta } from '#libs/sessions';
import { SupportNotices } from './notices.js';
import { ProfileCorrectionService, type CorrectionResult } from './profile-correction.service.js';
import type { ProfileInput } from './profile.js';
import { notFound, readReason, requireReason, staffEvent, type StaffActor } from './staff-actor.js';
import {
  correctionRequestById,
  correctionRequestsByStatus,
  countCorrectionRequests,
  lockCorrectionRequest,
  markCorrectionRequestResolved,
  openCorrectionRequestsOfLegacy,
  rejectCorrectionRequest,
} from './support.queries.js';
import { userEmailAndName } from '#libs/identity';

export type CorrectionStatus = 'open' | 'resolved' | 'rejected';
export const CORRECTION_STATUSES: readonly CorrectionStatus[] = ['open', 'resolved', 'rejected'];

/** A correction request as the queue shows it: the user's text and whose data it is about. */
export interface CorrectionRequest {
  id: string;
  status: CorrectionStatus;
  /** What the user wrote in enrollment ("Report incorrect data"). */
  message: string;
  createdAt: Date;
  resolvedAt: Date | null;
  resolvedBy: string | null;
  resolution: string | null;
  organizationId: string;
  legacyAccount: {
    id: string;
    legacyUserId: string;
    status: 'pending' | 'enrolled';
    firstName: string;
    lastName: string;
    email: string;
    mobile: string | null;
  };
  /** Set once the account was enrolled. */
  user: { id: string; enterpriseId: string } | null;
  /** An email/mobile change from resolving it, waiting for a supervisor. */
  pendingChangeId: string | null;
}

export interface ResolveOutcome {
  request: CorrectionRequest;
  correction: CorrectionResult;
  /** `awaiting_approval`: the names are corrected, the email/mobile change waits for a supervisor; the request stays open until then. */
  status: 'resolved' | 'awaiting_approval';
}

function toRequest(r: Record<string, unknown>): CorrectionRequest {
  return {
    id: r.id as string,
    status: r.status as CorrectionStatus,
    message: r.message as string,
    createdAt: r.created_at as Date,
    resolvedAt: (r.resolved_at as Date | null) ?? null,
    resolvedBy: (r.resolved_by as string | null) ?? null,
    resolution: (r.resolution as string | null) ?? null,
    organizationId: r.organization_id as string,
    legacyAccount: {
      id: r.legacy_account_id as string,
      legacyUserId: r.legacy_user_id as string,
      status: r.account_status as 'pending' | 'enrolled',
      firstName: r.first_name as string,
      lastName: r.last_name as string,
      email: r.email as string,
      mobile: (r.mobile as string | null) ?? null,
    },
    user: r.user_id ? { id: r.user_id as string, enterpriseId: r.enterprise_id as string } : null,
    pendingChangeId: (r.pending_change_id as string | null) ?? null,
  };
}

/**
 * The queue of correction requests that users raise in enrollment ("Report incorrect
 * data"): open, resolved or rejected. Resolving applies the correction with the rules of
 * ProfileCorrectionService: on a pending legacy account at once (the next enrollment shows
 * the corrected data); on an account enrolled since, names at once and email/mobile after a
 * supervisor's approval (the request is resolved by that approval). Rejecting needs a reason.
 * The user hears of either outcome by a link-free email.
 */
@Injectable()
export class CorrectionRequestService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly corrections: ProfileCorrectionService,
    private readonly notices: SupportNotices,
  ) {}

  /** The queue, oldest first; `status` narrows it (open by default). */
  async list(
    options: { status?: CorrectionStatus; limit?: number; offset?: number } = {},
  ): Promise<{ total: number; items: CorrectionRequest[] }> {
    const status = options.status ?? 'open';
    const limit = Math.min(100, Math.max(1, options.limit ?? 50));
    const offset = Math.max(0, options.offset ?? 0);
    const [count] = await countCorrectionRequests(this.dataSource, [status]);
    const rows = await correctionRequestsByStatus(this.dataSource, [status, limit, offset]);
    return { total: Number(count?.n ?? 0), items: rows.map(toRequest) };
  }

  async get(id: string, manager: EntityManager = this.dataSource.manager): Promise<CorrectionRequest | null> {
    if (!isUuidAnyCase(id)) return null;
    const rows = await correctionRequestById(manager, [id]);
    return rows[0] ? toRequest(rows[0]) : null;
  }

  /** Open requests about a legacy account (for the person page). */
  async openForLegacyAccount(legacyAccountId: string): Promise<CorrectionRequest[]> {
    if (!isUuidAnyCase(legacyAccountId)) return [];
    const rows = await openCorrectionRequestsOfLegacy(this.dataSource, [legacyAccountId]);
    return rows.map(toRequest);
  }

  /**
   * Applies the correction and closes the request (or, for an email/mobile change of an
   * enrolled user, leaves it open until a supervisor decides). A resolution may change
   * nothing when the data turned out right. Throws `already_closed` and `awaiting_approval`.
   */
  async resolve(actor: StaffActor, id: string, input: ProfileInput, reason: unknown, meta: RequestMeta = {}): Promise<ResolveOutcome> {
    // Checked with the fields by the correction, so that every problem shows at once.
    const checkedReason = readReason(reason);
    const why = checkedReason.ok ? checkedReason.value : '';
    const sent: string[] = [];
    const outcome = await this.corrections.inTransaction(async (m) => {
      const request = await this.lockOpen(m, id);
      const account = request.legacyAccount;
      const options = { correctionRequestId: request.id, allowNoChange: true } as const;
      let correction: CorrectionResult;
      if (account.status === 'pending') {
        correction = await this.corrections.correctLegacyIn(m, actor, account.id, input, reason, meta, sent, {
          ...options,
          notice: 'correction_resolved',
        });
      } else {
        if (!request.user) throw notFound('user');
        correction = await this.corrections.correctUserIn(m, actor, request.user.id, input, reason, meta, sent, options);
      }
      if (correction.pending) return { correction, status: 'awaiting_approval' as const };
      await markCorrectionRequestResolved(m, [request.id, this.clock.now(), actor.id, why]);
      await this.audit.record(
        staffEvent(actor, meta, {
          type: 'support.correction_resolved',
          subject: request.user ? { type: 'user', id: request.user.id } : { type: 'legacy_account', id: account.id },
          organizationId: request.organizationId,
          details: { correction_request_id: request.id, reason: why, changes: correction.diff },
        }),
        m,
      );
      return { correction, status: 'resolved' as const };
    });
    this.notices.deliver(sent);
    return { ...outcome, request: (await this.get(id))! };
  }

  /** Closes the request without changing anything; the reason is kept (staff-internal) and the user is told. */
  async reject(actor: StaffActor, id: string, reason: unknown, meta: RequestMeta = {}): Promise<CorrectionRequest> {
    const why = requireReason(reason);
    const sent: string[] = [];
    await this.dataSource.transaction(async (m) => {
      const request = await this.lockOpen(m, id);
      const now = this.clock.now();
      await rejectCorrectionRequest(m, [request.id, now, actor.id, why]);
      await this.audit.record(
        staffEvent(actor, meta, {
          type: 'support.correction_rejected',
          subject: request.user ? { type: 'user', id: request.user.id } : { type: 'legacy_account', id: request.legacyAccount.id },
          organizationId: request.organizationId,
          details: { correction_request_id: request.id, reason: why },
        }),
        m,
      );
      const to = request.user ? await this.userEmail(m, request.user.id) : null;
      sent.push(
        await this.notices.email(
          m,
          to?.email ?? request.legacyAccount.email,
          'correction_rejected',
          {
            firstName: to?.firstName ?? request.legacyAccount.firstName,
            at: now,
          },
          request.user ? { type: 'user', id: request.user.id } : { type: 'legacy_account', id: request.legacyAccount.id },
        ),
      );
    });
    this.notices.deliver(sent);
    return (await this.get(id))!;
  }

  private async lockOpen(m: EntityManager, id: string): Promise<CorrectionRequest> {
    if (!isUuidAnyCase(id)) throw notFound('correction request');
    const [locked] = await lockCorrectionRequest(m, [id]);
    if (!locked) throw notFound('correction request');
    const request = (await this.get(id, m))!;
    if (request.status !== 'open') {
      throw new DomainError('already_closed', `This correction request was already ${request.status}.`, { status: request.status });
    }
    if (request.pendingChangeId) {
      throw new DomainError(
        'awaiting_approval',
        'The email or mobile change from this request is waiting for a supervisor: approve, reject or cancel it first.',
        { changeId: request.pendingChangeId },
      );
    }
    return request;
  }

  private async userEmail(m: EntityManager, userId: string): Promise<{ email: string; firstName: string } | null> {
    const [row] = await userEmailAndName(m, [userId]);
    return row ? { email: row.email, firstName: row.first_name } : null;
  }
}
