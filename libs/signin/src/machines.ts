import { FlowStepError, type Channel } from '#libs/core';
import { codeSent, codeVerified, type ChannelChoice, type CodeSentEvent, type SentCode } from '#libs/otp';
import {
  SECOND_FACTORS_THAT_CHALLENGE,
  completes,
  factorOf,
  secondFactorRefusal,
  type FactorId,
  type VerificationRecord,
} from '#libs/factors';

export { FlowStepError };

/**
 * The sign-in and enrollment flows as pure state machines: (state, event, now) -> next
 * state. Services do the I/O (hashing, codes, database) and feed events in; hosted pages
 * and the JSON API render the same states. Their code steps embed the one code sub-step
 * (libs/otp code-step.ts): its offer and its sent code, flat.
 */

/**
 * After the password: `credentialVersion` is the user's credential version the password was
 * verified against; the session starts only if it is still current (a password reset between
 * the steps ends the sign-in). Optional only for flows stored before it was recorded.
 *
 * The second-factor step is factor-blind: `factors` are the second factors it offers (the
 * registry's, under the organization's policy: libs/factors second-factor.ts), and only a
 * record of one of them, verified by the person at the step, ends it (secondFactorVerified;
 * the factor's proof says, never its name). A code by message is such a factor, today the
 * only one; its sub-steps (a channel to choose, a code sent: the one code step of libs/otp)
 * are `choose_channel` and `otp`, names the pages and the JSON API show. An authenticator
 * app or a passkey adds its event here, ending in secondFactorVerified.
 */
export type SignInState =
  | { step: 'credentials'; returnTo: string; requireOtp: boolean }
  | ({ step: 'choose_channel' } & AfterPassword & ChannelChoice)
  | ({ step: 'otp' } & AfterPassword & ChannelChoice & SentCode)
  | ({ step: 'done' } & AfterPassword);

/** Who signs in, against which credentials, where to, and what was verified so far. */
interface AfterPassword {
  returnTo: string;
  userId: string;
  credentialVersion?: number;
  verifications: VerificationRecord[];
  /** The second factors the step offers (ids, the registry's order); absent only in flows stored before it was recorded. */
  factors?: FactorId[];
}

export type SignInEvent =
  | {
      type: 'password_verified';
      /** The first factor's record (the password factor's verify yields it). */
      first: VerificationRecord;
      userId: string;
      credentialVersion: number;
      /** The second factors offered to this person under the policy (secondFactorsOffered); none needed when `secondFactor` ends the sign-in. */
      factors: FactorId[];
      channels: Channel[];
      preferred: Channel;
      /**
       * A second factor already verified without a challenge (a remembered device the browser
       * presented and its check accepted under the policy), if any: it ends the sign-in unless a
       * fresh second factor is asked (the factor's proof says whether it is one). Otherwise the
       * second-factor step follows.
       */
      secondFactor: VerificationRecord | null;
    }
  | CodeSentEvent
  /** The code factor's sub-step: the code sent at this step was right (its record is the code step's). */
  | { type: 'code_verified' };

export function nextSignIn(state: SignInState, event: SignInEvent, now: Date): SignInState {
  switch (event.type) {
    case 'password_verified': {
      if (state.step !== 'credentials') throw new FlowStepError(state.step, event.type);
      if (factorOf(event.first)?.role !== 'first')
        throw new FlowStepError(state.step, event.type, `${event.first.method} is not a first factor`);
      const verifications: VerificationRecord[] = [event.first];
      const after = { returnTo: state.returnTo, userId: event.userId, credentialVersion: event.credentialVersion, verifications };
      if (event.secondFactor && completes(event.secondFactor, state.requireOtp)) {
        verifications.push(event.secondFactor);
        return { step: 'done', ...after };
      }
      // No second factor the person could answer: the sign-in cannot go on (support must act).
      if (event.factors.length === 0) throw new FlowStepError(state.step, 'no_second_factor');
      return {
        step: 'choose_channel',
        ...after,
        factors: event.factors,
        channels: event.channels,
        preferred: event.channels.includes(event.preferred) ? event.preferred : 'email',
      };
    }
    case 'code_sent': {
      if (state.step !== 'choose_channel' && state.step !== 'otp') throw new FlowStepError(state.step, event.type);
      const step = state.step;
      return {
        step: 'otp',
        ...afterPassword(state),
        preferred: state.preferred,
        ...codeSent(state, event, now, (what) => new FlowStepError(step, what)),
      };
    }
    case 'code_verified': {
      if (state.step !== 'otp') throw new FlowStepError(state.step, event.type);
      return secondFactorVerified(state, codeVerified(state, now), event.type);
    }
  }
}

/** The second-factor step ends with a record of a factor it offered, verified by the person now. */
function secondFactorVerified(
  state: Extract<SignInState, { step: 'choose_channel' | 'otp' }>,
  record: VerificationRecord,
  event: string,
): SignInState {
  const refusal = secondFactorRefusal(record, state.factors ?? SECOND_FACTORS_THAT_CHALLENGE);
  if (refusal) throw new FlowStepError(state.step, event, refusal);
  const after = afterPassword(state);
  return { step: 'done', ...after, verifications: [...after.verifications, record] };
}

function afterPassword(state: AfterPassword): AfterPassword {
  return {
    returnTo: state.returnTo,
    userId: state.userId,
    ...(state.credentialVersion !== undefined ? { credentialVersion: state.credentialVersion } : {}),
    verifications: state.verifications,
    ...(state.factors !== undefined ? { factors: state.factors } : {}),
  };
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
    } & SentCode)
  | ({ step: 'mobile_otp'; returnTo: string; userId: string; mobile: string } & Partial<SentCode>)
  | { step: 'done'; returnTo: string; userId: string };

export type EnrollmentEvent =
  | { type: 'confirmed' }
  | { type: 'reported' }
  | { type: 'credentials_chosen'; chosen: ChosenCredentials }
  | CodeSentEvent
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
    case 'code_sent': {
      // The email is proven by email, the mobile number by a text message or a voice call.
      if (state.step !== 'email_otp' && state.step !== 'mobile_otp') throw new FlowStepError(state.step, event.type);
      const { channel, challengeId, messageId, sentAt } = codeSent(
        { ...state, channels: state.step === 'email_otp' ? ['email'] : ['sms', 'voice'] },
        event,
        now,
        (what) => new FlowStepError(state.step, what),
      );
      return { ...state, channel, challengeId, messageId, sentAt };
    }
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
