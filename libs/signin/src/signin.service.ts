import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, auditMeta } from '#libs/audit';
import { Clock, DomainError, Duration, foldKey, hasForbiddenCharacters, waitUntilElapsed, type Channel } from '#libs/core';
import { WriteBatch } from '#libs/database';
import { FlowStore, type Flow, type FlowHandle } from '#libs/flows';
import { legacyPasswordFactor, passwordFactor, rememberedDeviceRecord, secondFactorsOffered, type FactorId } from '#libs/factors';
import { Directory, PasswordHasher, replacePasswordHash, LEGACY_HASH_CHECK, type PolicyRecord, type UserRecord } from '#libs/identity';
import { OutboxService } from '#libs/notifications';
import {
  CodeStepService,
  INVALID_CHANNEL,
  OtpService,
  availableChannels,
  destinationOf,
  otpFailureMessage,
  pickChannel,
  type StepError,
} from '#libs/otp';
import { RememberedDeviceService, SessionService, type DeviceInspection } from '#libs/sessions';
import { ACCOUNT_RULE, IP_RULE, ThrottleService, refusalError } from '#libs/throttle';
import { GENERIC_FAILURE, safeReturnTo } from './common.js';
import { EnrollmentService } from './enrollment.service.js';
import { SignInFinish, devicePolicyOf, type ClientContext, type DirectSignInOutcome, type SignInOutcome } from './signin-finish.js';
import { nextSignIn, type SignInState } from './machines.js';

/** The flow a step runs in; none for the one-request sign-in until it needs one. */
interface CurrentFlow {
  handle: FlowHandle;
  flow: Flow<SignInState>;
}

type Done = Extract<SignInState, { step: 'done' }>;

/** What the second-factor step offers: the factors, and the code factor's channels. */
type SecondFactorOffer = { factors: FactorId[]; channels: Channel[] };
const NO_OFFER: SecondFactorOffer = { factors: [], channels: [] };

export interface SignInOptions {
  /**
   * The least time a failed password check takes to answer (unknown user, wrong password,
   * disabled account, wrong legacy password): above the slowest hash an account may hold
   * (argon2id, or a legacy hash within IMPORT_LIMITS, checked in up to two Unicode forms), so
   * the answer's time tells no account from another. A right password is not delayed.
   */
  failureFloor: Duration;
}

export const SIGNIN_OPTIONS = Symbol('SIGNIN_OPTIONS');
export const DEFAULT_SIGNIN_OPTIONS: SignInOptions = { failureFloor: Duration.ofMilliseconds(1000) };

