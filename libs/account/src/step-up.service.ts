import { Inject, Injectable, Optional } from '@nestjs/common';
import type { AppConfig } from '#libs/config';
import { Clock, Duration, type Channel } from '#libs/core';
import { FlowStore, type Flow, type FlowHandle } from '#libs/flows';
import { secondFactorsOffered } from '#libs/factors';
import { Directory, type UserRecord } from '#libs/identity';
import { CodeStepService, INVALID_CHANNEL, availableChannels, destinationOf, pickChannel, type Delivery, type StepError } from '#libs/otp';
import { SessionService, lastOtpAt, type RequestMeta, type Session, type VerificationRecord } from '#libs/sessions';
import { safeReturnTo } from '#libs/signin';
import { assertSameSession, requestContext, sessionEnded } from './common.js';
import { nextStepUp, type StepUpState } from './machines.js';
import { auditMeta } from '#libs/audit';

/** Nest token for the step-up window (a Duration); unset means DEFAULT_STEP_UP_WINDOW. */
export const STEP_UP_WINDOW = Symbol('STEP_UP_WINDOW');
export const DEFAULT_STEP_UP_WINDOW = Duration.ofMinutes(10);

/** The window from configuration (`STEP_UP_MINUTES`). */
export function stepUpWindow(config: AppConfig): Duration {
  return Duration.ofMinutes(config.stepUp.minutes);
}

/** Until when these records keep a session fresh: the latest OTP plus the window (null without an OTP). */
export function freshUntil(records: readonly VerificationRecord[], window: Duration): Date | null {
  const last = lastOtpAt(records);
  return last ? window.after(last) : null;
}

/** Whether an OTP in these records was verified less than `window` before `now`. */
export function isFresh(records: readonly VerificationRecord[], now: Date, window: Duration): boolean {
  const until = freshUntil(records, window);
  return until !== null && now.getTime() < until.getTime();
}

export interface StepUpOutcome {
  /** The flow, once a code was asked for. */
  handle: FlowHandle | null;
  state: StepUpState;
  /** For the OTP step: what happened to the message with the code. */
  delivery?: Delivery;
  error?: StepError;
  /** Set once the session is fresh: until when it stays so. */
  freshUntil?: Date;
  /**
   * Set once the session is fresh: its new token. The step-up renewed it; the token the request
   * came with no longer works, so the caller hands this one on (cookie, or the JSON answer).
   */
  sessionToken?: string;
}

/**
 * Step-up for a signed-in session: sensitive actions need an OTP verified in this session
 * within the last STEP_UP_MINUTES (10). Otherwise the user gets a code by one of their
 * verified channels (the same choice as at sign-in), bound to purpose `step_up`, the user
 * and the session id; once it verifies, the session gains an `otp` verification record
 * (and with it loa:2) and a new token (a rise in assurance never keeps the old one). Used by Gatehouse's own account pages, and meant for OIDC step-up.
 */
@Injectable()
export class StepUpService {
  constructor(
    private readonly clock: Clock,
    private readonly flows: FlowStore,
    private readonly directory: Directory,
    private readonly codes: CodeStepService,
    private readonly sessions: SessionService,
    @Optional() @Inject(STEP_UP_WINDOW) private readonly window: Duration = DEFAULT_STEP_UP_WINDOW,
  ) {}

  /** The configured window. */
  get freshness(): Duration {
    return this.window;
  }

  /** Whether the session verified an OTP within the window (or within `maxAge`, e.g. an OIDC `max_age`). */
  isFresh(session: Pick<Session, 'verifications'>, maxAge: Duration = this.window): boolean {
    return isFresh(session.verifications, this.clock.now(), maxAge);
  }

  /** Until when the session is fresh, or null when it is not (any more). */
  freshUntil(session: Pick<Session, 'verifications'>): Date | null {
    const until = freshUntil(session.verifications, this.window);
    return until && until.getTime() > this.clock.now().getTime() ? until : null;
  }

  /** The first step, without a flow yet: which channels the user may choose from. */
  async options(session: Session, returnTo?: unknown): Promise<StepUpOutcome> {
    const user = await this.requireUser(session);
    return { handle: null, state: await this.firstStep(session, user, returnTo) };
  }

  /**
   * Starts a step-up and sends the code by `channel` (one of the user's verified channels;
   * the preferred one when unset). An unknown channel is an error, and nothing is sent.
   */
  async begin(session: Session, input: { channel?: unknown; returnTo?: unknown }, meta: RequestMeta): Promise<StepUpOutcome> {
    const user = await this.requireUser(session);
    const state = await this.firstStep(session, user, input.returnTo);
    const chosen = pickChannel(state.channels, input.channel, state.preferred);
    if (!chosen) return { handle: null, state, error: INVALID_CHANNEL };
    const { handle, flow } = await this.flows.create<StepUpState>('step_up', state);
    const outcome = await this.sendCode(handle, flow, user, session, chosen, meta);
    if (outcome.state.step !== 'choose_channel') return outcome;
    // Nothing went out (cooldown or hourly caps): no flow is left behind; the first step is shown again.
    await this.flows.end(flow.id);
    return { ...outcome, handle: null };
  }

