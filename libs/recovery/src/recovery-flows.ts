import { Inject, Injectable, Optional } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { auditMeta, type AuditEventInput } from '#libs/audit';
import { DomainError, type Channel } from '#libs/core';
import { FlowStore, type Flow, type FlowHandle } from '#libs/flows';
import { Directory, type UserRecord, userRecoveryLock } from '#libs/identity';
import { OutboxService } from '#libs/notifications';
import { CodeStepService, destinationOf, maskDestination, type CodeIssue } from '#libs/otp';
import type { RequestMeta } from '#libs/sessions';
import { DEFAULT_RECOVERY_OPTIONS, RECOVERY_OPTIONS, type RecoveryOptions, type RecoveryOutcome } from './details.js';
import { publicStep, type RecoveryState } from './machine.js';

const BLOCKED = 'Recovery is not available for this account. Please contact your support team.';

/** An audit event of a user acting on their own account (after the one-time code proved them). */
export function userEvent(user: UserRecord, ctx: RequestMeta, type: string, details: Record<string, unknown>): AuditEventInput {
  return {
    type,
    actor: { type: 'user', id: user.id },
    subject: { type: 'user', id: user.id },
    organizationId: user.organizationId,
    ...auditMeta(ctx),
    details,
  };
}

/**
 * What every step of a recovery flow shares: loading the flow, its public view, whether the
 * user may still recover, ending a flow that can no longer complete, the one-time code
 * (purpose `recovery`, bound to the flow) and the response floor of the anonymous steps.
 */
@Injectable()
export class RecoveryFlows {
  private readonly options: RecoveryOptions;

  constructor(
    private readonly dataSource: DataSource,
    private readonly flows: FlowStore,
    private readonly directory: Directory,
    private readonly codes: CodeStepService,
    private readonly outbox: OutboxService,
    @Optional() @Inject(RECOVERY_OPTIONS) options?: Partial<RecoveryOptions>,
  ) {
    this.options = { ...DEFAULT_RECOVERY_OPTIONS, ...(options ?? {}) };
  }

  load(handle: FlowHandle): Promise<Flow<RecoveryState>> {
    return this.flows.load<RecoveryState>('recovery', handle);
  }

  /** The public view of a state: never a user id, only what this step may show. */
  async describe(handle: FlowHandle, state: RecoveryState): Promise<RecoveryOutcome> {
    const outcome: RecoveryOutcome = { handle, goal: state.goal, step: publicStep(state) };
    if ((state.step === 'choose_channel' || state.step === 'otp') && outcome.step !== 'code_sent') {
      const user = await this.requireUser(state.userId);
      outcome.channels = state.channels.map((c) => ({ channel: c, destination: maskDestination(c, destinationOf(user, c)) }));
      outcome.preferred = state.preferred;
      if (state.step === 'otp') {
        outcome.channel = state.code.channel;
        outcome.delivery = await this.codes.status(state.code.messageId);
      }
    }
    if (state.step === 'enterprise_id') outcome.enterpriseId = (await this.requireUser(state.userId)).enterpriseId;
    return outcome;
  }

  issue(flow: Flow<RecoveryState>, user: UserRecord, channel: Channel, ctx: RequestMeta): Promise<CodeIssue> {
    return this.codes.issue({
      purpose: 'recovery',
      subject: { type: 'user', id: user.id },
      flowId: flow.id,
      channel,
      destination: destinationOf(user, channel),
      context: { actor: { type: 'anonymous' }, organizationId: user.organizationId, ...auditMeta(ctx) },
    });
  }

  /** The user, if still active and not locked out of recovery. */
  async eligibleUser(userId: string): Promise<UserRecord | null> {
    const rows = await userRecoveryLock(this.dataSource, [userId]);
    const user = await this.directory.user(userId);
    if (!user || !rows[0] || rows[0].recovery_locked_at !== null || user.status !== 'active') return null;
    return user;
  }

  async requireUser(userId: string): Promise<UserRecord> {
    const user = await this.directory.user(userId);
    if (!user) throw new DomainError('flow_not_found', 'This step is no longer valid. Please start again.');
    return user;
  }

  /** The user was disabled or locked out after the security code was accepted: the flow ends. */
  async blocked(flow: Flow<RecoveryState>): Promise<never> {
    await this.flows.end(flow.id);
    throw new DomainError('recovery_blocked', BLOCKED);
  }

  async superseded(flow: Flow<RecoveryState>): Promise<DomainError> {
    await this.flows.end(flow.id);
    return new DomainError(
      'recovery_superseded',
      'This recovery can no longer complete: the password of this account was changed after it started. Please start again.',
    );
  }

  /** Runs a step whose answer must not tell a real user from a stranger, and answers no sooner than the floor. */
  async padded<T>(work: () => Promise<T>): Promise<T> {
    // Elapsed real time (monotonic), not an expiry: the injected Clock may stand still in tests.
    const started = performance.now();
    try {
      return await work();
    } finally {
      const left = this.options.responseFloor.milliseconds - (performance.now() - started);
      if (left > 0) await sleep(left);
    }
  }

  /** Hands a message to its sender now without making the answer wait (the outbox worker retries). */
  deliverLater(messageId: string): void {
    this.outbox.deliverNow(messageId).catch(() => undefined);
  }
}
