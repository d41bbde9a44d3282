import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, auditMeta } from '#libs/audit';
import { Clock, type Channel } from '#libs/core';
import { FlowStore, type Flow, type FlowHandle } from '#libs/flows';
import { Directory, userForRecovery } from '#libs/identity';
import { OutboxService } from '#libs/notifications';
import {
  CodeStepService,
  DEFAULT_OTP_LIMITS,
  INVALID_CHANNEL,
  availableChannels,
  OTP_DEFAULT_MAX_ATTEMPTS,
  OTP_DEFAULT_TTL,
  issueRefusal,
  normalizeCode,
  otpFailureMessage,
  pickChannel,
} from '#libs/otp';
import type { RequestMeta } from '#libs/sessions';
import { ThrottleService, refusalError } from '#libs/throttle';
import {
  RECOVERY_IP_RULE,
  RECOVERY_TARGET_RULE,
  detailsError,
  readDetails,
  typedText,
  type IdentifyInput,
  type RecoveryOutcome,
  type RecoveryTarget,
  type UnstartedRecovery,
} from './details.js';
import { decoyResend, decoyVerify, nextRecovery, type DecoyLimits, type RecoveryGoal, type RecoveryState } from './machine.js';
import { PasswordResetService } from './password-reset.service.js';
import { RecoveryFlows, userEvent } from './recovery-flows.js';
import { SecurityCodeGuard, guardCandidate, type GuardCandidate } from './security-code.guard.js';

const DECOY_LIMITS: DecoyLimits = {
  ttl: OTP_DEFAULT_TTL,
  maxAttempts: OTP_DEFAULT_MAX_ATTEMPTS,
  resendCooldown: DEFAULT_OTP_LIMITS.resendCooldown,
  perHour: DEFAULT_OTP_LIMITS.perSubject,
};

/** At most this many users share an email for recovery purposes; checked in parallel. */
const MAX_EMAIL_CANDIDATES = 5;

/**
 * Self-service recovery with the security code: forgotten Enterprise ID, forgotten
 * password, or both in one flow. One engine for the hosted pages and the JSON API.
 *
 * Never reveals whether an Enterprise ID or email exists: until the security code is
 * accepted every outcome (unknown, wrong code, locked, disabled) shows the same generic
 * step, after the same argon2 work and no sooner than `responseFloor`. A security code
 * alone recovers nothing: a one-time code (purpose `recovery`, bound to this flow) to a
 * verified contact always follows. The new password is PasswordResetService's part
 * (offered here too); the lockout on wrong security codes, SecurityCodeGuard's.
 */
