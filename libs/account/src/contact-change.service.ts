import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, auditMeta } from '#libs/audit';
import { Clock, type Channel } from '#libs/core';
import { FlowStore, type Flow, type FlowHandle } from '#libs/flows';
import {
  Directory,
  checkEmail,
  checkMobile,
  type UserRecord,
  activeUserContactsForUpdate,
  clearUserMobile,
  setVerifiedUserEmail,
  setVerifiedUserMobile,
  userMobileForUpdate,
} from '#libs/identity';
import { OutboxService, messageLocaleFor, noticeMessage } from '#libs/notifications';
import { CodeStepService, INVALID_CHANNEL, maskDestination, pickChannel, type Delivery, type StepError } from '#libs/otp';
import type { RequestMeta, Session } from '#libs/sessions';
import { STEP_UP_REQUIRED, assertSameSession, flowNotFound, requestContext, sessionEnded, str } from './common.js';
import type { ChangeOutcome } from './credential-change.service.js';
import { contactChannels, nextContactChange, type ContactChangeState, type ContactKind } from './machines.js';
import { StepUpService } from './step-up.service.js';

export interface ContactOutcome {
  /**
   * `step_up_required`: ask for a fresh OTP first; `rejected`: see `error`/`fieldErrors`;
   * `pending`: a code went to the new address or number; `changed`: it verified and the
   * account now uses it.
   */
  status: 'step_up_required' | 'rejected' | 'pending' | 'changed';
  handle?: FlowHandle;
  state?: ContactChangeState;
  delivery?: Delivery;
  error?: StepError;
  /** Keyed like the inputs: `mobile`, `email`, `channel`. */
  fieldErrors?: Record<string, string>;
}

const INVALID_INPUT: StepError = { code: 'invalid_input', message: 'Please correct the fields marked below.' };

/**
 * Changing or adding the mobile number, removing it, and changing the email address, from
 * a fresh session. A new address or number is proven by its own code (purpose
 * `verification`, bound to the change flow) before the account uses it; then the change,
 * its audit event and a link-free notice (to the email on file, for an email change the
 * previous one) commit together. None of these bumps the credential version: contacts are
 * where codes go, not credentials. Email addresses need not be unique across users (the
 * schema keeps `email_key` non-unique: people share mailboxes), so an address in use by
 * someone else is accepted once it is proven.
 */
