import type { Channel } from '#libs/core';
import type { VerifyOtpResult } from './types.js';

/**
 * The answers of a code step that people can act on: what every flow (sign-in, enrollment,
 * step-up, contact change, recovery, staff sign-in, emergency contacts) shows when a code
 * cannot be sent, was not delivered, or does not verify. Written once, here.
 */
export interface StepError {
  code: string;
  message: string;
  retryAfterSeconds?: number;
  attemptsLeft?: number;
}

/** How long a request waits for the code's message to be handed over before answering "still sending". */
export const DELIVERY_WAIT_MS = 8000;

/** The channel as people say it. */
export const CHANNEL_NAMES: Readonly<Record<Channel, string>> = { email: 'email', sms: 'text message', voice: 'voice call' };

/** A channel that is not (or no longer) offered at this step. */
export const INVALID_CHANNEL: StepError = { code: 'invalid_channel', message: 'Choose how to receive your code.' };

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

/** A new code refused for now: the resend cooldown, or the hourly caps (per person, per destination). */
export function issueRefusal(code: 'otp_cooldown' | 'otp_rate_limited', retryAfterSeconds: number): StepError {
  return {
    code,
    message:
      code === 'otp_cooldown'
        ? `Please wait ${retryAfterSeconds} seconds before asking for a new code.`
        : `Too many codes were sent. Try again in ${Math.ceil(retryAfterSeconds / 60)} minutes.`,
    retryAfterSeconds,
  };
}

/** A destination no sender accepts (an address or number the outbox refuses). */
export function undeliverable(channel: Channel): StepError {
  return { code: 'undeliverable', message: `We cannot send a code by ${CHANNEL_NAMES[channel]} to this destination.` };
}

/**
 * The code's message could not be sent. Where the step offers other channels (`choose`) the
 * message names the channel and suggests another; where it does not (`resend`), it points to
 * "Send a new code", naming the channel only when given.
 */
export function deliveryFailed(channel: Channel | null, next: 'choose' | 'resend'): StepError {
  const by = channel ? ` by ${CHANNEL_NAMES[channel]}` : '';
  return {
    code: 'delivery_failed',
    message: `We could not send your code${by}. ${next === 'choose' ? 'Try again or choose another way.' : 'Try again with "Send a new code".'}`,
  };
}