@Injectable()
export class RecoveryService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly flows: FlowStore,
    private readonly directory: Directory,
    private readonly throttle: ThrottleService,
    private readonly codes: CodeStepService,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
    private readonly guard: SecurityCodeGuard,
    private readonly recovery: RecoveryFlows,
    private readonly passwordReset: PasswordResetService,
  ) {}

  async start(goal: RecoveryGoal): Promise<RecoveryOutcome> {
    const { handle } = await this.flows.create<RecoveryState>('recovery', { step: 'identify', goal });
    return { handle, goal, step: 'identify' };
  }

  async current(handle: FlowHandle): Promise<RecoveryOutcome> {
    const flow = await this.recovery.load(handle);
    return this.recovery.describe(handle, flow.state);
  }

  /**
   * The details step of a recovery that has no flow yet (the form of a page view, which stores
   * nothing): malformed details are answered without one; otherwise the flow starts here and
   * the details are checked in it, as `identify` does.
   */
  async begin(goal: RecoveryGoal, input: IdentifyInput, ctx: RequestMeta): Promise<RecoveryOutcome | UnstartedRecovery> {
    const read = readDetails(goal, input);
    if ('fieldErrors' in read) return { goal, step: 'identify', fieldErrors: read.fieldErrors, error: detailsError(read) };
    const { handle } = await this.start(goal);
    return await this.identify(handle, input, ctx);
  }

  /** Email (forgot Enterprise ID) or Enterprise ID (forgot password), with the security code. */
  async identify(handle: FlowHandle, input: IdentifyInput, ctx: RequestMeta): Promise<RecoveryOutcome> {
    const flow = await this.recovery.load(handle);
    if (flow.state.step !== 'identify') return this.recovery.describe(handle, flow.state);
    const state = flow.state;

    // Malformed input is refused before any look-up: the answer depends on the input only.
    const read = readDetails(state.goal, input);
    if ('fieldErrors' in read)
      return { handle, goal: state.goal, step: 'identify', fieldErrors: read.fieldErrors, error: detailsError(read) };
    const { target, code } = read;

    const ipKey = `recovery:ip:${ctx.ip ?? 'unknown'}`;
    const targetKey = `recovery:target:${target.column === 'email_key' ? 'email' : 'eid'}:${target.key}`;
    // Counted before the code is checked, so parallel guesses never exceed the rules; given back when it matches.
    const reserved = await this.throttle.reserve([
      [ipKey, RECOVERY_IP_RULE],
      [targetKey, RECOVERY_TARGET_RULE],
    ]);
    if (!reserved.ok) return { handle, goal: state.goal, step: 'identify', error: refusalError(reserved) };

    return this.recovery.padded(async () => {
      const candidates = await this.candidates(target);
      const verdict = await this.guard.check(candidates, code, ctx);
      const auditBase = { actor: { type: 'anonymous' as const }, ...auditMeta(ctx) };
      if (verdict.verdict === 'accepted') {
        await this.throttle.succeeded(reserved, [targetKey]);
        const user = await this.directory.user(verdict.userId);
        if (user) {
          const policy = await this.directory.policy(user.organizationId);
          await this.audit.record({
            ...auditBase,
            type: 'recovery.security_code_accepted',
            subject: { type: 'user', id: user.id },
            organizationId: user.organizationId,
            details: { goal: state.goal, flow_id: flow.id },
          });
          const accepted = nextRecovery(
            state,
            {
              type: 'security_code_accepted',
              record: verdict.record,
              userId: user.id,
              credentialVersion: user.credentialVersion,
              channels: availableChannels(user, policy),
              preferred: user.preferredOtpChannel ?? 'email',
            },
            this.clock.now(),
          );
          if (accepted.step !== 'choose_channel') throw new Error('unexpected recovery step');
          // A verified mobile: the user chooses how the code comes (channels are shown only now).
          if (accepted.channels.length > 1) {
            await this.flows.save(flow, accepted);
            return this.recovery.describe(handle, accepted);
          }
          // Nothing to choose: the code goes to the email at once, on the generic step.
          const issued = await this.recovery.issue(flow, user, 'email', ctx);
          if (issued.ok) {
            const { challengeId, messageId } = issued.issued;
            const next = nextRecovery(accepted, { type: 'code_sent', channel: 'email', challengeId, messageId }, this.clock.now());
            await this.flows.save(flow, next);
            this.recovery.deliverLater(messageId);
            return this.recovery.describe(handle, next);
          }
          // Too many codes already: say nothing a stranger would not also see.
        }
      } else {
        await this.audit.record({
          ...auditBase,
          type: 'recovery.details_refused',
          subject: null,
          details: { goal: state.goal, reason: verdict.reason, flow_id: flow.id, locked_now: verdict.newlyLocked.length },
        });
      }
      const next = nextRecovery(state, { type: 'details_not_matched' }, this.clock.now());
      await this.flows.save(flow, next);
      return this.recovery.describe(handle, next);
    });
  }

  /** Sends the code by the channel chosen among the accepted user's verified ones. */
  async chooseChannel(handle: FlowHandle, channel: unknown, ctx: RequestMeta): Promise<RecoveryOutcome> {
    const flow = await this.recovery.load(handle);
    if (flow.state.step !== 'choose_channel' && !(flow.state.step === 'otp' && !flow.state.generic)) {
      return this.recovery.describe(handle, flow.state);
    }
    const chosen = pickChannel(flow.state.channels, channel);
    if (!chosen) return { ...(await this.recovery.describe(handle, flow.state)), error: INVALID_CHANNEL };
    return this.sendChosen(handle, flow, chosen, ctx);
  }

  /** "Send a new code": the previous one stops working (cooldown and hourly caps apply, also to a decoy). */
  async resend(handle: FlowHandle, channel: unknown, ctx: RequestMeta): Promise<RecoveryOutcome> {
    const flow = await this.recovery.load(handle);
    const state = flow.state;
    if (state.step === 'decoy') {
      return this.recovery.padded(async () => {
        const answer = decoyResend(state.decoy, this.clock.now(), DECOY_LIMITS);
        if (!answer.ok) {
          return { ...(await this.recovery.describe(handle, state)), error: issueRefusal(answer.code, answer.retryAfterSeconds) };
        }
        const next = nextRecovery(state, { type: 'decoy_resent' }, this.clock.now());
        await this.flows.save(flow, next);
        return this.recovery.describe(handle, next);
      });
    }
    if (state.step === 'otp' && state.generic) {
      return this.recovery.padded(async () => {
        const user = await this.recovery.requireUser(state.userId);
        const issued = await this.recovery.issue(flow, user, state.code.channel, ctx);
        if (!issued.ok) return { ...(await this.recovery.describe(handle, state)), error: issued.error };
        const { challengeId, messageId } = issued.issued;
        const next = nextRecovery(state, { type: 'code_sent', channel: state.code.channel, challengeId, messageId }, this.clock.now());
        await this.flows.save(flow, next);
        this.recovery.deliverLater(messageId);
        return this.recovery.describe(handle, next);
      });
    }
    if (state.step === 'otp' || state.step === 'choose_channel') {
      const chosen = pickChannel(state.channels, channel, state.step === 'otp' ? state.code.channel : state.preferred, { lenient: true })!;
      return this.sendChosen(handle, flow, chosen, ctx);
    }
    return this.recovery.describe(handle, state);
  }

  /**
   * The one-time code: bound to purpose `recovery`, this user and this flow. A forgotten
   * Enterprise ID is then shown, and also sent to the (now proven) email.
   */
  async verifyCode(handle: FlowHandle, codeInput: unknown, ctx: RequestMeta): Promise<RecoveryOutcome> {
    const flow = await this.recovery.load(handle);
    const state = flow.state;
    const typed = typedText(codeInput, 64);
    if (state.step === 'decoy') {
      return this.recovery.padded(async () => {
        const answer = decoyVerify(state.decoy, normalizeCode(typed) !== null, this.clock.now(), DECOY_LIMITS);
        let shown: RecoveryState = state;
        if (answer.counted) {
          shown = nextRecovery(state, { type: 'decoy_code_failed' }, this.clock.now());
          await this.flows.save(flow, shown);
        }
        return {
          ...(await this.recovery.describe(handle, shown)),
          error: otpFailureMessage({ ok: false, reason: answer.reason, attemptsLeft: answer.attemptsLeft }),
        };
      });
    }
    if (state.step !== 'otp') return this.recovery.describe(handle, state);
    const work = async (): Promise<RecoveryOutcome> => {
      const result = await this.codes.verify({
        challengeId: state.code.challengeId,
        purpose: 'recovery',
        subject: { type: 'user', id: state.userId },
        flowId: flow.id,
        code: typed,
        context: auditMeta(ctx),
      });
      if (!result.ok) return { ...(await this.recovery.describe(handle, state)), error: result.error };
      const user = await this.recovery.eligibleUser(state.userId);
      if (!user) return this.recovery.blocked(flow);
      const next = nextRecovery(state, { type: 'code_verified' }, this.clock.now());
      const reminderId = await this.dataSource.transaction(async (m) => {
        await this.flows.save(flow, next, m);
        const event = userEvent(user, ctx, 'recovery.verified', { goal: state.goal, channel: state.code.channel, flow_id: flow.id });
        await this.audit.record(event, m);
        if (next.step !== 'enterprise_id') return null;
        // Forgot Enterprise ID: shown on the page, and also sent to the (now proven) email.
        return await this.outbox.enqueueNotice(m, user, 'enterprise_id_reminder', {
          enterpriseId: user.enterpriseId,
          at: this.clock.now(),
        });
      });
      if (reminderId) this.recovery.deliverLater(reminderId);
      return this.recovery.describe(handle, next);
    };
    return state.generic ? this.recovery.padded(work) : work();
  }

  /** Forgot both: from the recovered Enterprise ID on to a new password (PasswordResetService). */
  continueToPassword(handle: FlowHandle): Promise<RecoveryOutcome> {
    return this.passwordReset.continueToPassword(handle);
  }

  /** The new password (PasswordResetService.setPassword). */
  setPassword(handle: FlowHandle, input: { password: unknown; confirmPassword: unknown }, ctx: RequestMeta): Promise<RecoveryOutcome> {
    return this.passwordReset.setPassword(handle, input, ctx);
  }

  private async candidates({ column, key }: RecoveryTarget): Promise<GuardCandidate[]> {
    if (key === '' || key.length > 400) return [];
    const rows = await userForRecovery(this.dataSource, column, [key, MAX_EMAIL_CANDIDATES]);
    return rows.map(guardCandidate);
  }

  /** After the user chose a channel (the account is known to them): waits for the hand-over and reports a failure. */
  private async sendChosen(handle: FlowHandle, flow: Flow<RecoveryState>, channel: Channel, ctx: RequestMeta): Promise<RecoveryOutcome> {
    const state = flow.state;
    if (state.step !== 'choose_channel' && state.step !== 'otp') return this.recovery.describe(handle, state);
    const user = await this.recovery.eligibleUser(state.userId);
    if (!user) return this.recovery.blocked(flow);
    const issued = await this.recovery.issue(flow, user, channel, ctx);
    if (!issued.ok) return { ...(await this.recovery.describe(handle, state)), error: issued.error };
    const { challengeId, messageId } = issued.issued;
    const next = nextRecovery(state, { type: 'code_sent', channel, challengeId, messageId }, this.clock.now());
    await this.flows.save(flow, next);
    const delivered = await this.codes.deliver(messageId, channel);
    return { ...(await this.recovery.describe(handle, next)), ...delivered };
  }
}
