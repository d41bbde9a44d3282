import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '#libs/audit';
import { Clock, DomainError, isUuidAnyCase } from '#libs/core';
import type { RequestMeta } from '#libs/sessions';
import { toPendingChange, type PendingChange } from './pending-change.js';
import {
  changedFields,
  checkProfile,
  isEmpty,
  splitForApproval,
  type ProfileDiff,
  type ProfileInput,
  type ProfileValues,
} from './profile.js';
import { SupportNotices } from './notices.js';
import { assertNotOwnAccount, invalidInput, notFound, readReason, staffEvent, type StaffActor } from './staff-actor.js';
import { insertContactChange, pendingContactChangeIdOfUser } from './support.queries.js';
import { correctLegacyAccount, legacyAccountForCorrection, setUserNames, userProfileForUpdate } from '#libs/identity';

export interface CorrectionResult {
  subject: { type: 'legacy_account' | 'user'; id: string };
  /** Everything that differs from the data on file: what the console shows as before/after. */
  diff: ProfileDiff;
  /** What took effect now. */
  applied: ProfileDiff;
  /** Email/mobile of an enrolled user: waits for a supervisor (four-eyes). */
  pending: PendingChange | null;
}

export interface CorrectionOptions {
  /** The correction request this resolves (recorded with the change). */
  correctionRequestId?: string;
  /** A resolution may change nothing (the data was right after all); a plain correction must change something. */
  allowNoChange?: boolean;
  /** Which notice the (new) email on file gets; a changed email's previous address always hears of it too. */
  notice?: 'details_corrected' | 'correction_resolved' | 'none';
}

function noChanges(): DomainError {
  return new DomainError('no_changes', 'Nothing differs from the data on file: change at least one field.');
}

/**
 * A correction of the data on file (`row`) as checked before anything is written: the reason,
 * what differs and the values after. Every field's problem is reported at once, the reason's
 * included; a correction that changes nothing is refused unless the options allow it, and so is
 * one that would give the account the acting staff member's own email.
 */
function checkCorrection(
  actor: StaffActor,
  row: { first_name: string; last_name: string; email: string; mobile: string | null },
  input: ProfileInput,
  rawReason: unknown,
  options: CorrectionOptions,
): { reason: string; diff: ProfileDiff; values: ProfileValues & { emailKey: string } } {
  const current = { firstName: row.first_name, lastName: row.last_name, email: row.email, mobile: row.mobile };
  const checked = checkProfile(input, current);
  const why = readReason(rawReason);
  if (!checked.ok || !why.ok) {
    throw invalidInput({ ...(checked.ok ? {} : checked.fieldErrors), ...(why.ok ? {} : { reason: why.message }) });
  }
  const { diff, values } = checked;
  if (isEmpty(diff) && !options.allowNoChange) throw noChanges();
  assertNotOwnAccount(actor, values.email);
  return { reason: why.value, diff, values };
}

/** An audit event's details with the correction request the change resolves, if any. */
function withRequest(options: CorrectionOptions, details: Record<string, unknown>): Record<string, unknown> {
  return { ...details, ...(options.correctionRequestId ? { correction_request_id: options.correctionRequestId } : {}) };
}

export function changePending(changeId?: string): DomainError {
  return new DomainError(
    'change_pending',
    'An email or mobile change of this user is already waiting for approval. It must be approved, rejected or cancelled first.',
    changeId ? { changeId } : {},
  );
}

/**
 * Support corrects data: the prefilled data of a pending legacy account (first name, last
 * name, email, mobile; applied at once, so the user's next enrollment shows it), and the
 * profile of an enrolled user (names applied at once; email and mobile, where one-time codes
 * go, become a pending change that another staff member with the supervisor role must
 * approve). Every correction needs a reason, commits with its audit event (the before/after
 * diff and the reason) and a link-free notice to the user.
 */
