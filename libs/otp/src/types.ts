import { type EntityManager } from 'typeorm';
import { type ActorType } from '#libs/audit';
import { CHANNELS, Duration, type Channel } from '#libs/core';

export type OtpPurpose = 'login' | 'enrollment' | 'step_up' | 'recovery' | 'verification' | 'transaction';
/** @deprecated The one Channel type is libs/core's `Channel`; this name stays for the callers not yet moved. */
export type OtpChannel = Channel;
export type OtpSubjectType = 'user' | 'legacy_account' | 'staff' | 'contact';

export const OTP_PURPOSES: readonly OtpPurpose[] = ['login', 'enrollment', 'step_up', 'recovery', 'verification', 'transaction'];
export const OTP_CHANNELS: readonly Channel[] = CHANNELS;
export const OTP_SUBJECT_TYPES: readonly OtpSubjectType[] = ['user', 'legacy_account', 'staff', 'contact'];

/** Message wording beyond the purpose: `emergency_contact` explains whose code it is and that Gatehouse never asks for a reply or a click. */
export type OtpMessageVariant = 'emergency_contact';

/** Whom a code is for. A code only ever verifies for the subject it was issued to. */
export interface OtpSubject {
  type: OtpSubjectType;
  id: string;
}

/** Who did it and from where, for the audit events of `issue` and `verify`. Optional. */
export interface OtpAuditContext {
  /** Defaults to `system` for issue and `anonymous` for verify. */
  actor?: { type: ActorType; id?: string | null };
  organizationId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

export interface IssueOtp {
  purpose: OtpPurpose;
  subject: OtpSubject;
  /** The flow (or other context, e.g. a transaction reference) the code is bound to. */
  flowId: string;
  channel: Channel;
  /** An email address, or an E.164 number for `sms` and `voice`. */
  destination: string;
  /** BCP 47 tag for the message; `en` when unset. */
  locale?: string;
  /** Shown in the message, e.g. what a transaction code authorizes. Never audited. */
  description?: string;
  /** A message template variant of the purpose (e.g. an emergency contact's `verification`); the plain one when unset. */
  variant?: OtpMessageVariant;
  /** Validity; 10 minutes when unset. */
  ttl?: Duration;
  /** Wrong guesses allowed (1..10); 5 when unset. */
  maxAttempts?: number;
  context?: OtpAuditContext;
}

export interface IssuedOtp {
  challengeId: string;
  /** The outbox message that carries the code. */
  messageId: string;
  expiresAt: Date;
}

/** What `verify` must be told: the challenge and everything it is bound to. */
export interface OtpBinding {
  challengeId: string;
  purpose: OtpPurpose;
  subject: OtpSubject;
  flowId: string;
}

export interface VerifyOtp extends OtpBinding {
  /** As typed: surrounding/inner white space and hyphens are ignored; full-width digits are accepted. */
  code: string;
  context?: OtpAuditContext;
}

export type OtpFailureReason = 'invalid' | 'expired' | 'used' | 'exhausted' | 'superseded' | 'not_found';

export type VerifyOtpResult = { ok: true; challengeId: string } | { ok: false; reason: OtpFailureReason; attemptsLeft: number };

/** Resend and volume limits. Counted from `otp_challenges` rows, so they hold across app nodes. */
export interface OtpLimits {
  /** Minimum time between two codes for the same (purpose, subject, flow). */
  resendCooldown: Duration;
  /** Codes per subject per window, across purposes and flows. */
  perSubject: number;
  /** Codes per destination per window, across purposes and subjects. */
  perDestination: number;
  /** The sliding window of `perSubject` and `perDestination`. */
  window: Duration;
}

export const DEFAULT_OTP_LIMITS: Readonly<OtpLimits> = Object.freeze({
  resendCooldown: Duration.ofSeconds(30),
  perSubject: 10,
  perDestination: 10,
  window: Duration.ofHours(1),
});

export const OTP_DEFAULT_TTL = Duration.ofMinutes(10);
export const OTP_DEFAULT_MAX_ATTEMPTS = 5;

/** The message that carries a code, as the issuing transaction hands it to the outbox. */
export interface CodeMessage {
  challengeId: string;
  /** Whom the code is for (the challenge's subject): the message is in their language. */
  subject: OtpSubject;
  purpose: OtpPurpose;
  channel: Channel;
  destination: string;
  code: string;
  validityMinutes: number;
  locale: string;
  description?: string;
  variant?: OtpMessageVariant;
}

/** What happened to the message with a code: handed to its sender, still being sent, or given up on. */
export type Delivery = 'sent' | 'pending' | 'failed';

/**
 * Port: hands the code's message to the transactional outbox, inside the issuing
 * transaction (`manager`), so the challenge and its message commit or roll back together
 * (`enqueueCode` returns the message id); and tells how that message fares.
 */
export abstract class OtpMessageQueue {
  /** Tries to hand the message over now, waiting at most `waitMs`; the outbox retries what is still pending. */
  abstract deliverNow(messageId: string, waitMs: number): Promise<Delivery>;

  /** Where the message stands now. */
  abstract status(messageId: string): Promise<Delivery>;

  abstract enqueueCode(manager: EntityManager, input: CodeMessage): Promise<string>;
}