/** The answer for a User ID with control or invisible characters: refused before any query, never counted. */
const INVALID_USER_ID: StepError = {
  code: 'invalid_characters',
  message: 'The User ID contains control or invisible characters. Type it again without them.',
};

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
    private readonly codes: CodeStepService,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
    private readonly enrollment: EnrollmentService,
    private readonly finisher: SignInFinish,
    @Optional() @Inject(SIGNIN_OPTIONS) options?: Partial<SignInOptions>,
  ) {
    this.options = { ...DEFAULT_SIGNIN_OPTIONS, ...(options ?? {}) };
  }

  private readonly options: SignInOptions;

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
    return this.describe(handle, flow.state);
  }

  async submitCredentials(handle: FlowHandle, input: { userId: unknown; password: unknown }, ctx: ClientContext): Promise<SignInOutcome> {
    const flow = await this.flows.load<SignInState>('signin', handle);
    if (flow.state.step !== 'credentials') return { handle, state: flow.state };
    const outcome = await this.credentials({ handle, flow }, flow.state, input, ctx);
    return { ...outcome, handle: outcome.handle ?? handle };
  }

  /**
   * The one-request sign-in, for a client that has everything at hand (the JSON API's
   * `POST /api/v1/signin` with `user_id` and `password`, and a `device_token` if it has one):
   * start and credentials in one step, with the same checks, throttling, answers and audit
   * events. A remembered device signs in at once, without a flow; when a code is needed, the
   * flow is created then and continues like one started with `start`. The hosted sign-in page
   * uses it too: viewing the page creates no flow, submitting it runs this (`requireOtp` for a step-up).
   */
  async signIn(
    input: { userId: unknown; password: unknown; returnTo?: unknown; requireOtp?: boolean },
    ctx: ClientContext,
  ): Promise<DirectSignInOutcome> {
    const state: SignInState = { step: 'credentials', returnTo: safeReturnTo(input.returnTo), requireOtp: input.requireOtp === true };
    return this.credentials(null, state, input, ctx);
  }

  private async credentials(
    current: CurrentFlow | null,
    state: Extract<SignInState, { step: 'credentials' }>,
    input: { userId: unknown; password: unknown },
    ctx: ClientContext,
  ): Promise<DirectSignInOutcome> {
    const handle = current?.handle;
    const userId = typeof input.userId === 'string' ? input.userId.slice(0, 256) : '';
    const password = typeof input.password === 'string' ? input.password.slice(0, 1024) : '';
    if (hasForbiddenCharacters(userId)) return { handle, state, error: INVALID_USER_ID };
    const accountKey = `signin:acct:${foldKey(userId.trim())}`;
    const ipKey = `signin:ip:${ctx.ip ?? 'unknown'}`;
    const started = performance.now();

    // Sent together: the attempt reserved against the throttle counters (counted before it is
    // evaluated, so parallel attempts never exceed the rules), whom the User ID names, and the device cookie.
    const complete = userId.trim() !== '' && password !== '';
    const [reserved, target, inspected] = await Promise.all([
      this.throttle.reserve([
        [accountKey, ACCOUNT_RULE],
        [ipKey, IP_RULE],
      ]),
      complete ? this.directory.findLoginTarget(userId) : Promise.resolve(null),
      complete ? this.devices.inspect(ctx.deviceToken) : Promise.resolve<DeviceInspection>({ kind: 'absent' }),
    ]);
    if (!reserved.ok) return { handle, state, error: refusalError(reserved) };
    /** The password was right: the account's failures are forgotten, the address's attempt given back. */
    const succeeded = () => this.throttle.succeeded(reserved, [accountKey]);

    // A failure was counted by the reservation; it is audited, and answered no sooner than the
    // floor, so that no account's hash (argon2id, or a legacy one) tells by its time that it exists.
    const fail = async (reason: string, subjectId: string | null): Promise<DirectSignInOutcome> => {
      await this.audit.record({
        type: 'signin.failed',
        actor: { type: 'anonymous' },
        subject: subjectId ? { type: 'user', id: subjectId } : null,
        ...auditMeta(ctx),
        details: { reason },
      });
      await waitUntilElapsed(started, this.options.failureFloor);
      return { handle, state, error: { code: 'invalid_credentials', message: GENERIC_FAILURE } };
    };

    if (!complete) {
      await this.hasher.verifyDummy(password);
      return fail('missing_input', null);
    }
    if (!target) {
      await this.hasher.verifyDummy(password);
      return fail('unknown_user', null);
    }

    if (target.kind === 'legacy') {
      const account = target.account;
      if (account.status === 'pending') {
        const legacy = account.passwordHash
          ? await legacyPasswordFactor.verify(password, account.passwordHash, LEGACY_HASH_CHECK, this.clock.now())
          : null;
        if (!legacy?.ok) return fail('wrong_legacy_password', null);
        await succeeded();
        const enrollment = await this.enrollment.start(account, password, legacy.record, state.returnTo, ctx);
        if (current) await this.flows.end(current.flow.id);
        return { handle, state, enrollment };
      }
      // Enrolled: the legacy password never signs in again, but the right one is told where to go.
      const retired = account.passwordHash
        ? await this.hasher.verify(account.passwordHash, password)
        : await this.hasher.verifyDummy(password);
      if (typeof retired === 'object' && retired.ok) {
        await succeeded();
        await this.audit.record({
          type: 'signin.legacy_credential_retired',
          actor: { type: 'anonymous' },
          subject: account.userId ? { type: 'user', id: account.userId } : null,
          ip: ctx.ip ?? null,
          requestId: ctx.requestId ?? null,
        });
        return {
          handle,
          state,
          error: {
            code: 'legacy_retired',
            message: 'This user ID has been replaced by your Enterprise ID. Sign in with your Enterprise ID and new password.',
          },
        };
      }
      return fail('wrong_legacy_password_enrolled', account.userId);
    }

    const { user, passwordHash } = target;
    const verified = await passwordFactor.verify(password, passwordHash, this.hasher, this.clock.now());
    if (!verified.ok) return fail('wrong_password', user.id);
    if (user.status !== 'active') return fail('user_disabled', user.id);
    if (verified.rehashed) {
      await replacePasswordHash(this.dataSource, user.id, verified.rehashed, passwordHash);
    }
    // The throttle is settled in the finishing statement when a device signs in at once, else on its own.
    let settledInBatch = false;

    // The organization's policy, read once and only when needed: the device was read with its
    // policy, so the usual device sign-in never reads it here.
    let policy: Promise<PolicyRecord> | undefined;
    const policyOf = () => (policy ??= this.directory.policy(user.organizationId));
    const devicePolicy = async () => devicePolicyOf(await policyOf());
    // A step-up asks for a code anyway; the device is checked (and marked used) on its own then.
    const device = state.requireOtp
      ? await this.devices.check(ctx.deviceToken, user, devicePolicy, ctx)
      : await this.devices.decide(inspected, user, ctx);
    const passwordVerified = (trustedDeviceId: string | null, offer: SecondFactorOffer, now = this.clock.now()) =>
      nextSignIn(
        state,
        {
          type: 'password_verified',
          first: verified.record,
          userId: user.id,
          credentialVersion: user.credentialVersion,
          ...offer,
          preferred: user.preferredOtpChannel ?? 'email',
          secondFactor: trustedDeviceId ? rememberedDeviceRecord(trustedDeviceId, now) : null,
        },
        now,
      );
    if (device.ok && !state.requireOtp) {
      // The offer matters only when the step is asked for: none here, the machine ends at `done`
      // (the device check accepted the device under the policy, in SQL).
      const done = passwordVerified(device.device.id, NO_OFFER);
      if (done.step === 'done') {
        const finished = await this.finish(current, done, user, ctx, {
          deviceId: device.device.id,
          throttle: { reservation: reserved, forget: [accountKey] },
        });
        settledInBatch = true;
        if (finished) return finished;
        // The device no longer applied when the batch ran (revoked, expired or outdated meanwhile):
        // say why (audited), and ask for a code as for any refused device.
        await this.devices.check(ctx.deviceToken, user, devicePolicy, ctx);
      }
    }
    if (!settledInBatch) await succeeded();
    // The second-factor step: what the registry offers this person under the policy.
    const policyNow = await policyOf();
    const channels = availableChannels(user, policyNow);
    const next = passwordVerified(null, { factors: secondFactorsOffered(user, policyNow), channels });
    // A code is needed: the flow goes on (the one-request sign-in creates it now, at this step).
    const continued = current
      ? { handle: current.handle, flow: await this.flows.save(current.flow, next) }
      : await this.flows.create<SignInState>('signin', next);
    // One factor reaching one place (a code by email): send the code straight away. With a choice, the user picks.
    if (next.step === 'choose_channel' && next.factors?.length === 1 && channels.length === 1)
      return this.sendCode(continued.handle, continued.flow, user, 'email', ctx);
    return { handle: continued.handle, state: next };
  }

  async chooseChannel(handle: FlowHandle, channel: unknown, ctx: ClientContext): Promise<SignInOutcome> {
    const flow = await this.flows.load<SignInState>('signin', handle);
    if (flow.state.step !== 'choose_channel' && flow.state.step !== 'otp') return { handle, state: flow.state };
    const chosen = pickChannel(flow.state.channels, channel);
    if (!chosen) return { handle, state: flow.state, error: INVALID_CHANNEL };
    const user = await this.requireUser(flow.state.userId);
    return this.sendCode(handle, flow, user, chosen, ctx);
  }

  /** "Send a new code": invalidates the previous one (cooldown and hourly caps apply). */
  async resend(handle: FlowHandle, channel: unknown, ctx: ClientContext): Promise<SignInOutcome> {
    const flow = await this.flows.load<SignInState>('signin', handle);
    if (flow.state.step !== 'otp') return { handle, state: flow.state };
    const chosen = pickChannel(flow.state.channels, channel, flow.state.channel, { lenient: true })!;
    const user = await this.requireUser(flow.state.userId);
    return this.sendCode(handle, flow, user, chosen, ctx);
  }

  async verifyCode(handle: FlowHandle, input: { code: unknown; remember: unknown }, ctx: ClientContext): Promise<SignInOutcome> {
    const flow = await this.flows.load<SignInState>('signin', handle);
    if (flow.state.step !== 'otp') return { handle, state: flow.state };
    const state = flow.state;
    const code = typeof input.code === 'string' ? input.code.slice(0, 32) : '';
    // The attempt is counted (and committed) first; the user is read meanwhile.
    const [checked, user] = await Promise.all([
      this.codes.check({
        challengeId: state.challengeId,
        purpose: 'login',
        subject: { type: 'user', id: state.userId },
        flowId: flow.id,
        code,
      }),
      this.directory.user(state.userId),
    ]);
    if (!checked.ok) return this.describe(handle, state, otpFailureMessage(checked));
    if (!user || user.status !== 'active') {
      // The right code is used up all the same, and the flow leads nowhere.
      const batch = new WriteBatch();
      const used = this.otp.consumeIn(batch, checked.claim);
      this.audit.appendTo(batch, [{ event: used.event, when: used.part }]);
      await batch.run(this.dataSource);
      throw new DomainError('flow_not_found', user ? GENERIC_FAILURE : 'This sign-in step is no longer valid. Please start again.');
    }
    if (state.channel === 'email' && user.emailVerifiedAt === null) await this.finisher.emailProven(user, checked.claim.challengeId, ctx);
    const next = nextSignIn(state, { type: 'code_verified' }, this.clock.now());
    if (next.step !== 'done') throw new Error('a verified code ends the sign-in');
    const outcome = await this.finish({ handle, flow }, next, user, ctx, {
      otp: checked.claim,
      // Remember the channel as the next default; most people keep theirs, and then there is nothing to write.
      preferredChannel: user.preferredOtpChannel !== state.channel ? state.channel : undefined,
      remember: input.remember === true || input.remember === 'on' || input.remember === 'true',
    });
    // Only a device can be found gone at the finish; this step used a code.
    if (!outcome) throw new Error('a code step finished without an outcome');
    return { ...outcome, handle };
  }

  private async sendCode(
    handle: FlowHandle,
    flow: Flow<SignInState>,
    user: UserRecord,
    channel: Channel,
    ctx: ClientContext,
  ): Promise<SignInOutcome> {
    const sent = await this.codes.send(
      {
        purpose: 'login',
        subject: { type: 'user', id: user.id },
        flowId: flow.id,
        channel,
        destination: destinationOf(user, channel),
        context: {
          actor: { type: 'user', id: user.id },
          organizationId: user.organizationId,
          ...auditMeta(ctx),
        },
      },
      async ({ challengeId, messageId }) => {
        const next = nextSignIn(flow.state, { type: 'code_sent', channel, challengeId, messageId }, this.clock.now());
        await this.flows.save(flow, next);
        return next;
      },
    );
    if (!sent.ok) return this.describe(handle, flow.state, sent.error);
    return { handle, state: sent.recorded, ...sent.delivered };
  }

  /** A step as it stands; at the code step with what happened to the code's message. */
  private async describe(handle: FlowHandle, state: SignInState, error?: StepError): Promise<SignInOutcome> {
    const outcome: SignInOutcome = { handle, state, ...(error ? { error } : {}) };
    if (state.step === 'otp') outcome.delivery = await this.codes.status(state.messageId);
    return outcome;
  }

  /** The finishing statement (SignInFinish), answered as a step: undefined when the device no longer applied. */
  private async finish(
    current: CurrentFlow | null,
    state: Done,
    user: UserRecord,
    ctx: ClientContext,
    extras: Parameters<SignInFinish['finish']>[4],
  ): Promise<DirectSignInOutcome | undefined> {
    const finished = await this.finisher.finish(current?.flow ?? null, state, user, ctx, extras);
    if ('deviceGone' in finished) return undefined;
    if ('codeLost' in finished) return this.describe(current!.handle, current!.flow.state, finished.codeLost);
    return { handle: current?.handle, state, signedIn: finished.signedIn };
  }

  private async requireUser(id: string): Promise<UserRecord> {
    const user = await this.directory.user(id);
    if (!user) throw new DomainError('flow_not_found', 'This sign-in step is no longer valid. Please start again.');
    return user;
  }
}
