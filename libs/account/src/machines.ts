import type { OtpChannel } from '../../identity/src/index.js';
import { FlowStepError } from '../../signin/src/index.js';

/**
 * The signed-in account flows as pure state machines: (state, event, now) -> next state.
 * Services do the I/O (codes, database) and feed events in; the hosted pages and the JSON
 * API render the same states.
 */

/** Where a sent code stands in a flow. */
export interface CodeStep {
  channel: OtpChannel;
  challengeId: string;
  messageId: string;
  sentAt: string;
}

/**
 * Step-up: a fresh OTP for a live session, by one of the user's verified channels. The
 * code is bound to purpose `step_up`, the user and the session id (its flow id), so neither
 * a login code nor a code of another session can satisfy it.
 */
export type StepUpState =
  | { step: 'choose_channel'; sessionId: string; userId: string; channels: OtpChannel[]; preferred: OtpChannel; returnTo: string }
  | ({
      step: 'otp';
      sessionId: string;
      userId: string;
      channels: OtpChannel[];
      preferred: OtpChannel;
      returnTo: string;
    } & CodeStep)
  | { step: 'done'; sessionId: string; userId: string; returnTo: string; channel: OtpChannel; verifiedAt: string };

export type StepUpEvent = ({ type: 'code_sent' } & Omit<CodeStep, 'sentAt'>) | { type: 'code_verified' };

export function nextStepUp(state: StepUpState, event: StepUpEvent, now: Date): StepUpState {
  const at = now.toISOString();
  switch (event.type) {
    case 'code_sent': {
      if (state.step !== 'choose_channel' && state.step !== 'otp') throw new FlowStepError(state.step, event.type);
      if (!state.channels.includes(event.channel)) throw new FlowStepError(state.step, `${event.type}:${event.channel}`);
      return {
        step: 'otp',
        sessionId: state.sessionId,
        userId: state.userId,
        channels: state.channels,
        preferred: event.channel,
        returnTo: state.returnTo,
        channel: event.channel,
        challengeId: event.challengeId,
        messageId: event.messageId,
        sentAt: at,
      };
    }
    case 'code_verified': {
      if (state.step !== 'otp') throw new FlowStepError(state.step, event.type);
      return {
        step: 'done',
        sessionId: state.sessionId,
        userId: state.userId,
        returnTo: state.returnTo,
        channel: state.channel,
        verifiedAt: at,
      };
    }
  }
}

export type ContactKind = 'mobile' | 'email';

/**
 * Changing (or adding) a contact: the new address or number gets its own code (purpose
 * `verification`, bound to this flow); the user's record changes only once it verifies.
 * Started only from a fresh session, and bound to it.
 */
export type ContactChangeState =
  | { step: 'sending'; kind: ContactKind; sessionId: string; userId: string; destination: string; channels: OtpChannel[] }
  | ({ step: 'otp'; kind: ContactKind; sessionId: string; userId: string; destination: string; channels: OtpChannel[] } & CodeStep)
  | { step: 'done'; kind: ContactKind; sessionId: string; userId: string; destination: string; channel: OtpChannel; verifiedAt: string };

export type ContactChangeEvent = ({ type: 'code_sent' } & Omit<CodeStep, 'sentAt'>) | { type: 'code_verified' };

/** The channels a new contact can be verified by: email for an address, SMS or voice for a mobile number. */
export function contactChannels(kind: ContactKind): OtpChannel[] {
  return kind === 'email' ? ['email'] : ['sms', 'voice'];
}

export function nextContactChange(state: ContactChangeState, event: ContactChangeEvent, now: Date): ContactChangeState {
  const at = now.toISOString();
  switch (event.type) {
    case 'code_sent': {
      if (state.step !== 'sending' && state.step !== 'otp') throw new FlowStepError(state.step, event.type);
      if (!state.channels.includes(event.channel)) throw new FlowStepError(state.step, `${event.type}:${event.channel}`);
      return {
        step: 'otp',
        kind: state.kind,
        sessionId: state.sessionId,
        userId: state.userId,
        destination: state.destination,
        channels: state.channels,
        channel: event.channel,
        challengeId: event.challengeId,
        messageId: event.messageId,
        sentAt: at,
      };
    }
    case 'code_verified': {
      if (state.step !== 'otp') throw new FlowStepError(state.step, event.type);
      return {
        step: 'done',
        kind: state.kind,
        sessionId: state.sessionId,
        userId: state.userId,
        destination: state.destination,
        channel: state.channel,
        verifiedAt: at,
      };
    }
  }
}
