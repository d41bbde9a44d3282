import { Inject, Injectable, Optional } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { AuditService } from '#libs/audit';
import { Clock, DomainError, Duration, foldKey, hasForbiddenCharacters, type Channel } from '#libs/core';
import { FlowStore, type Flow, type FlowHandle } from '#libs/flows';
import {
  Directory,
  PasswordHasher,
  checkEmail,
  checkNewPassword,
  type UserRecord,
  setUserPassword,
  userForRecovery,
  userPasswordState,
  userRecoveryLock,
} from '#libs/identity';
import { OutboxService, messageLocaleFor, noticeMessage } from '#libs/notifications';
import {
  CodeStepService,
  DEFAULT_OTP_LIMITS,
  INVALID_CHANNEL,
  availableChannels,
  destinationOf,
  OTP_DEFAULT_MAX_ATTEMPTS,
  OTP_DEFAULT_TTL,
  issueRefusal,
  maskDestination,
  normalizeCode,
  otpFailureMessage,
  pickChannel,
  type CodeIssue,
  type Delivery,
  type StepError,
} from '#libs/otp';
import { RememberedDeviceService, SessionService, type RequestMeta } from '#libs/sessions';
import { ThrottleService, refusalError, type ThrottleRule } from '#libs/throttle';
import {
  decoyResend,
  decoyVerify,
  nextRecovery,
  publicStep,
  type DecoyLimits,
  type RecoveryGoal,
  type RecoveryState,
  type RecoveryStep,
} from './machine.js';
import { SecurityCodeGuard, type GuardCandidate } from './security-code.guard.js';

export interface RecoveryOptions {
  /**
   * The least time an answer takes while the user is not yet known to have matched (the
   * details step, and the generic code step): real work shorter than this is padded, so
   * answers for known and unknown users take the same time.
   */
  responseFloor: Duration;
}

export const RECOVERY_OPTIONS = Symbol('RECOVERY_OPTIONS');
export const DEFAULT_RECOVERY_OPTIONS: RecoveryOptions = { responseFloor: Duration.ofMilliseconds(300) };

/** Per client address: generous, against spraying many accounts from one place. */
export const RECOVERY_IP_RULE: ThrottleRule = {
  freeFailures: 20,
  baseDelay: Duration.ofSeconds(1),
  maxDelay: Duration.ofMinutes(15),
  window: Duration.ofHours(1),
};
/** Per Enterprise ID or email typed, known or not (so a delay reveals nothing). */
export const RECOVERY_TARGET_RULE: ThrottleRule = {
  freeFailures: 5,
  baseDelay: Duration.ofSeconds(2),
  maxDelay: Duration.ofMinutes(15),
  window: Duration.ofHours(1),
};

const DECOY_LIMITS: DecoyLimits = {
  ttl: OTP_DEFAULT_TTL,
  maxAttempts: OTP_DEFAULT_MAX_ATTEMPTS,
  resendCooldown: DEFAULT_OTP_LIMITS.resendCooldown,
  perHour: DEFAULT_OTP_LIMITS.perSubject,
};

/** Security codes are 6–9 digits in every organization (the policy narrows the range at enrollment). */
const SECURITY_CODE = /^[0-9]{6,9}$/u;
/** At most this many users share an email for recovery purposes; checked in parallel. */
const MAX_EMAIL_CANDIDATES = 5;

/** The generic answer after the details step, for every outcome that sends (or pretends to send) an email code. */
export const GENERIC_CODE_SENT =
  'If the details you entered match an account, we sent a 6-digit code to its email address. The code is valid for 10 minutes. ' +
  'If nothing arrives, check the details and start again.';

const BLOCKED = 'Recovery is not available for this account. Please contact your support team.';

export interface RecoveryOutcome {
  handle: FlowHandle;
  goal: RecoveryGoal;
  step: RecoveryStep;
  /** Offered once the security code was accepted (masked destinations). */
  channels?: Array<{ channel: Channel; destination: string }>;
  preferred?: Channel;
  /** The channel the current code went by (step `otp`). */
  channel?: Channel;
  delivery?: Delivery;
  /** Step `enterprise_id`: the recovered Enterprise ID. */
  enterpriseId?: string;
  error?: StepError;
  /** Keyed by form/JSON field name: `email`, `enterprise_id`, `security_code`, `password`, `confirm_password`. */
  fieldErrors?: Record<string, string>;
}