@Injectable()
export class ProfileCorrectionService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly notices: SupportNotices,
  ) {}

  /** Corrects the prefilled data of a pending legacy account. Throws `already_enrolled` once it was enrolled. */
  async correctLegacyAccount(
    actor: StaffActor,
    legacyAccountId: string,
    input: ProfileInput,
    reason: unknown,
    meta: RequestMeta = {},
  ): Promise<CorrectionResult> {
    const sent: string[] = [];
    const result = await this.dataSource.transaction((m) => this.correctLegacyIn(m, actor, legacyAccountId, input, reason, meta, sent));
    this.notices.deliver(sent);
    return result;
  }

  /** Corrects an enrolled user's profile: names at once, email and mobile after a supervisor's approval. */
  async correctUser(
    actor: StaffActor,
    userId: string,
    input: ProfileInput,
    reason: unknown,
    meta: RequestMeta = {},
  ): Promise<CorrectionResult> {
    const sent: string[] = [];
    const result = await this.inTransaction((m) => this.correctUserIn(m, actor, userId, input, reason, meta, sent));
    this.notices.deliver(sent);
    return result;
  }

  /**
   * Runs a transaction that may insert a pending change, turning the one-pending-change-per-user
   * index's violation (two requests racing) into `change_pending`.
   */
  async inTransaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.dataSource.transaction(work);
    } catch (error) {
      const e = error as { code?: string; constraint?: string; driverError?: { constraint?: string } };
      if (e.code === '23505' && (e.constraint ?? e.driverError?.constraint) === 'support_contact_changes_one_pending_idx') {
        throw changePending();
      }
      throw error;
    }
  }

  /** The legacy-account correction inside the caller's transaction; queued notice ids go to `sent`. */
  async correctLegacyIn(
    m: EntityManager,
    actor: StaffActor,
    legacyAccountId: string,
    input: ProfileInput,
    rawReason: unknown,
    meta: RequestMeta,
    sent: string[],
    options: CorrectionOptions = {},
  ): Promise<CorrectionResult> {
    if (!isUuidAnyCase(legacyAccountId)) throw notFound('pending account');
    const [row] = await legacyAccountForCorrection(m, [legacyAccountId]);
    if (!row) throw notFound('pending account');
    assertNotOwnAccount(actor, row.email);
    if (row.status !== 'pending') {
      throw new DomainError('already_enrolled', 'This account has been enrolled since: correct the user instead.', { userId: row.user_id });
    }
    const { reason, diff, values } = checkCorrection(actor, row, input, rawReason, options);
    const now = this.clock.now();
    if (!isEmpty(diff)) {
      await correctLegacyAccount(m, [row.id, values.firstName, values.lastName, values.email, values.emailKey, values.mobile, now]);
      await this.audit.record(
        staffEvent(actor, meta, {
          type: 'support.legacy_account_corrected',
          subject: { type: 'legacy_account', id: row.id },
          organizationId: row.organization_id,
          details: withRequest(options, { reason, changes: diff }),
        }),
        m,
      );
    }
    const fields = changedFields(diff);
    const kind = options.notice ?? 'details_corrected';
    const about = { type: 'legacy_account', id: row.id };
    if (kind !== 'none')
      sent.push(await this.notices.email(m, values.email, kind, { firstName: values.firstName, fields, at: now }, about));
    if (diff.email) {
      // The previous address hears of it too: if the correction was not wanted, its owner can react.
      sent.push(await this.notices.email(m, row.email, 'details_corrected', { firstName: row.first_name, fields, at: now }, about));
    }
    return { subject: { type: 'legacy_account', id: row.id }, diff, applied: diff, pending: null };
  }

  /** The user correction inside the caller's transaction; queued notice ids go to `sent`. */
  async correctUserIn(
    m: EntityManager,
    actor: StaffActor,
    userId: string,
    input: ProfileInput,
    rawReason: unknown,
    meta: RequestMeta,
    sent: string[],
    options: CorrectionOptions = {},
  ): Promise<CorrectionResult> {
    if (!isUuidAnyCase(userId)) throw notFound('user');
    const [row] = await userProfileForUpdate(m, [userId]);
    if (!row) throw notFound('user');
    assertNotOwnAccount(actor, row.email);
    const { reason, diff, values } = checkCorrection(actor, row, input, rawReason, options);
    const { now: names, fourEyes: contacts } = splitForApproval(diff, true);
    const now = this.clock.now();

    let pending: PendingChange | null = null;
    if (!isEmpty(contacts)) {
      const [waiting] = await pendingContactChangeIdOfUser(m, [row.id]);
      if (waiting) throw changePending(waiting.id);
      const [inserted] = await insertContactChange(m, [
        row.id,
        row.organization_id,
        JSON.stringify(contacts),
        reason,
        options.correctionRequestId ?? null,
        actor.id,
        now,
      ]);
      pending = toPendingChange(inserted!);
      await this.audit.record(
        staffEvent(actor, meta, {
          type: 'support.contact_change_requested',
          subject: { type: 'user', id: row.id },
          organizationId: row.organization_id,
          details: withRequest(options, { change_id: pending.id, reason, changes: contacts }),
        }),
        m,
      );
    }

    if (!isEmpty(names)) {
      await setUserNames(m, [row.id, values.firstName, values.lastName, now]);
      await this.audit.record(
        staffEvent(actor, meta, {
          type: 'support.profile_corrected',
          subject: { type: 'user', id: row.id },
          organizationId: row.organization_id,
          details: withRequest(options, { reason, changes: names }),
        }),
        m,
      );
      if (options.notice !== 'none') {
        sent.push(
          await this.notices.email(
            m,
            row.email,
            'details_corrected',
            {
              firstName: values.firstName,
              fields: changedFields(names),
              at: now,
            },
            { type: 'user', id: row.id },
          ),
        );
      }
    }
    return { subject: { type: 'user', id: row.id }, diff, applied: names, pending };
  }
}