@Injectable()
export class ContactChangeService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly flows: FlowStore,
    private readonly directory: Directory,
    private readonly codes: CodeStepService,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
    private readonly stepUp: StepUpService,
  ) {}

  /** Sends a code to a new mobile number by SMS or voice (`channel`, SMS when unset). */
  async startMobile(session: Session, input: { mobile: unknown; channel?: unknown }, meta: RequestMeta): Promise<ContactOutcome> {
    if (!this.stepUp.isFresh(session)) return { status: 'step_up_required', error: STEP_UP_REQUIRED };
    const user = await this.requireUser(session);
    const errors: Record<string, string> = {};
    const mobile = checkMobile(str(input.mobile, 64));
    if (!mobile.ok) errors.mobile = mobile.reason.replace(/^mobile/u, 'The mobile number');
    else if (mobile.value === user.mobile && user.mobileVerifiedAt) errors.mobile = 'This is already your mobile number.';
    const channel =
      input.channel === undefined || input.channel === '' ? 'sms' : contactChannels('mobile').find((c) => c === input.channel);
    if (!channel) errors.channel = 'Choose a text message or a voice call.';
    if (!mobile.ok || !channel || Object.keys(errors).length > 0) return { status: 'rejected', error: INVALID_INPUT, fieldErrors: errors };
    return this.start(session, user, 'mobile', mobile.value, channel, meta);
  }

  /** Sends a code to a new email address. */
  async startEmail(session: Session, input: { email: unknown }, meta: RequestMeta): Promise<ContactOutcome> {
    if (!this.stepUp.isFresh(session)) return { status: 'step_up_required', error: STEP_UP_REQUIRED };
    const user = await this.requireUser(session);
    const email = checkEmail(str(input.email, 320));
    if (!email.ok) return { status: 'rejected', error: INVALID_INPUT, fieldErrors: { email: 'Enter a valid email address.' } };
    const current = checkEmail(user.email);
    // The address on file but unverified (set by support) can be proven here, like an unverified mobile.
    if (current.ok && current.value.key === email.value.key && user.emailVerifiedAt) {
      return { status: 'rejected', error: INVALID_INPUT, fieldErrors: { email: 'This is already your email address.' } };
    }
    return this.start(session, user, 'email', email.value.display, 'email', meta);
  }

  async current(kind: ContactKind, handle: FlowHandle, session: Session): Promise<ContactOutcome> {
    const flow = await this.load(kind, handle, session);
    return this.describe(handle, flow.state);
  }

  /** "Send a new code", by the same or (for a mobile) the other channel. */
  async resend(kind: ContactKind, handle: FlowHandle, session: Session, channel: unknown, meta: RequestMeta): Promise<ContactOutcome> {
    const flow = await this.load(kind, handle, session);
    if (flow.state.step === 'done') return this.describe(handle, flow.state);
    const state = flow.state;
    const chosen = pickChannel(state.channels, channel, state.step === 'otp' ? state.channel : state.channels[0]!);
    if (!chosen) return { ...(await this.describe(handle, state)), error: INVALID_CHANNEL };
    return this.send(handle, flow, await this.requireUser(session), chosen, meta);
  }

  /**
   * Checks the code sent to the new address or number; when it matches, the account uses
   * it from now on. The code's consumption and the change commit together.
   */
  async verify(kind: ContactKind, handle: FlowHandle, session: Session, code: unknown, meta: RequestMeta): Promise<ContactOutcome> {
    const flow = await this.load(kind, handle, session);
    if (flow.state.step !== 'otp') return this.describe(handle, flow.state);
    const state = flow.state;
    const user = await this.requireUser(session);
    const now = this.clock.now();
    const next = nextContactChange(state, { type: 'code_verified' }, now);
    const failure = await this.dataSource.transaction(async (manager: EntityManager) => {
      const result = await this.codes.verify(
        {
          challengeId: state.challengeId,
          purpose: 'verification',
          subject: { type: 'user', id: user.id },
          flowId: flow.id,
          code: typeof code === 'string' ? code.slice(0, 32) : '',
          context: requestContext(user.id, user.organizationId, meta),
        },
        manager,
      );
      // A wrong code commits too: its attempt must count.
      if (!result.ok) return result;
      const [previous] = await activeUserContactsForUpdate(manager, [user.id]);
      if (!previous) throw sessionEnded();
      if (kind === 'mobile') await this.applyMobile(manager, user, previous, state.destination, state.channel, session, now, meta);
      else await this.applyEmail(manager, user, previous, state.destination, session, now, meta);
      await this.flows.save(flow, next, manager);
      return null;
    });
    if (failure) {
      return {
        ...(await this.describe(handle, state)),
        status: 'pending',
        error: failure.error,
      };
    }
    await this.flows.end(flow.id);
    return { status: 'changed', handle, state: next };
  }

  /** Removes the mobile number: SMS and voice are no longer offered for codes. */
  async removeMobile(session: Session, meta: RequestMeta): Promise<ChangeOutcome> {
    if (!this.stepUp.isFresh(session)) return { status: 'step_up_required', error: STEP_UP_REQUIRED };
    const user = await this.requireUser(session);
    if (!user.mobile) return { status: 'rejected', error: { code: 'no_mobile', message: 'There is no mobile number on your account.' } };
    const now = this.clock.now();
    await this.dataSource.transaction(async (manager: EntityManager) => {
      const [locked] = await userMobileForUpdate(manager, [user.id]);
      const previous = locked?.mobile;
      if (!previous) return;
      await clearUserMobile(manager, [user.id, now]);
      await this.audit.record(
        {
          type: 'contact.mobile_removed',
          actor: { type: 'user', id: user.id },
          subject: { type: 'user', id: user.id },
          organizationId: user.organizationId,
          ...auditMeta(meta),
          details: { session_id: session.id, previous: maskDestination('sms', previous) },
        },
        manager,
      );
      await this.notify(manager, user, user.email, now);
    });
    return { status: 'changed' };
  }

  private async start(
    session: Session,
    user: UserRecord,
    kind: ContactKind,
    destination: string,
    channel: Channel,
    meta: RequestMeta,
  ): Promise<ContactOutcome> {
    const { handle, flow } = await this.flows.create<ContactChangeState>('verification', {
      step: 'sending',
      kind,
      sessionId: session.id,
      userId: user.id,
      destination,
      channels: contactChannels(kind),
    });
    const outcome = await this.send(handle, flow, user, channel, meta);
    if (outcome.state?.step === 'sending') {
      // Nothing went out (cooldown, caps, or a destination no sender accepts): the form is shown again.
      await this.flows.end(flow.id);
      const field = kind === 'mobile' ? 'mobile' : 'email';
      return { status: 'rejected', ...(outcome.error ? { error: outcome.error, fieldErrors: { [field]: outcome.error.message } } : {}) };
    }
    return outcome;
  }

  private async send(
    handle: FlowHandle,
    flow: Flow<ContactChangeState>,
    user: UserRecord,
    channel: Channel,
    meta: RequestMeta,
  ): Promise<ContactOutcome> {
    const state = flow.state;
    if (state.step === 'done') return this.describe(handle, state);
    const sent = await this.codes.send(
      {
        purpose: 'verification',
        subject: { type: 'user', id: user.id },
        flowId: flow.id,
        channel,
        destination: state.destination,
        context: requestContext(user.id, user.organizationId, meta),
      },
      async ({ challengeId, messageId }) => {
        const next = nextContactChange(state, { type: 'code_sent', channel, challengeId, messageId }, this.clock.now());
        await this.flows.save(flow, next);
        return next;
      },
      { refuseUndeliverable: true },
    );
    if (!sent.ok) return { ...(await this.describe(handle, state)), error: sent.error };
    return { status: 'pending', handle, state: sent.recorded, ...sent.delivered };
  }

  private async applyMobile(
    manager: EntityManager,
    user: UserRecord,
    previous: { email: string; mobile: string | null },
    mobile: string,
    channel: Channel,
    session: Session,
    now: Date,
    meta: RequestMeta,
  ): Promise<void> {
    await setVerifiedUserMobile(manager, [user.id, mobile, now]);
    // The number on file but never verified (skipped at enrollment) is only being verified now.
    const type =
      previous.mobile === mobile ? 'contact.mobile_verified' : previous.mobile ? 'contact.mobile_changed' : 'contact.mobile_added';
    await this.audit.record(
      {
        type,
        actor: { type: 'user', id: user.id },
        subject: { type: 'user', id: user.id },
        organizationId: user.organizationId,
        ...auditMeta(meta),
        details: {
          session_id: session.id,
          previous: previous.mobile ? maskDestination('sms', previous.mobile) : null,
          mobile: maskDestination('sms', mobile),
          verified_by: channel,
        },
      },
      manager,
    );
    if (type !== 'contact.mobile_verified') await this.notify(manager, user, previous.email, now);
  }

  private async applyEmail(
    manager: EntityManager,
    user: UserRecord,
    previous: { email: string },
    email: string,
    session: Session,
    now: Date,
    meta: RequestMeta,
  ): Promise<void> {
    const checked = checkEmail(email);
    if (!checked.ok) throw flowNotFound();
    await setVerifiedUserEmail(manager, [user.id, checked.value.display, checked.value.key, now]);
    const before = checkEmail(previous.email);
    const verifiedOnly = before.ok && before.value.key === checked.value.key;
    await this.audit.record(
      {
        type: verifiedOnly ? 'contact.email_verified' : 'contact.email_changed',
        actor: { type: 'user', id: user.id },
        subject: { type: 'user', id: user.id },
        organizationId: user.organizationId,
        ...auditMeta(meta),
        details: { session_id: session.id, previous: maskDestination('email', previous.email), email: maskDestination('email', email) },
      },
      manager,
    );
    // To the address being replaced: if someone else made this change, the owner hears of it there.
    if (!verifiedOnly) await this.notify(manager, user, previous.email, now, 'email_changed');
  }

  private async notify(
    manager: EntityManager,
    user: UserRecord,
    to: string,
    at: Date,
    kind: 'mobile_changed' | 'email_changed' = 'mobile_changed',
  ): Promise<void> {
    const locale = await messageLocaleFor(manager, { type: 'user', id: user.id });
    const notice = noticeMessage(kind, { firstName: user.firstName, at, locale });
    await this.outbox.enqueue(manager, {
      channel: 'email',
      to,
      purpose: `notice.${kind}`,
      locale,
      subject: notice.subject,
      text: notice.text,
    });
  }

  private async describe(handle: FlowHandle, state: ContactChangeState): Promise<ContactOutcome> {
    const outcome: ContactOutcome = { status: state.step === 'done' ? 'changed' : 'pending', handle, state };
    if (state.step === 'otp') outcome.delivery = await this.codes.status(state.messageId);
    return outcome;
  }

  private async load(kind: ContactKind, handle: FlowHandle, session: Session): Promise<Flow<ContactChangeState>> {
    const flow = await this.flows.load<ContactChangeState>('verification', handle);
    assertSameSession(flow.state, session);
    if (flow.state.kind !== kind) throw flowNotFound();
    return flow;
  }

  private async requireUser(session: Session): Promise<UserRecord> {
    const user = await this.directory.user(session.userId);
    if (!user || user.status !== 'active') throw sessionEnded();
    return user;
  }
}
