import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '#libs/audit';
import { Clock, DomainError, foldKey } from '#libs/core';
import { FlowStore, type FlowHandle } from '#libs/flows';
import { Directory, PasswordHasher, checkNewPassword, setUserPassword, userPasswordState } from '#libs/identity';
import { OutboxService } from '#libs/notifications';
import { describeRecord } from '#libs/factors';
import { RememberedDeviceService, SessionService, type RequestMeta } from '#libs/sessions';
import { ThrottleService } from '#libs/throttle';
import { INVALID_FIELDS, typedText, type RecoveryOutcome } from './details.js';
import { nextRecovery } from './machine.js';
import { RecoveryFlows, userEvent } from './recovery-flows.js';

/**
 * The end of a forgotten-password recovery (and of a forgotten-both one, once the recovered
 * Enterprise ID was shown): the new password, set only against the credential version the
 * flow started from, so of two concurrent resets at most one completes.
 */
@Injectable()
export class PasswordResetService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly flows: FlowStore,
    private readonly directory: Directory,
    private readonly hasher: PasswordHasher,
    private readonly throttle: ThrottleService,
    private readonly sessions: SessionService,
    private readonly devices: RememberedDeviceService,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
    private readonly recovery: RecoveryFlows,
  ) {}

  /** Forgot both: from the recovered Enterprise ID on to a new password, in the same flow. */
  async continueToPassword(handle: FlowHandle): Promise<RecoveryOutcome> {
    const flow = await this.recovery.load(handle);
    if (flow.state.step !== 'enterprise_id') return this.recovery.describe(handle, flow.state);
    const next = nextRecovery(flow.state, { type: 'continue_to_password' }, this.clock.now());
    await this.flows.save(flow, next);
    return this.recovery.describe(handle, next);
  }

  /**
   * New password + confirmation (the enrollment policy; it must differ from the current
   * one). Stores the argon2id hash and bumps the credential version, only if it is still
   * the one this flow started from; ends every session (remembered devices lapse with the
   * version, and are then revoked), emails a notice and audits it, all in one transaction.
   */
  async setPassword(
    handle: FlowHandle,
    input: { password: unknown; confirmPassword: unknown },
    ctx: RequestMeta,
  ): Promise<RecoveryOutcome> {
    const flow = await this.recovery.load(handle);
    if (flow.state.step !== 'new_password') return this.recovery.describe(handle, flow.state);
    const state = flow.state;
    const rows = await userPasswordState(this.dataSource, [state.userId]);
    const user = await this.recovery.eligibleUser(state.userId);
    if (!user || !rows[0]) return this.recovery.blocked(flow);
    if (rows[0].credential_version !== state.credentialVersion) throw await this.recovery.superseded(flow);

    const password = typedText(input.password, 1024);
    const fieldErrors: Record<string, string> = {};
    const checked = checkNewPassword(password, await this.directory.passwordContext(user));
    if (!checked.ok) fieldErrors.password = checked.reason;
    else if (password !== typedText(input.confirmPassword, 1024)) fieldErrors.confirm_password = 'The passwords do not match.';
    else if ((await this.hasher.verify(rows[0].password_hash, password)).ok) {
      fieldErrors.password = 'The new password must differ from your current one.';
    }
    if (Object.keys(fieldErrors).length > 0) {
      return { ...(await this.recovery.describe(handle, state)), fieldErrors, error: INVALID_FIELDS };
    }

    const hash = await this.hasher.hash(password);
    const now = this.clock.now();
    const next = nextRecovery(state, { type: 'password_changed' }, now);
    let noticeId: string;
    try {
      noticeId = await this.dataSource.transaction(async (m) => {
        // Completes only from the version this flow started with: a reset (or any credential
        // change) that won meanwhile makes this one fail, also when both run at once.
        const [changed] = await setUserPassword(m, [user.id, hash, state.credentialVersion, now]);
        if (changed.length === 0) throw new DomainError('recovery_superseded', 'stale');
        const ended = await this.sessions.endAllForUser(user.id, 'password_reset', undefined, m);
        // A new password ends a sign-in lock (failures in a row on the Enterprise ID).
        await this.throttle.reset(`signin:acct:${foldKey(user.enterpriseId)}`, m);
        await this.flows.save(flow, next, m);
        await this.flows.end(flow.id, m);
        const event = userEvent(user, ctx, 'recovery.password_reset', {
          flow: state.goal === 'enterprise_id' ? 'forgot_both' : 'forgot_password',
          flow_id: flow.id,
          credential_version: changed[0]!.credential_version,
          sessions_ended: ended,
          methods: state.verifications.map(describeRecord),
        });
        await this.audit.record(event, m);
        return await this.outbox.enqueueNotice(m, user, 'password_changed', { at: now });
      });
    } catch (error) {
      if (error instanceof DomainError && error.code === 'recovery_superseded') throw await this.recovery.superseded(flow);
      throw error;
    }
    this.recovery.deliverLater(noticeId);
    // The version bump above already refuses every remembered device; revoking them also
    // takes them off the account page (and audits it).
    await this.devices.revoke(user.id, 'all', { type: 'user', id: user.id }, 'password reset by recovery', ctx);
    return { handle, goal: state.goal, step: 'done' };
  }
}