export interface IdentifyInput {
  email?: unknown;
  enterpriseId?: unknown;
  securityCode: unknown;
}

const str = (value: unknown, max: number) => (typeof value === 'string' ? value.slice(0, max) : '');

/** The details step answered before any flow exists (malformed details on a page's form). */
export type UnstartedRecovery = Omit<RecoveryOutcome, 'handle'>;

const INVALID_DETAILS: StepError = { code: 'invalid_input', message: 'Please correct the fields marked below.' };

const INVALID_CHARACTERS = 'This contains control or invisible characters. Type it again without them.';

/** Reads the details step's input: whom to look up and the security code, or what is malformed. */
function readDetails(
  goal: RecoveryGoal,
  input: IdentifyInput,
):
  | { target: { column: 'email_key' | 'enterprise_id_key'; key: string }; code: string }
  | { fieldErrors: Record<string, string>; invalidCharacters?: true } {
  const fieldErrors: Record<string, string> = {};
  // Refused before any query (PostgreSQL text cannot even hold a NUL): a 400 that says so.
  const typed = { email: str(input.email, 320), enterprise_id: str(input.enterpriseId, 256), security_code: str(input.securityCode, 64) };
  for (const [field, value] of Object.entries(typed)) if (hasForbiddenCharacters(value)) fieldErrors[field] = INVALID_CHARACTERS;
  if (Object.keys(fieldErrors).length > 0) return { fieldErrors, invalidCharacters: true };
  let target: { column: 'email_key' | 'enterprise_id_key'; key: string };
  if (goal === 'enterprise_id') {
    const email = checkEmail(str(input.email, 320));
    if (!email.ok) fieldErrors.email = 'Enter the email address of your account.';
    target = { column: 'email_key', key: email.ok ? email.value.key : '' };
  } else {
    const id = str(input.enterpriseId, 256).trim();
    if (id === '' || id.length > 200) fieldErrors.enterprise_id = 'Enter your Enterprise ID.';
    target = { column: 'enterprise_id_key', key: foldKey(id) };
  }
  const code = str(input.securityCode, 64).normalize('NFKC').trim();
  if (!SECURITY_CODE.test(code)) fieldErrors.security_code = 'Enter your security code: the 6 to 9 digits you chose.';
  return Object.keys(fieldErrors).length > 0 ? { fieldErrors } : { target, code };
}

/** The error of malformed details: control characters are a 400 of their own (`invalid_characters`). */
function detailsError(read: { invalidCharacters?: true }): StepError {
  return read.invalidCharacters ? { code: 'invalid_characters', message: INVALID_CHARACTERS } : INVALID_DETAILS;
}

/**
 * Self-service recovery with the security code: forgotten Enterprise ID, forgotten
 * password, or both in one flow. One engine for the hosted pages and the JSON API.
 *
 * Never reveals whether an Enterprise ID or email exists: until the security code is
 * accepted every outcome (unknown, wrong code, locked, disabled) shows the same generic
 * step, after the same argon2 work and no sooner than `responseFloor`. A security code
 * alone recovers nothing: a one-time code (purpose `recovery`, bound to this flow) to a
 * verified contact always follows. A password reset completes only against the credential
 * version the flow started from, so of two concurrent resets at most one completes.
 */
