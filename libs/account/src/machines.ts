import { FlowStepError, type Channel } from '#libs/core';
import { SECOND_FACTORS_THAT_CHALLENGE, secondFactorRefusal, type FactorId, type VerificationRecord } from '#libs/factors';
import { codeSent, codeVerified, type ChannelChoice, type CodeOffer, type CodeSentEvent, type SentCode } from '#libs/otp';

/**
 * The signed-in account flows as pure state machines: (state, event, now) -> next state.
 * Services do the I/O (codes, database) and feed events in; the hosted pages and the JSON
 * API render the same states. Their code steps embed the one code sub-step (libs/otp
 * code-step.ts): its offer and its sent code, flat.
 */

/** Where a sent code stands in a flow (the code sub-step's). */
export type CodeStep = SentCode;

/**
 * Step-up: a fresh second factor for a live session. Like sign-in's second-factor step it is
 * factor-blind: it keeps the factors it offers (libs/factors secondFactorsOffered) and ends
 * only with a fresh record of one of them. A code by message, today the only one, is bound
 * to purpose `step_up`, the user and the session id (its flow id), so neither a login code
 * nor a code of another session can satisfy it.
 */
export type StepUpState =
  | ({ step: 'choose_channel' } & StepUpOf & ChannelChoice)
  | ({ step: 'otp' } & StepUpOf & ChannelChoice & CodeStep)
  | ({ step: 'done' } & StepUpOf & { verification: VerificationRecord });

/** The session being stepped up, its user, where to go then, and the second factors offered. */
interface StepUpOf {
  sessionId: string;
  userId: string;
  returnTo: string;
  /** Absent only in flows stored before it was recorded. */
  factors?: FactorId[];
}

export type StepUpEvent = CodeSentEvent | { type: 'code_verified' };

export function nextStepUp(state: StepUpState, event: StepUpEvent, now: Date): StepUpState {
  switch (event.type) {
    case 'code_sent': {
      if (state.step !== 'choose_channel' && state.step !== 'otp') throw new FlowStepError(state.step, event.type);
      const step = state.step;
      return {
        step: 'otp',
        ...stepUpOf(state),
        preferred: state.preferred,
        ...codeSent(state, event, now, (what) => new FlowStepError(step, what)),
      };
    }
    case 'code_verified': {
      if (state.step !== 'otp') throw new FlowStepError(state.step, event.type);
      const verification = codeVerified(state, now);
      const refusal = secondFactorRefusal(verification, state.factors ?? SECOND_FACTORS_THAT_CHALLENGE);
      if (refusal) throw new FlowStepError(state.step, event.type, refusal);
      return { step: 'done', ...stepUpOf(state), verification };
    }
  }
}

function stepUpOf(state: StepUpOf): StepUpOf {
  return {
    sessionId: state.sessionId,
    userId: state.userId,
    returnTo: state.returnTo,
    ...(state.factors !== undefined ? { factors: state.factors } : {}),
  };
}

export type ContactKind = 'mobile' | 'email';

/**
 * Changing (or adding) a contact: the new address or number gets its own code (purpose
 * `verification`, bound to this flow); the user's record changes only once it verifies.
 * Started only from a fresh session, and bound to it.
 */
export type ContactChangeState =
  | ({ step: 'sending' } & ContactChangeOf & CodeOffer)
  | ({ step: 'otp' } & ContactChangeOf & CodeOffer & CodeStep)
  | ({ step: 'done' } & ContactChangeOf & { channel: Channel; verifiedAt: string });

/** Whose contact changes, in which session, to what. */
interface ContactChangeOf {
  kind: ContactKind;
  sessionId: string;
  userId: string;
  destination: string;
}

export type ContactChangeEvent = CodeSentEvent | { type: 'code_verified' };

/** The channels a new contact can be verified by: email for an address, SMS or voice for a mobile number. */
export function contactChannels(kind: ContactKind): Channel[] {
  return kind === 'email' ? ['email'] : ['sms', 'voice'];
}

export function nextContactChange(state: ContactChangeState, event: ContactChangeEvent, now: Date): ContactChangeState {
  switch (event.type) {
    case 'code_sent': {
      if (state.step !== 'sending' && state.step !== 'otp') throw new FlowStepError(state.step, event.type);
      const step = state.step;
      return {
        step: 'otp',
        kind: state.kind,
        sessionId: state.sessionId,
        userId: state.userId,
        destination: state.destination,
        ...codeSent(state, event, now, (what) => new FlowStepError(step, what)),
      };
    }
    case 'code_verified': {
      if (state.step !== 'otp') throw new FlowStepError(state.step, event.type);
      const { channel, at } = codeVerified(state, now);
      return {
        step: 'done',
        kind: state.kind,
        sessionId: state.sessionId,
        userId: state.userId,
        destination: state.destination,
        channel,
        verifiedAt: at,
      };
    }
  }
}