  async current(handle: FlowHandle, session: Session): Promise<StepUpOutcome> {
    const flow = await this.load(handle, session);
    return this.describe(handle, flow.state);
  }

  /** "Send a new code", by the same or another of the offered channels (cooldown and hourly caps apply). */
  async resend(handle: FlowHandle, session: Session, channel: unknown, meta: RequestMeta): Promise<StepUpOutcome> {
    const flow = await this.load(handle, session);
    if (flow.state.step === 'done') return { handle, state: flow.state };
    const state = flow.state;
    const chosen = pickChannel(state.channels, channel, state.step === 'otp' ? state.channel : state.preferred);
    if (!chosen) return { handle, state, error: INVALID_CHANNEL };
    return this.sendCode(handle, flow, await this.requireUser(session), session, chosen, meta);
  }

  /** Checks the code; on success the session gets a fresh `otp` verification record and the flow ends. */
  async verify(handle: FlowHandle, session: Session, code: unknown, meta: RequestMeta): Promise<StepUpOutcome> {
    const flow = await this.load(handle, session);
    if (flow.state.step !== 'otp') return { handle, state: flow.state };
    const state = flow.state;
    const user = await this.requireUser(session);
    const result = await this.codes.verify({
      challengeId: state.challengeId,
      purpose: 'step_up',
      subject: { type: 'user', id: user.id },
      flowId: session.id,
      code: typeof code === 'string' ? code.slice(0, 32) : '',
      context: requestContext(user.id, user.organizationId, meta),
    });
    if (!result.ok) return this.describe(handle, state, result.error);
    const now = this.clock.now();
    const next = nextStepUp(state, { type: 'code_verified' }, now);
    if (next.step !== 'done') throw new Error('a verified code ends the step-up');
    // A rise in assurance: the session gets a new token (the old one ends with it), committed with its audit entry.
    const sessionToken = await this.sessions.raiseAssurance(session.id, next.verification, {
      type: 'session.stepped_up',
      actor: { type: 'user', id: user.id },
      subject: { type: 'user', id: user.id },
      organizationId: user.organizationId,
      ...auditMeta(meta),
      details: { session_id: session.id, channel: state.channel, renewed: true },
    });
    if (!sessionToken) throw sessionEnded();
    await this.flows.end(flow.id);
    return { handle, state: next, freshUntil: this.window.after(now), sessionToken };
  }

  private async sendCode(
    handle: FlowHandle,
    flow: Flow<StepUpState>,
    user: UserRecord,
    session: Session,
    channel: Channel,
    meta: RequestMeta,
  ): Promise<StepUpOutcome> {
    const sent = await this.codes.send(
      {
        purpose: 'step_up',
        subject: { type: 'user', id: user.id },
        flowId: session.id,
        channel,
        destination: destinationOf(user, channel),
        context: requestContext(user.id, user.organizationId, meta),
      },
      async ({ challengeId, messageId }) => {
        const next = nextStepUp(flow.state, { type: 'code_sent', channel, challengeId, messageId }, this.clock.now());
        await this.flows.save(flow, next);
        return next;
      },
      { refuseUndeliverable: true },
    );
    if (!sent.ok) return this.describe(handle, flow.state, sent.error);
    return { handle, state: sent.recorded, ...sent.delivered };
  }

  /** A step as it stands; at the code step with what happened to the code's message. */
  private async describe(handle: FlowHandle, state: StepUpState, error?: StepError): Promise<StepUpOutcome> {
    const outcome: StepUpOutcome = { handle, state, ...(error ? { error } : {}) };
    if (state.step === 'otp') outcome.delivery = await this.codes.status(state.messageId);
    return outcome;
  }

  private async load(handle: FlowHandle, session: Session): Promise<Flow<StepUpState>> {
    const flow = await this.flows.load<StepUpState>('step_up', handle);
    assertSameSession(flow.state, session);
    return flow;
  }

  /** The first step: what it offers this person (the second factors, the registry's under the policy, and the code factor's channels). */
  private async firstStep(
    session: Session,
    user: UserRecord,
    returnTo: unknown,
  ): Promise<Extract<StepUpState, { step: 'choose_channel' }>> {
    const policy = await this.directory.policy(user.organizationId);
    const channels = availableChannels(user, policy);
    const preferred = user.preferredOtpChannel && channels.includes(user.preferredOtpChannel) ? user.preferredOtpChannel : 'email';
    const factors = secondFactorsOffered(user, policy);
    return {
      step: 'choose_channel',
      sessionId: session.id,
      userId: user.id,
      factors,
      channels,
      preferred,
      returnTo: safeReturnTo(returnTo),
    };
  }

  private async requireUser(session: Session): Promise<UserRecord> {
    const user = await this.directory.user(session.userId);
    if (!user || user.status !== 'active') throw sessionEnded();
    return user;
  }
}
