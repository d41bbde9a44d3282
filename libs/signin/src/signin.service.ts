import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../../audit/src/index.js';
import { Clock, DomainError, foldKey } from '../../core/src/index.js';
import { FlowStore, type Flow, type FlowHandle } from '../../flows/src/index.js';
import { Directory, PasswordHasher, verifyLegacyHash, type OtpChannel, type UserRecord } from '../../identity/src/index.js';
import { OutboxService, messageLocaleFor, noticeMessage } from '../../notifications/src/index.js';
import { OtpService, type VerifyOtpResult } from '../../otp/src/index.js';
import { RememberedDeviceService, SessionService, type RequestMeta } from '../../sessions/src/index.js';
import { ACCOUNT_RULE, IP_RULE, ThrottleService } from '../../throttle/src/index.js';
import { GENERIC_FAILURE, availableChannels, destinationOf, safeReturnTo } from './common.js';
import { EnrollmentService } from './enrollment.service.js';
import { nextSignIn, type SignInState } from './machines.js';

export type Delivery = 'sent' | 'pending' | 'failed';

export interface StepError {
  code: string;
  message: string;
  retryAfterSeconds?: number;
  attemptsLeft?: number;
}

export interface SignInOutcome {
  handle: FlowHandle;
  state: SignInState;
  error?: StepError;
  /** For the OTP step: what happened to the message with the code. */
  delivery?: Delivery;
  /** Set once the user is signed in. */
  signedIn?: { userId: string; sessionToken: string; deviceToken?: string; returnTo: string };
  /** Set when legacy credentials start enrollment instead. */
  enrollment?: FlowHandle;
}

export interface ClientContext extends RequestMeta {
  deviceToken?: string | undefined;
}

/** How long a request waits for the code's message to be handed over before answering "still sending". */
export const DELIVERY_WAIT_MS = 8000;

/** OTP verification messages people can act on. */
export function otpFailureMessage(result: Exclude<VerifyOtpResult, { ok: true }>): StepError {
  switch (result.reason) {
    case 'invalid':
      return {
        code: 'otp_invalid',
        message:
          result.attemptsLeft > 0
            ? `That code is not correct. ${result.attemptsLeft} attempt${result.attemptsLeft === 1 ? '' : 's'} left.`
            : 'That code is not correct, and no attempts are left. Send a new code.',
        attemptsLeft: result.attemptsLeft,
      };
    case 'expired':
      return { code: 'otp_expired', message: 'This code has expired. Send a new code.', attemptsLeft: 0 };
    case 'used':
      return { code: 'otp_used', message: 'This code was already used. Send a new code.', attemptsLeft: 0 };
    case 'exhausted':
      return { code: 'otp_exhausted', message: 'Too many wrong codes. Send a new code.', attemptsLeft: 0 };
    case 'superseded':
      return { code: 'otp_superseded', message: 'A newer code was sent. Enter the latest code.', attemptsLeft: 0 };
    case 'not_found':
      return { code: 'otp_invalid', message: 'That code is not correct.', attemptsLeft: 0 };
  }
}

/**
 * Sign-in with Enterprise ID (or legacy user ID), password and a one-time code, or a
 * remembered device. One engine for the hosted pages and the JSON API.
 */
