import { Duration, FlowStepError, type Channel } from '#libs/core';
import { codeSent, codeVerified, type ChannelChoice, type CodeSentEvent, type SentCode } from '#libs/otp';
import { factorOf, recoveryProven, type VerificationRecord } from '#libs/factors';

/**
 * Self-service recovery as a pure state machine: (state, event, now) -> next state. The
 * service does the I/O (security-code guard, one-time codes, password change) and feeds
 * events in; the hosted pages and the JSON API render the same public steps.
 *
 * - Forgot Enterprise ID (goal `enterprise_id`): Email + Security code -> a code by email ->
 *   the Enterprise ID is shown (and emailed) -> optionally on to a new password (forgot both).
 * - Forgot password (goal `password`): Enterprise ID + Security code -> a code by the
 *   user's chosen verified channel -> new password.
 *
 * Details that match nothing (unknown user, wrong security code, locked or disabled user)
 * lead to `decoy`, which is shown exactly like the real "if the details match, we sent a
 * code" step and imitates a real code's answers (attempts, expiry, resend cooldown).
 */

export type RecoveryGoal = 'enterprise_id' | 'password';

/** A one-time code that was really sent (the code sub-step's, libs/otp code-step.ts). */
export type { SentCode };

/** The imitation of a sent code, for details that matched nothing. */
export interface DecoyCode {
  firstSentAt: string;
  sentAt: string;
  attempts: number;
  sends: number;
}

/** The user whose security code was accepted, and the credential version the flow started from. */
export type RecoverySubject = {
  userId: string;
  credentialVersion: number;
  verifications: VerificationRecord[];
} & ChannelChoice;

export type RecoveryState =
  | { step: 'identify'; goal: RecoveryGoal }
  | { step: 'decoy'; goal: RecoveryGoal; decoy: DecoyCode }
  | ({ step: 'choose_channel'; goal: RecoveryGoal } & RecoverySubject)
  | ({ step: 'otp'; goal: RecoveryGoal; generic: boolean; code: SentCode } & RecoverySubject)
  | { step: 'enterprise_id'; goal: 'enterprise_id'; userId: string; credentialVersion: number; verifications: VerificationRecord[] }
  | { step: 'new_password'; goal: RecoveryGoal; userId: string; credentialVersion: number; verifications: VerificationRecord[] }
  | { step: 'done'; goal: RecoveryGoal; userId: string };

export type RecoveryEvent =
  | {
      type: 'security_code_accepted';
      /** The recovery factor's record (the security code factor's verify yields it). */
      record: VerificationRecord;
      userId: string;
      credentialVersion: number;
      channels: Channel[];
      preferred: Channel;
    }
  | { type: 'details_not_matched' }
  | CodeSentEvent
  | { type: 'decoy_resent' }
  | { type: 'decoy_code_failed' }
  | { type: 'code_verified' }
  | { type: 'continue_to_password' }
  | { type: 'password_changed' };

/**
 * What the pages and the API show. `code_sent` is the generic step ("if the details match,
 * we sent a code"): the same for real and decoy flows. Channels are offered, and named,
 * only once the security code was accepted.
 */
export type RecoveryStep = 'identify' | 'code_sent' | 'choose_channel' | 'otp' | 'enterprise_id' | 'new_password' | 'done';

export class RecoveryStepError extends FlowStepError {
  constructor(step: string, event: string) {
    super(step, event, `recovery event ${event} is not allowed at step ${step}`);
  }
}

export function publicStep(state: RecoveryState): RecoveryStep {
  switch (state.step) {
    case 'identify':
    case 'choose_channel':
    case 'enterprise_id':
    case 'new_password':
    case 'done':
      return state.step;
    case 'decoy':
      return 'code_sent';
    case 'otp':
      return state.generic ? 'code_sent' : 'otp';
  }
}

