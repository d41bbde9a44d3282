import type { OtpChannel } from '../../identity/src/index.js';
import type { VerificationRecord } from '../../sessions/src/index.js';

/**
 * The sign-in and enrollment flows as pure state machines: (state, event, now) -> next
 * state. Services do the I/O (hashing, codes, database) and feed events in; hosted pages
 * and the JSON API render the same states.
 */

export interface OtpStep {
  channel: OtpChannel;
  challengeId: string;
  messageId: string;
  sentAt: string;
}

/**
 * After the password: `credentialVersion` is the user's credential version the password was
 * verified against; the session starts only if it is still current (a password reset between
 * the steps ends the sign-in). Optional only for flows stored before it was recorded.
 */
export type SignInState =
  | { step: 'credentials'; returnTo: string; requireOtp: boolean }
  | {
      step: 'choose_channel';
      returnTo: string;
      userId: string;
      credentialVersion?: number;
      channels: OtpChannel[];
      preferred: OtpChannel;
      verifications: VerificationRecord[];
    }
  | ({
      step: 'otp';
      returnTo: string;
      userId: string;
      credentialVersion?: number;
      channels: OtpChannel[];
      preferred: OtpChannel;
      verifications: VerificationRecord[];
    } & OtpStep)
  | { step: 'done'; returnTo: string; userId: string; credentialVersion?: number; verifications: VerificationRecord[] };

export type SignInEvent =
  | {
      type: 'password_verified';
      userId: string;
      credentialVersion: number;
      channels: OtpChannel[];
      preferred: OtpChannel;
      trustedDeviceId: string | null;
    }
  | ({ type: 'code_sent' } & Omit<OtpStep, 'sentAt'>)
  | { type: 'code_verified' };

export class FlowStepError extends Error {
  constructor(
    readonly step: string,
    readonly event: string,
  ) {
    super(`event ${event} is not allowed at step ${step}`);
  }
}

export function nextSignIn(state: SignInState, event: SignInEvent, now: Date): SignInState {
  const at = now.toISOString();
  switch (event.type) {
    case 'password_verified': {
      if (state.step !== 'credentials') throw new FlowStepError(state.step, event.type);
      const verifications: VerificationRecord[] = [{ method: 'password', at }];
      if (event.trustedDeviceId && !state.requireOtp) {
        verifications.push({ method: 'remembered_device', deviceId: event.trustedDeviceId, at });
        return { step: 'done', returnTo: state.returnTo, userId: event.userId, credentialVersion: event.credentialVersion, verifications };
      }
      return {
        step: 'choose_channel',
        returnTo: state.returnTo,
        userId: event.userId,
        credentialVersion: event.credentialVersion,
        channels: event.channels,
        preferred: event.channels.includes(event.preferred) ? event.preferred : 'email',
        verifications,
      };
    }
    case 'code_sent': {
      if (state.step !== 'choose_channel' && state.step !== 'otp') throw new FlowStepError(state.step, event.type);
      if (!state.channels.includes(event.channel)) throw new FlowStepError(state.step, `${event.type}:${event.channel}`);
      return {
        step: 'otp',
        returnTo: state.returnTo,
        userId: state.userId,
        ...(state.credentialVersion !== undefined ? { credentialVersion: state.credentialVersion } : {}),
        channels: state.channels,
        preferred: event.channel,
        verifications: state.verifications,
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
        returnTo: state.returnTo,
        userId: state.userId,
        ...(state.credentialVersion !== undefined ? { credentialVersion: state.credentialVersion } : {}),
        verifications: [...state.verifications, { method: 'otp', channel: state.channel, at }],
      };
    }
  }
}

export interface ChosenCredentials {
  enterpriseId: string;
  enterpriseIdKey: string;
  enterpriseIdSkeleton: string;
  passwordHash: string;
  securityCodeHash: string;
  mobile: string | null;
}

export type EnrollmentState =
  | { step: 'confirm'; returnTo: string; legacyAccountId: string; retiredPasswordHash: string; verifications: VerificationRecord[] }
  | { step: 'reported'; legacyAccountId: string }
  | { step: 'credentials'; returnTo: string; legacyAccountId: string; retiredPasswordHash: string; verifications: VerificationRecord[] }
  | ({
      step: 'email_otp';
      returnTo: string;
      legacyAccountId: string;
      retiredPasswordHash: string;
      verifications: VerificationRecord[];
      chosen: ChosenCredentials;
    } & OtpStep)
  | ({ step: 'mobile_otp'; returnTo: string; userId: string; mobile: string } & Partial<OtpStep>)
  | { step: 'done'; returnTo: string; userId: string };

export type EnrollmentEvent =
  | { type: 'confirmed' }
  | { type: 'reported' }
  | { type: 'credentials_chosen'; chosen: ChosenCredentials }
  | ({ type: 'code_sent' } & Omit<OtpStep, 'sentAt'>)
  | { type: 'email_verified'; userId: string }
  | { type: 'mobile_verified' }
  | { type: 'mobile_skipped' };

export function nextEnrollment(state: EnrollmentState, event: EnrollmentEvent, now: Date): EnrollmentState {
  const at = now.toISOString();
  switch (event.type) {
    case 'confirmed':
      if (state.step !== 'confirm') throw new FlowStepError(state.step, event.type);
      return { ...state, step: 'credentials' };
    case 'reported':
      if (state.step !== 'confirm') throw new FlowStepError(state.step, event.type);
      return { step: 'reported', legacyAccountId: state.legacyAccountId };
    case 'credentials_chosen':
      if (state.step !== 'credentials' && state.step !== 'email_otp') throw new FlowStepError(state.step, event.type);
      // The code is sent next; until then the step keeps no challenge.
      return {
        step: 'email_otp',
        returnTo: state.returnTo,
        legacyAccountId: state.legacyAccountId,
        retiredPasswordHash: state.retiredPasswordHash,
        verifications: state.verifications,
        chosen: event.chosen,
        channel: 'email',
        challengeId: '',
        messageId: '',
        sentAt: at,
      };
    case 'code_sent':
      if (state.step === 'email_otp')
        return { ...state, channel: event.channel, challengeId: event.challengeId, messageId: event.messageId, sentAt: at };
      if (state.step === 'mobile_otp')
        return { ...state, channel: event.channel, challengeId: event.challengeId, messageId: event.messageId, sentAt: at };
      throw new FlowStepError(state.step, event.type);
    case 'email_verified':
      if (state.step !== 'email_otp') throw new FlowStepError(state.step, event.type);
      return state.chosen.mobile
        ? { step: 'mobile_otp', returnTo: state.returnTo, userId: event.userId, mobile: state.chosen.mobile }
        : { step: 'done', returnTo: state.returnTo, userId: event.userId };
    case 'mobile_verified':
    case 'mobile_skipped':
      if (state.step !== 'mobile_otp') throw new FlowStepError(state.step, event.type);
      return { step: 'done', returnTo: state.returnTo, userId: state.userId };
  }
}
