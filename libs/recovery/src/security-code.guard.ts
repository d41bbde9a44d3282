import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, type AuditEventInput, auditMeta } from '#libs/audit';
import { Clock, DomainError, cleanText, codePointLength, hasForbiddenCharacters, isUuidAnyCase } from '#libs/core';
import { securityCodeFactor, type SecurityCodeRecord } from '#libs/factors';
import {
  Directory,
  PasswordHasher,
  clearRecoveryLock,
  countRecoveryFailure,
  settleSecurityCodeSuccess,
  type RecoveryCandidateRow,
  userRecoveryAttempts,
  userRecoveryAttemptsForUpdate,
} from '#libs/identity';
import { OutboxService } from '#libs/notifications';
import type { RequestMeta } from '#libs/sessions';

/** A user that the submitted recovery details name, with what the guard needs to decide. */
export interface GuardCandidate {
  id: string;
  organizationId: string;
  status: 'active' | 'disabled';
  securityCodeHash: string;
  lockedAt: Date | null;
  email: string;
  firstName: string;
}

/** A candidate as the guard sees it, from its `users` row. */
export function guardCandidate(r: RecoveryCandidateRow): GuardCandidate {
  return {
    id: r.id,
    organizationId: r.organization_id,
    status: r.status,
    securityCodeHash: r.security_code_hash,
    lockedAt: r.recovery_locked_at,
    email: r.email,
    firstName: r.first_name,
  };
}

export type GuardVerdict =
  /** The code matched an active, unlocked user; that user's failure count is back to 0. */
  | { verdict: 'accepted'; userId: string; record: SecurityCodeRecord }
  /** Nobody matched: no candidate at all, a wrong code, or a locked or disabled user. Outside, all look alike. */
  | { verdict: 'refused'; reason: 'no_match' | 'wrong_code' | 'blocked'; newlyLocked: string[] };

export interface RecoveryLockStatus {
  failedAttempts: number;
  lockedAt: Date | null;
}

export const UNLOCK_REASON_MAX = 500;

/**
 * The lockout sentinel of self-service recovery. Wrong security codes are counted per
 * user, across every recovery flow, in one atomic statement (`UPDATE … RETURNING`), so
 * parallel guesses cannot exceed the organization's limit (`recovery_max_failures`, 3–10,
 * 5 by default). The failure that reaches the limit locks recovery for that user (exactly
 * one statement can make that transition, so the user is emailed once); from then on every
 * attempt is refused without being checked or counted, until support calls `unlock`. A
 * correct code on an unlocked account resets the count.
 */