export function nextRecovery(state: RecoveryState, event: RecoveryEvent, now: Date): RecoveryState {
  const at = now.toISOString();
  switch (event.type) {
    case 'security_code_accepted': {
      if (state.step !== 'identify') throw new RecoveryStepError(state.step, event.type);
      if (factorOf(event.record)?.role !== 'recovery') throw new RecoveryStepError(state.step, `${event.type}:not_a_recovery_factor`);
      // Forgot Enterprise ID proves the email it was asked with: the code goes there only.
      const channels: Channel[] = state.goal === 'enterprise_id' ? ['email'] : [...event.channels];
      if (channels.length === 0) throw new RecoveryStepError(state.step, `${event.type}:no_channel`);
      return {
        step: 'choose_channel',
        goal: state.goal,
        userId: event.userId,
        credentialVersion: event.credentialVersion,
        channels,
        preferred: channels.includes(event.preferred) ? event.preferred : 'email',
        verifications: [event.record],
      };
    }
    case 'details_not_matched':
      if (state.step !== 'identify') throw new RecoveryStepError(state.step, event.type);
      return { step: 'decoy', goal: state.goal, decoy: { firstSentAt: at, sentAt: at, attempts: 0, sends: 1 } };
    case 'code_sent': {
      if (state.step !== 'choose_channel' && state.step !== 'otp') throw new RecoveryStepError(state.step, event.type);
      const step = state.step;
      const { channels, preferred, ...code } = codeSent(
        { channels: state.channels, preferred: state.preferred, ...(state.step === 'otp' ? state.code : {}) },
        event,
        now,
        (what) => new RecoveryStepError(step, what),
      );
      return {
        step: 'otp',
        goal: state.goal,
        // With one channel nothing was offered: the step stays the generic one, like a decoy's.
        generic: state.step === 'otp' ? state.generic : state.channels.length === 1,
        userId: state.userId,
        credentialVersion: state.credentialVersion,
        channels,
        preferred: preferred ?? event.channel,
        verifications: state.verifications,
        code,
      };
    }
    case 'decoy_resent':
      if (state.step !== 'decoy') throw new RecoveryStepError(state.step, event.type);
      return { ...state, decoy: { ...state.decoy, sentAt: at, attempts: 0, sends: state.decoy.sends + 1 } };
    case 'decoy_code_failed':
      if (state.step !== 'decoy') throw new RecoveryStepError(state.step, event.type);
      return { ...state, decoy: { ...state.decoy, attempts: state.decoy.attempts + 1 } };
    case 'code_verified': {
      if (state.step !== 'otp') throw new RecoveryStepError(state.step, event.type);
      const verifications: VerificationRecord[] = [...state.verifications, codeVerified({ channels: state.channels, ...state.code }, now)];
      const common = { userId: state.userId, credentialVersion: state.credentialVersion, verifications };
      return state.goal === 'enterprise_id'
        ? { step: 'enterprise_id', goal: 'enterprise_id', ...common }
        : { step: 'new_password', goal: 'password', ...common };
    }
    case 'continue_to_password':
      // Forgot both: the security code and the email code of this flow already stand; no second code.
      if (state.step !== 'enterprise_id') throw new RecoveryStepError(state.step, event.type);
      return {
        step: 'new_password',
        goal: 'enterprise_id',
        userId: state.userId,
        credentialVersion: state.credentialVersion,
        verifications: state.verifications,
      };
    case 'password_changed': {
      if (state.step !== 'new_password') throw new RecoveryStepError(state.step, event.type);
      if (!isRecovered(state.verifications)) throw new RecoveryStepError(state.step, `${event.type}:unverified`);
      return { step: 'done', goal: state.goal, userId: state.userId };
    }
  }
}

/** A security code and a one-time code to a verified contact, both in this flow: never the security code alone. */
export function isRecovered(verifications: readonly VerificationRecord[]): boolean {
  return recoveryProven(verifications);
}

/** How a real one-time code behaves (libs/otp defaults), for the decoy to answer alike. */
export interface DecoyLimits {
  ttl: Duration;
  maxAttempts: number;
  resendCooldown: Duration;
  perHour: number;
}

export type DecoyAnswer =
  { reason: 'invalid'; attemptsLeft: number; counted: boolean } | { reason: 'expired' | 'exhausted'; attemptsLeft: 0; counted: false };

/**
 * The answer a real code would give to a wrong guess: attempts left (a malformed entry uses
 * none), then exhausted, or expired after its validity. A decoy never verifies.
 */
export function decoyVerify(decoy: DecoyCode, wellFormed: boolean, now: Date, limits: DecoyLimits): DecoyAnswer {
  if (decoy.attempts >= limits.maxAttempts) return { reason: 'exhausted', attemptsLeft: 0, counted: false };
  if (limits.ttl.after(new Date(decoy.sentAt)).getTime() <= now.getTime()) return { reason: 'expired', attemptsLeft: 0, counted: false };
  if (!wellFormed) return { reason: 'invalid', attemptsLeft: limits.maxAttempts - decoy.attempts, counted: false };
  return { reason: 'invalid', attemptsLeft: limits.maxAttempts - decoy.attempts - 1, counted: true };
}

export type DecoyResend = { ok: true } | { ok: false; code: 'otp_cooldown' | 'otp_rate_limited'; retryAfterSeconds: number };

/** Whether a real "Send a new code" would be refused now (cooldown, hourly cap), and for how long. */
export function decoyResend(decoy: DecoyCode, now: Date, limits: DecoyLimits): DecoyResend {
  const seconds = (until: Date) => Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000));
  const hourEnds = Duration.ofHours(1).after(new Date(decoy.firstSentAt));
  if (decoy.sends >= limits.perHour && hourEnds.getTime() > now.getTime()) {
    return { ok: false, code: 'otp_rate_limited', retryAfterSeconds: seconds(hourEnds) };
  }
  const next = limits.resendCooldown.after(new Date(decoy.sentAt));
  if (next.getTime() > now.getTime()) return { ok: false, code: 'otp_cooldown', retryAfterSeconds: seconds(next) };
  return { ok: true };
}