@Injectable()
export class RecoveryService {
  private readonly options: RecoveryOptions;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly flows: FlowStore,
    private readonly directory: Directory,
    private readonly hasher: PasswordHasher,
    private readonly throttle: ThrottleService,
    private readonly sessions: SessionService,
    private readonly devices: RememberedDeviceService,
    private readonly codes: CodeStepService,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
    private readonly guard: SecurityCodeGuard,
    @Optional() @Inject(RECOVERY_OPTIONS) options?: Partial<RecoveryOptions>,
  ) {
    this.options = { ...DEFAULT_RECOVERY_OPTIONS, ...(options ?? {}) };
  }

  async start(goal: RecoveryGoal): Promise<RecoveryOutcome> {
    const { handle } = await this.flows.create<RecoveryState>('recovery', { step: 'identify', goal });
    return { handle, goal, step: 'identify' };
  }

  async current(handle: FlowHandle): Promise<RecoveryOutcome> {
    const flow = await this.flows.load<RecoveryState>('recovery', handle);
    return this.describe(handle, flow.state);
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
    const flow = await this.flows.load<RecoveryState>('recovery', handle);
    if (flow.state.step !== 'identify') return this.describe(handle, flow.state);
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

    return this.padded(async () => {
      const candidates = await this.candidates(target.column, target.key);
      const verdict = await this.guard.check(candidates, code, ctx);
      const auditBase = {
        actor: { type: 'anonymous' as const },
        ip: ctx.ip ?? null,
        userAgent: ctx.userAgent ?? null,
        requestId: ctx.requestId ?? null,
      };
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
            return this.describe(handle, accepted);
          }
          // Nothing to choose: the code goes to the email at once, on the generic step.
          const issued = await this.issue(flow, user, 'email', ctx);
          if (issued.ok) {
            const { challengeId, messageId } = issued.issued;
            const next = nextRecovery(accepted, { type: 'code_sent', channel: 'email', challengeId, messageId }, this.clock.now());
            await this.flows.save(flow, next);
            this.deliverLater(messageId);
            return this.describe(handle, next);
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
      return this.describe(handle, next);
    });
  }

  /** Sends the code by the channel chosen among the accepted user's verified ones. */
  async chooseChannel(handle: FlowHandle, channel: unknown, ctx: RequestMeta): Promise<RecoveryOutcome> {
    const flow = await this.flows.load<RecoveryState>('recovery', handle);
    if (flow.state.step !== 'choose_channel' && !(flow.state.step === 'otp' && !flow.state.generic)) {
      return this.describe(handle, flow.state);
    }
    const chosen = pickChannel(flow.state.channels, channel);
    if (!chosen) return { ...(await this.describe(handle, flow.state)), error: INVALID_CHANNEL };
    return this.sendChosen(handle, flow, chosen, ctx);
  }

  /** "Send a new code": the previous one stops working (cooldown and hourly caps apply, also to a decoy). */
  async resend(handle: FlowHandle, channel: unknown, ctx: RequestMeta): Promise<RecoveryOutcome> {
    const flow = await this.flows.load<RecoveryState>('recovery', handle);
    const state = flow.state;
    if (state.step === 'decoy') {
      return this.padded(async () => {
        const answer = decoyResend(state.decoy, this.clock.now(), DECOY_LIMITS);
        if (!answer.ok) return { ...(await this.describe(handle, state)), error: issueRefusal(answer.code, answer.retryAfterSeconds) };
        const next = nextRecovery(state, { type: 'decoy_resent' }, this.clock.now());
        await this.flows.save(flow, next);
        return this.describe(handle, next);
      });
    }
    if (state.step === 'otp' && state.generic) {
      return this.padded(async () => {
        const user = await this.requireUser(state.userId);
        const issued = await this.issue(flow, user, state.code.channel, ctx);
        if (!issued.ok) return { ...(await this.describe(handle, state)), error: issued.error };
        const { challengeId, messageId } = issued.issued;
        const next = nextRecovery(state, { type: 'code_sent', channel: state.code.channel, challengeId, messageId }, this.clock.now());
        await this.flows.save(flow, next);
        this.deliverLater(messageId);
        return this.describe(handle, next);
      });
    }
    if (state.step === 'otp' || state.step === 'choose_channel') {
      const chosen = pickChannel(state.channels, channel, state.step === 'otp' ? state.code.channel : state.preferred, { lenient: true })!;
      return this.sendChosen(handle, flow, chosen, ctx);
    }
    return this.describe(handle, state);
  }

  /** The one-time code: bound to purpose `recovery`, this user and this flow. */
  async verifyCode(handle: FlowHandle, codeInput: unknown, ctx: RequestMeta): Promise<RecoveryOutcome> {
    const flow = await this.flows.load<RecoveryState>('recovery', handle);
    const state = flow.state;
    const typed = str(codeInput, 64);
    if (state.step === 'decoy') {
      return this.padded(async () => {
        const answer = decoyVerify(state.decoy, normalizeCode(typed) !== null, this.clock.now(), DECOY_LIMITS);
        let shown: RecoveryState = state;
        if (answer.counted) {
          shown = nextRecovery(state, { type: 'decoy_code_failed' }, this.clock.now());
          await this.flows.save(flow, shown);
        }
        return {
          ...(await this.describe(handle, shown)),
          error: otpFailureMessage({ ok: false, reason: answer.reason, attemptsLeft: answer.attemptsLeft }),
        };
      });
    }
    if (state.step !== 'otp') return this.describe(handle, state);
    const work = async (): Promise<RecoveryOutcome> => {
      const result = await this.codes.verify({
        challengeId: state.code.challengeId,
        purpose: 'recovery',
        subject: { type: 'user', id: state.userId },
        flowId: flow.id,
        code: typed,
        context: { ip: ctx.ip ?? null, userAgent: ctx.userAgent ?? null, requestId: ctx.requestId ?? null },
      });
      if (!result.ok) return { ...(await this.describe(handle, state)), error: result.error };
      const user = await this.eligibleUser(state.userId);
      if (!user) return this.blocked(flow);
      const next = nextRecovery(state, { type: 'code_verified' }, this.clock.now());
      const reminderId = await this.dataSource.transaction(async (m) => {
        await this.flows.save(flow, next, m);
        await this.audit.record(
          {
            type: 'recovery.verified',
            actor: { type: 'user', id: user.id },
            subject: { type: 'user', id: user.id },
            organizationId: user.organizationId,
            ip: ctx.ip ?? null,
            userAgent: ctx.userAgent ?? null,
            requestId: ctx.requestId ?? null,
            details: { goal: state.goal, channel: state.code.channel, flow_id: flow.id },
          },
          m,
        );
        if (next.step !== 'enterprise_id') return null;
        // Forgot Enterprise ID: shown on the page, and also sent to the (now proven) email.
        const locale = await messageLocaleFor(m, { type: 'user', id: user.id });
        const notice = noticeMessage('enterprise_id_reminder', {
          locale,
          firstName: user.firstName,
          enterpriseId: user.enterpriseId,
          at: this.clock.now(),
        });
        return await this.outbox.enqueue(m, {
          channel: 'email',
          to: user.email,
          purpose: 'notice.enterprise_id_reminder',
          locale,
          subject: notice.subject,
          text: notice.text,
        });
      });
      if (reminderId) this.deliverLater(reminderId);
      return this.describe(handle, next);
    };
    return state.generic ? this.padded(work) : work();
  }

  /** Forgot both: from the recovered Enterprise ID on to a new password, in the same flow. */
  async continueToPassword(handle: FlowHandle): Promise<RecoveryOutcome> {
    const flow = await this.flows.load<RecoveryState>('recovery', handle);
    if (flow.state.step !== 'enterprise_id') return this.describe(handle, flow.state);
    const next = nextRecovery(flow.state, { type: 'continue_to_password' }, this.clock.now());
    await this.flows.save(flow, next);
    return this.describe(handle, next);
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
    const flow = await this.flows.load<RecoveryState>('recovery', handle);
    if (flow.state.step !== 'new_password') return this.describe(handle, flow.state);
    const state = flow.state;
    const rows = await userPasswordState(this.dataSource, [state.userId]);
    const user = await this.eligibleUser(state.userId);
    if (!user || !rows[0]) return this.blocked(flow);
    if (rows[0].credential_version !== state.credentialVersion) throw await this.superseded(flow);

    const password = str(input.password, 1024);
    const fieldErrors: Record<string, string> = {};
    const checked = checkNewPassword(password, await this.directory.passwordContext(user));
    if (!checked.ok) fieldErrors.password = checked.reason;
    else if (password !== str(input.confirmPassword, 1024)) fieldErrors.confirm_password = 'The passwords do not match.';
    else if ((await this.hasher.verify(rows[0].password_hash, password)).ok) {
      fieldErrors.password = 'The new password must differ from your current one.';
    }
    if (Object.keys(fieldErrors).length > 0) {
      return {
        ...(await this.describe(handle, state)),
        fieldErrors,
        error: { code: 'invalid_input', message: 'Please correct the fields marked below.' },
      };
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
        await this.audit.record(
          {
            type: 'recovery.password_reset',
            actor: { type: 'user', id: user.id },
            subject: { type: 'user', id: user.id },
            organizationId: user.organizationId,
            ip: ctx.ip ?? null,
            userAgent: ctx.userAgent ?? null,
            requestId: ctx.requestId ?? null,
            details: {
              flow: state.goal === 'enterprise_id' ? 'forgot_both' : 'forgot_password',
              flow_id: flow.id,
              credential_version: changed[0]!.credential_version,
              sessions_ended: ended,
              methods: state.verifications.map((v) => (v.method === 'otp' ? `otp:${v.channel}` : v.method)),
            },
          },
          m,
        );
        const locale = await messageLocaleFor(m, { type: 'user', id: user.id });
        const notice = noticeMessage('password_changed', { firstName: user.firstName, at: now, locale });
        return await this.outbox.enqueue(m, {
          channel: 'email',
          locale,
          to: user.email,
          purpose: 'notice.password_changed',
          subject: notice.subject,
          text: notice.text,
        });
      });
    } catch (error) {
      if (error instanceof DomainError && error.code === 'recovery_superseded') throw await this.superseded(flow);
      throw error;
    }
    this.deliverLater(noticeId);
    // The version bump above already refuses every remembered device; revoking them also
    // takes them off the account page (and audits it).
    await this.devices.revoke(user.id, 'all', { type: 'user', id: user.id }, 'password reset by recovery', ctx);
    return { handle, goal: state.goal, step: 'done' };
  }

  /** The public view of a state: never a user id, only what this step may show. */
  private async describe(handle: FlowHandle, state: RecoveryState): Promise<RecoveryOutcome> {
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

  private async candidates(column: 'email_key' | 'enterprise_id_key', key: string): Promise<GuardCandidate[]> {
    if (key === '' || key.length > 400) return [];
    const rows = await userForRecovery(this.dataSource, column, [key, MAX_EMAIL_CANDIDATES]);
    return rows.map((r) => ({
      id: r.id,
      organizationId: r.organization_id,
      status: r.status,
      securityCodeHash: r.security_code_hash,
      lockedAt: r.recovery_locked_at,
      email: r.email,
      firstName: r.first_name,
    }));
  }

  private issue(flow: Flow<RecoveryState>, user: UserRecord, channel: Channel, ctx: RequestMeta): Promise<CodeIssue> {
    return this.codes.issue({
      purpose: 'recovery',
      subject: { type: 'user', id: user.id },
      flowId: flow.id,
      channel,
      destination: destinationOf(user, channel),
      context: {
        actor: { type: 'anonymous' },
        organizationId: user.organizationId,
        ip: ctx.ip ?? null,
        userAgent: ctx.userAgent ?? null,
        requestId: ctx.requestId ?? null,
      },
    });
  }

  /** After the user chose a channel (the account is known to them): waits for the hand-over and reports a failure. */
  private async sendChosen(handle: FlowHandle, flow: Flow<RecoveryState>, channel: Channel, ctx: RequestMeta): Promise<RecoveryOutcome> {
    const state = flow.state;
    if (state.step !== 'choose_channel' && state.step !== 'otp') return this.describe(handle, state);
    const user = await this.eligibleUser(state.userId);
    if (!user) return this.blocked(flow);
    const issued = await this.issue(flow, user, channel, ctx);
    if (!issued.ok) return { ...(await this.describe(handle, state)), error: issued.error };
    const { challengeId, messageId } = issued.issued;
    const next = nextRecovery(state, { type: 'code_sent', channel, challengeId, messageId }, this.clock.now());
    await this.flows.save(flow, next);
    const delivered = await this.codes.deliver(messageId, channel);
    return { ...(await this.describe(handle, next)), ...delivered };
  }

  /** The user, if still active and not locked out of recovery. */
  private async eligibleUser(userId: string): Promise<UserRecord | null> {
    const rows = await userRecoveryLock(this.dataSource, [userId]);
    const user = await this.directory.user(userId);
    if (!user || !rows[0] || rows[0].recovery_locked_at !== null || user.status !== 'active') return null;
    return user;
  }

  private async requireUser(userId: string): Promise<UserRecord> {
    const user = await this.directory.user(userId);
    if (!user) throw new DomainError('flow_not_found', 'This step is no longer valid. Please start again.');
    return user;
  }

  /** The user was disabled or locked out after the security code was accepted: the flow ends. */
  private async blocked(flow: Flow<RecoveryState>): Promise<never> {
    await this.flows.end(flow.id);
    throw new DomainError('recovery_blocked', BLOCKED);
  }

  private async superseded(flow: Flow<RecoveryState>): Promise<DomainError> {
    await this.flows.end(flow.id);
    return new DomainError(
      'recovery_superseded',
      'This recovery can no longer complete: the password of this account was changed after it started. Please start again.',
    );
  }

  /** Runs a step whose answer must not tell a real user from a stranger, and answers no sooner than the floor. */
  private async padded<T>(work: () => Promise<T>): Promise<T> {
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
  private deliverLater(messageId: string): void {
    this.outbox.deliverNow(messageId).catch(() => undefined);
  }
}