@Injectable()
export class SignInService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly flows: FlowStore,
    private readonly directory: Directory,
    private readonly hasher: PasswordHasher,
    private readonly throttle: ThrottleService,
    private readonly devices: RememberedDeviceService,
    private readonly sessions: SessionService,
    private readonly otp: OtpService,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
    private readonly enrollment: EnrollmentService,
  ) {}

  async start(options: { returnTo?: unknown; requireOtp?: boolean } = {}): Promise<SignInOutcome> {
    const state: SignInState = { step: 'credentials', returnTo: safeReturnTo(options.returnTo), requireOtp: options.requireOtp ?? false };
    const { handle } = await this.flows.create('signin', state);
    return { handle, state };
  }

  /** Ends the flow at the user's request ("Start over"): its code can no longer be used. Returns where it was to lead. */
  async cancel(handle: FlowHandle): Promise<string | undefined> {
    try {
      const flow = await this.flows.load<SignInState>('signin', handle);
      await this.flows.end(flow.id);
      return flow.state.returnTo;
    } catch (error) {
      if (error instanceof DomainError) return undefined;
      throw error;
    }
  }

  async current(handle: FlowHandle): Promise<SignInOutcome> {
    const flow = await this.flows.load<SignInState>('signin', handle);
    const outcome: SignInOutcome = { handle, state: flow.state };
    if (flow.state.step === 'otp') outcome.delivery = (await this.outbox.status(flow.state.messageId)).status;
    return outcome;
  }

  async submitCredentials(handle: FlowHandle, input: { userId: unknown; password: unknown }, ctx: ClientContext): Promise<SignInOutcome> {
    const flow = await this.flows.load<SignInState>('signin', handle);
    if (flow.state.step !== 'credentials') return { handle, state: flow.state };
    const userId = typeof input.userId === 'string' ? input.userId.slice(0, 256) : '';
    const password = typeof input.password === 'string' ? input.password.slice(0, 1024) : '';
    const accountKey = `signin:acct:${foldKey(userId.trim())}`;
    const ipKey = `signin:ip:${ctx.ip ?? 'unknown'}`;

    const wait = await this.throttle.retryAfter([accountKey, ipKey]);
    if (wait > 0) {
      return {
        handle,
        state: flow.state,
        error: {
          code: 'throttled',
          message: `Too many attempts. Try again in ${wait} second${wait === 1 ? '' : 's'}.`,
          retryAfterSeconds: wait,
        },
      };
    }

    const fail = async (reason: string, subjectId: string | null): Promise<SignInOutcome> => {
      await this.throttle.fail(accountKey, ACCOUNT_RULE);
      await this.throttle.fail(ipKey, IP_RULE);
      await this.audit.record({
        type: 'signin.failed',
        actor: { type: 'anonymous' },
        subject: subjectId ? { type: 'user', id: subjectId } : null,
        ip: ctx.ip ?? null,
        userAgent: ctx.userAgent ?? null,
        requestId: ctx.requestId ?? null,
        details: { reason },
      });
      return { handle, state: flow.state, error: { code: 'invalid_credentials', message: GENERIC_FAILURE } };
    };

    if (userId.trim() === '' || password === '') {
      await this.hasher.verifyDummy(password);
      return fail('missing_input', null);
    }

    const target = await this.directory.findLoginTarget(userId);
    if (!target) {
      await this.hasher.verifyDummy(password);
      return fail('unknown_user', null);
    }

    if (target.kind === 'legacy') {
      const account = target.account;
      if (account.status === 'pending') {
        if (!account.passwordHash || !(await verifyLegacyHash(account.passwordHash, password))) return fail('wrong_legacy_password', null);
        await this.throttle.reset(accountKey);
        const enrollment = await this.enrollment.start(account, password, flow.state.returnTo, ctx);
        await this.flows.end(flow.id);
        return { handle, state: flow.state, enrollment };
      }
      // Enrolled: the legacy password never signs in again, but the right one is told where to go.
      const retired = account.passwordHash
        ? await this.hasher.verify(account.passwordHash, password)
        : await this.hasher.verifyDummy(password);
      if (typeof retired === 'object' && retired.ok) {
        await this.audit.record({
          type: 'signin.legacy_credential_retired',
          actor: { type: 'anonymous' },
          subject: account.userId ? { type: 'user', id: account.userId } : null,
          ip: ctx.ip ?? null,
          requestId: ctx.requestId ?? null,
        });
        return {
          handle,
          state: flow.state,
          error: {
            code: 'legacy_retired',
            message: 'This user ID has been replaced by your Enterprise ID. Sign in with your Enterprise ID and new password.',
          },
        };
      }
      return fail('wrong_legacy_password_enrolled', account.userId);
    }

    const { user, passwordHash } = target;
    const verified = await this.hasher.verify(passwordHash, password);
    if (!verified.ok) return fail('wrong_password', user.id);
    if (user.status !== 'active') return fail('user_disabled', user.id);
    if (verified.rehashed) {
      await this.dataSource.query(`UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3`, [
        user.id,
        verified.rehashed,
        passwordHash,
      ]);
    }
    await this.throttle.reset(accountKey);

    const policy = await this.directory.policy(user.organizationId);
    const device = await this.devices.check(
      ctx.deviceToken,
      user,
      { enabled: policy.rememberDeviceEnabled, days: policy.rememberDeviceDays, version: policy.version },
      ctx,
    );
    const channels = availableChannels(user, policy);
    const next = nextSignIn(
      flow.state,
      {
        type: 'password_verified',
        userId: user.id,
        channels,
        preferred: user.preferredOtpChannel ?? 'email',
        trustedDeviceId: device.ok ? device.device.id : null,
      },
      this.clock.now(),
    );
    const saved = await this.flows.save(flow, next);
    if (next.step === 'done') return this.finish(handle, saved, user, false, ctx);
    // Email only: send the code straight away. With a choice, the user picks the channel.
    if (channels.length === 1) return this.sendCode(handle, saved, user, 'email', ctx);
    return { handle, state: next };
  }

  async chooseChannel(handle: FlowHandle, channel: unknown, ctx: ClientContext): Promise<SignInOutcome> {
    const flow = await this.flows.load<SignInState>('signin', handle);
    if (flow.state.step !== 'choose_channel' && flow.state.step !== 'otp') return { handle, state: flow.state };
    const chosen = flow.state.channels.find((c) => c === channel);
    if (!chosen) return { handle, state: flow.state, error: { code: 'invalid_channel', message: 'Choose how to receive your code.' } };
    const user = await this.requireUser(flow.state.userId);
    return this.sendCode(handle, flow, user, chosen, ctx);
  }

  /** "Send a new code": invalidates the previous one (cooldown and hourly caps apply). */
  async resend(handle: FlowHandle, channel: unknown, ctx: ClientContext): Promise<SignInOutcome> {
    const flow = await this.flows.load<SignInState>('signin', handle);
    if (flow.state.step !== 'otp') return { handle, state: flow.state };
    const chosen = flow.state.channels.find((c) => c === channel) ?? flow.state.channel;
    const user = await this.requireUser(flow.state.userId);
    return this.sendCode(handle, flow, user, chosen, ctx);
  }

  async verifyCode(handle: FlowHandle, input: { code: unknown; remember: unknown }, ctx: ClientContext): Promise<SignInOutcome> {
    const flow = await this.flows.load<SignInState>('signin', handle);
    if (flow.state.step !== 'otp') return { handle, state: flow.state };
    const state = flow.state;
    const code = typeof input.code === 'string' ? input.code.slice(0, 32) : '';
    const result = await this.otp.verify({
      challengeId: state.challengeId,
      purpose: 'login',
      subject: { type: 'user', id: state.userId },
      flowId: flow.id,
      code,
    });
    if (!result.ok) {
      return { handle, state, delivery: (await this.outbox.status(state.messageId)).status, error: otpFailureMessage(result) };
    }
    const user = await this.requireUser(state.userId);
    if (user.status !== 'active') throw new DomainError('flow_not_found', GENERIC_FAILURE);
    if (state.channel === 'email' && user.emailVerifiedAt === null) await this.emailProven(user, result.challengeId, ctx);
    const next = nextSignIn(state, { type: 'code_verified' }, this.clock.now());
    const saved = await this.flows.save(flow, next);
    // Remember the channel as the next default; most people keep theirs, and then there is nothing to write.
    if (user.preferredOtpChannel !== state.channel) {
      await this.dataSource.query(`UPDATE users SET preferred_otp_channel = $2 WHERE id = $1`, [user.id, state.channel]);
    }
    return this.finish(handle, saved, user, input.remember === true || input.remember === 'on' || input.remember === 'true', ctx);
  }

  /**
   * An email address that support set (four-eyes, then unverified) stays the sign-in channel, so
   * nobody is locked out; a sign-in code that reached it proves it. Only if the code went to the
   * address on file now (not to one replaced meanwhile).
   */
  private async emailProven(user: UserRecord, challengeId: string, ctx: ClientContext): Promise<void> {
    const now = this.clock.now();
    await this.dataSource.transaction(async (m) => {
      const [, count] = await m.query<[unknown[], number]>(
        `UPDATE users u SET email_verified_at = $3, updated_at = $3 FROM otp_challenges c
          WHERE u.id = $1 AND c.id = $2 AND u.email_verified_at IS NULL AND c.channel = 'email' AND c.destination = u.email`,
        [user.id, challengeId, now],
      );
      if (count === 0) return;
      await this.audit.record(
        {
          type: 'contact.email_verified',
          actor: { type: 'user', id: user.id },
          subject: { type: 'user', id: user.id },
          organizationId: user.organizationId,
          ip: ctx.ip ?? null,
          userAgent: ctx.userAgent ?? null,
          requestId: ctx.requestId ?? null,
          details: { verified_by: 'login_code' },
        },
        m,
      );
    });
  }

  private async sendCode(
    handle: FlowHandle,
    flow: Flow<SignInState>,
    user: UserRecord,
    channel: OtpChannel,
    ctx: ClientContext,
  ): Promise<SignInOutcome> {
    let issued;
    try {
      issued = await this.otp.issue({
        purpose: 'login',
        subject: { type: 'user', id: user.id },
        flowId: flow.id,
        channel,
        destination: destinationOf(user, channel),
        context: {
          actor: { type: 'user', id: user.id },
          organizationId: user.organizationId,
          ip: ctx.ip ?? null,
          userAgent: ctx.userAgent ?? null,
          requestId: ctx.requestId ?? null,
        },
      });
    } catch (error) {
      if (error instanceof DomainError && (error.code === 'otp_cooldown' || error.code === 'otp_rate_limited')) {
        const retry = Number(error.details.retryAfterSeconds ?? 30);
        const outcome: SignInOutcome = {
          handle,
          state: flow.state,
          error: {
            code: error.code,
            message:
              error.code === 'otp_cooldown'
                ? `Please wait ${retry} seconds before asking for a new code.`
                : `Too many codes were sent. Try again in ${Math.ceil(retry / 60)} minutes.`,
            retryAfterSeconds: retry,
          },
        };
        if (flow.state.step === 'otp') outcome.delivery = (await this.outbox.status(flow.state.messageId)).status;
        return outcome;
      }
      throw error;
    }
    const next = nextSignIn(
      flow.state,
      { type: 'code_sent', channel, challengeId: issued.challengeId, messageId: issued.messageId },
      this.clock.now(),
    );
    await this.flows.save(flow, next);
    const delivery = await this.outbox.deliverNow(issued.messageId, DELIVERY_WAIT_MS);
    const outcome: SignInOutcome = { handle, state: next, delivery };
    if (delivery === 'failed') {
      outcome.error = {
        code: 'delivery_failed',
        message: `We could not send your code by ${channel === 'email' ? 'email' : channel === 'sms' ? 'text message' : 'voice call'}. Try again or choose another way.`,
      };
    }
    return outcome;
  }

  private async finish(
    handle: FlowHandle,
    flow: Flow<SignInState>,
    user: UserRecord,
    remember: boolean,
    ctx: ClientContext,
  ): Promise<SignInOutcome> {
    const state = flow.state;
    if (state.step !== 'done') throw new Error('finish before done');
    // The policy matters only for remembering this device; read it (before the transaction) only then.
    const policy =
      remember && state.verifications.some((v) => v.method === 'otp') ? await this.directory.policy(user.organizationId) : undefined;
    const { sessionToken, deviceToken } = await this.dataSource.transaction(async (manager) => {
      const { token } = await this.sessions.create(user.id, user.credentialVersion, state.verifications, ctx, manager);
      let device: string | undefined;
      if (policy) {
        const remembered = await this.devices.remember(
          user,
          { enabled: policy.rememberDeviceEnabled, days: policy.rememberDeviceDays, version: policy.version },
          ctx,
          manager,
        );
        if (remembered) {
          device = remembered.token;
          const locale = await messageLocaleFor(manager, { type: 'user', id: user.id });
          const notice = noticeMessage('new_device', { name: remembered.device.name, at: this.clock.now().toISOString(), locale });
          await this.outbox.enqueue(manager, {
            channel: 'email',
            to: user.email,
            purpose: 'notice.new_device',
            locale,
            subject: notice.subject,
            text: notice.text,
          });
        }
      }
      await this.flows.end(flow.id, manager);
      return { sessionToken: token, deviceToken: device };
    });
    const signedIn: NonNullable<SignInOutcome['signedIn']> = { userId: user.id, sessionToken, returnTo: state.returnTo };
    if (deviceToken) signedIn.deviceToken = deviceToken;
    return { handle, state, signedIn };
  }

  private async requireUser(id: string): Promise<UserRecord> {
    const user = await this.directory.user(id);
    if (!user) throw new DomainError('flow_not_found', 'This sign-in step is no longer valid. Please start again.');
    return user;
  }
}
