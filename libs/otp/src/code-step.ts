import { FlowStepError, type Channel } from '#libs/core';

/**
 * The "send a code, verify a code" sub-step of every flow (sign-in, enrollment, step-up,
 * contact change, recovery, staff sign-in, emergency contacts) as one pure state machine:
 * (state, event, now) -> next state. CodeStepService does the I/O around it (issue, verify,
 * delivery); the flows embed its state in theirs and feed its events through it.
 *
 *   choose --code_sent--> sent --code_sent (a resend, maybe by another channel)--> sent
 *                          sent --code_verified--> verified
 */

/** The channels a code step offers, and the one shown first (absent where the step names none). */
export interface CodeOffer {
  channels: Channel[];
  preferred?: Channel;
}

/** The offer of a step where the person chooses: the channels, and the one shown first. */
export type ChannelChoice = Required<CodeOffer>;

/** A code that went out: by which channel, its challenge and outbox message, and when. */
export interface SentCode {
  channel: Channel;
  challengeId: string;
  messageId: string;
  sentAt: string;
}

/** What a verified code proves, in the shape of a session's verification record. */
export interface CodeVerification {
  method: 'otp';
  channel: Channel;
  at: string;
}

export type CodeStepState =
  | ({ phase: 'choose' } & CodeOffer)
  | ({ phase: 'sent'; code: SentCode } & CodeOffer)
  | ({ phase: 'verified'; code: SentCode; verification: CodeVerification } & CodeOffer);

export type CodeSentEvent = { type: 'code_sent' } & Omit<SentCode, 'sentAt'>;
export type CodeStepEvent = CodeSentEvent | { type: 'code_verified' };

/** How a refused event is reported: by default a FlowStepError naming the phase. A flow passes its own step and error. */
export type Refuse = (event: string) => Error;

export function nextCodeStep(state: CodeStepState, event: CodeStepEvent, now: Date, refuse?: Refuse): CodeStepState {
  const refused = (what: string) => (refuse ? refuse(what) : new FlowStepError(state.phase, what));
  const offer: CodeOffer = { channels: state.channels, ...(state.preferred !== undefined ? { preferred: state.preferred } : {}) };
  switch (event.type) {
    case 'code_sent': {
      if (state.phase === 'verified') throw refused(event.type);
      if (!state.channels.includes(event.channel)) throw refused(`${event.type}:${event.channel}`);
      // The channel used last is offered first next time (a resend replaces the previous code).
      if (offer.preferred !== undefined) offer.preferred = event.channel;
      const code: SentCode = {
        channel: event.channel,
        challengeId: event.challengeId,
        messageId: event.messageId,
        sentAt: now.toISOString(),
      };
      return { phase: 'sent', ...offer, code };
    }
    case 'code_verified': {
      if (state.phase !== 'sent') throw refused(event.type);
      return {
        phase: 'verified',
        ...offer,
        code: state.code,
        verification: { method: 'otp', channel: state.code.channel, at: now.toISOString() },
      };
    }
  }
}

/** The sub-step of a flow state that embeds it flat (the offer, and the code's fields once one was sent). */
export function codeStepOf(flat: CodeOffer & Partial<SentCode>): CodeStepState {
  const offer: CodeOffer = { channels: flat.channels, ...(flat.preferred !== undefined ? { preferred: flat.preferred } : {}) };
  if (!flat.challengeId || !flat.channel || !flat.messageId || flat.sentAt === undefined) return { phase: 'choose', ...offer };
  return {
    phase: 'sent',
    ...offer,
    code: { channel: flat.channel, challengeId: flat.challengeId, messageId: flat.messageId, sentAt: flat.sentAt },
  };
}

/**
 * `code_sent` for a flow that embeds the sub-step flat: the offer and the new code's fields,
 * for the flow's next state. Refuses a channel the step does not offer, and a verified step.
 */
export function codeSent(flat: CodeOffer & Partial<SentCode>, event: CodeSentEvent, now: Date, refuse?: Refuse): CodeOffer & SentCode {
  const next = nextCodeStep(codeStepOf(flat), event, now, refuse);
  if (next.phase !== 'sent') throw new Error('a sent code leaves the step waiting for it');
  return { channels: next.channels, ...(next.preferred !== undefined ? { preferred: next.preferred } : {}), ...next.code };
}

/** `code_verified` for a flow that embeds the sub-step flat: the verification record it earns. Refuses a step with no code sent. */
export function codeVerified(flat: CodeOffer & Partial<SentCode>, now: Date, refuse?: Refuse): CodeVerification {
  const next = nextCodeStep(codeStepOf(flat), { type: 'code_verified' }, now, refuse);
  if (next.phase !== 'verified') throw new Error('a verified code ends the step');
  return next.verification;
}

/** Whom a code can reach: the address on file, and a mobile number once it is verified. */
export interface Reachable {
  email: string;
  mobile: string | null;
  mobileVerifiedAt: Date | null;
}

/**
 * The channels a code may go by now: email always; SMS and voice with a verified mobile
 * number, as far as the organization's policy allows them.
 */
export function availableChannels(person: Reachable, policy: { otpChannels: readonly Channel[] }): Channel[] {
  const channels: Channel[] = ['email'];
  if (person.mobile && person.mobileVerifiedAt) {
    if (policy.otpChannels.includes('sms')) channels.push('sms');
    if (policy.otpChannels.includes('voice')) channels.push('voice');
  }
  return channels;
}

/** Where a code by `channel` goes: the address, or the mobile number. */
export function destinationOf(person: { email: string; mobile: string | null }, channel: Channel): string {
  return channel === 'email' ? person.email : (person.mobile ?? '');
}

/**
 * The channel a send asks for. An offered channel is taken as asked; an unset one (absent or
 * empty) falls back to `fallback`; one not offered is refused (null), or with `lenient` also
 * falls back. No fallback: unset is refused too.
 */
export function pickChannel(
  offered: readonly Channel[],
  requested: unknown,
  fallback?: Channel,
  options: { lenient?: boolean } = {},
): Channel | null {
  const chosen = offered.find((c) => c === requested);
  if (chosen) return chosen;
  const unset = requested === undefined || requested === '';
  return fallback !== undefined && (unset || options.lenient === true) ? fallback : null;
}