@Injectable()
export class SecurityCodeGuard {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly hasher: PasswordHasher,
    private readonly directory: Directory,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
  ) {}

  /**
   * Checks a security code against the users the submitted details name. Always spends one
   * argon2 verification per candidate (at least one, on a dummy hash; candidates in
   * parallel), whatever their state, so the answer time does not tell them apart.
   */
  async check(candidates: readonly GuardCandidate[], code: string, meta: RequestMeta = {}): Promise<GuardVerdict> {
    if (candidates.length === 0) {
      await this.hasher.verifyDummy(code);
      return { verdict: 'refused', reason: 'no_match', newlyLocked: [] };
    }
    const now = this.clock.now();
    const results = await Promise.all(candidates.map((c) => securityCodeFactor.verify(code, c.securityCodeHash, this.hasher, now)));
    const eligible = (c: GuardCandidate) => c.status === 'active' && c.lockedAt === null;

    const matched = candidates.findIndex((c, i) => eligible(c) && results[i]!.ok);
    const verified = matched >= 0 ? results[matched]! : undefined;
    if (verified?.ok) {
      const user = candidates[matched]!;
      const rehashed = verified.rehashed ?? null;
      // Resets only while still unlocked: a lock that parallel wrong guesses set just now wins.
      const [reset] = await settleSecurityCodeSuccess(this.dataSource, [user.id, rehashed, user.securityCodeHash]);
      if (reset.length > 0) return { verdict: 'accepted', userId: user.id, record: verified.record };
      return { verdict: 'refused', reason: 'blocked', newlyLocked: [] };
    }

    const counted = candidates.filter(eligible);
    const newlyLocked: string[] = [];
    for (const user of counted) {
      if (await this.countFailure(user, meta)) newlyLocked.push(user.id);
    }
    return { verdict: 'refused', reason: counted.length > 0 ? 'wrong_code' : 'blocked', newlyLocked };
  }

  /** Where a user stands (for support). */
  async status(userId: string): Promise<RecoveryLockStatus | null> {
    if (!isUuidAnyCase(userId)) return null;
    const rows = await userRecoveryAttempts(this.dataSource, [userId]);
    const row = rows[0];
    return row ? { failedAttempts: row.recovery_failed_attempts, lockedAt: row.recovery_locked_at } : null;
  }

  /**
   * Lets a user recover again (support console): clears the lock and the failure count,
   * and audits who did it and why. Returns whether recovery was locked. Throws
   * `invalid_request` without a reason, `user_not_found` for an unknown user. Runs in the
   * caller's transaction when given its manager (to commit with a notice, say).
   */
  async unlock(
    userId: string,
    actor: AuditEventInput['actor'],
    reason: string,
    meta: RequestMeta = {},
    manager?: EntityManager,
  ): Promise<{ wasLocked: boolean; failedAttempts: number }> {
    const why = typeof reason === 'string' ? cleanText(reason) : '';
    if (why === '' || codePointLength(why) > UNLOCK_REASON_MAX || hasForbiddenCharacters(why)) {
      throw new DomainError('invalid_request', `Give a reason for unlocking recovery, in at most ${UNLOCK_REASON_MAX} characters.`);
    }
    if (!isUuidAnyCase(userId)) throw new DomainError('user_not_found', 'No such user.');
    const run = async (m: EntityManager) => {
      const rows = await userRecoveryAttemptsForUpdate(m, [userId]);
      const row = rows[0];
      if (!row) throw new DomainError('user_not_found', 'No such user.');
      await clearRecoveryLock(m, [userId, this.clock.now()]);
      const result = { wasLocked: row.recovery_locked_at !== null, failedAttempts: row.recovery_failed_attempts };
      await this.audit.record(
        {
          type: 'recovery.unlocked',
          actor,
          subject: { type: 'user', id: userId },
          organizationId: row.organization_id,
          ...auditMeta(meta),
          details: { reason: why, was_locked: result.wasLocked, failed_attempts: result.failedAttempts },
        },
        m,
      );
      return result;
    };
    return manager ? await run(manager) : await this.dataSource.transaction(run);
  }

  /** Counts one wrong code; returns true when this failure locked recovery (and emailed the user). */
  private async countFailure(user: GuardCandidate, meta: RequestMeta): Promise<boolean> {
    const policy = await this.directory.policy(user.organizationId);
    const max = Math.min(10, Math.max(3, policy.recoveryMaxFailures));
    const now = this.clock.now();
    let noticeId: string | null = null;
    await this.dataSource.transaction(async (m) => {
      // One statement: a row that is already locked is not counted, and exactly one failure
      // (the one reaching the limit) moves it from unlocked to locked.
      const [rows] = await countRecoveryFailure(m, [user.id, max, now]);
      const row = rows[0];
      if (!row) return;
      const base = {
        actor: { type: 'anonymous' as const },
        subject: { type: 'user', id: user.id },
        organizationId: user.organizationId,
        ...auditMeta(meta),
      };
      await this.audit.record(
        { ...base, type: 'recovery.security_code_failed', details: { failed_attempts: row.attempts, limit: max } },
        m,
      );
      if (row.locked_at) {
        await this.audit.record({ ...base, type: 'recovery.locked', details: { failed_attempts: row.attempts, limit: max } }, m);
        noticeId = await this.outbox.enqueueNotice(m, user, 'recovery_blocked', { at: now });
      }
    });
    if (noticeId) this.deliverLater(noticeId);
    return noticeId !== null;
  }

  /** Hands the message to the sender now, without making the answer wait for it (the outbox worker retries). */
  private deliverLater(messageId: string): void {
    this.outbox.deliverNow(messageId).catch(() => undefined);
  }
}
