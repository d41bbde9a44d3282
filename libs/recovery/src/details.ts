import { Duration, foldKey, hasForbiddenCharacters, type Channel } from '#libs/core';
import type { FlowHandle } from '#libs/flows';
import { checkEmail } from '#libs/identity';
import type { Delivery, StepError } from '#libs/otp';
import type { ThrottleRule } from '#libs/throttle';
import type { RecoveryGoal, RecoveryStep } from './machine.js';

export interface RecoveryOptions {
  /**
   * The least time an answer takes while the user is not yet known to have matched (the
   * details step, and the generic code step): real work shorter than this is padded, so
   * answers for known and unknown users take the same time.
   */
  responseFloor: Duration;
}

export const RECOVERY_OPTIONS = Symbol('RECOVERY_OPTIONS');
export const DEFAULT_RECOVERY_OPTIONS: RecoveryOptions = { responseFloor: Duration.ofMilliseconds(300) };

/** Per client address: generous, against spraying many accounts from one place. */
export const RECOVERY_IP_RULE: ThrottleRule = {
  freeFailures: 20,
  baseDelay: Duration.ofSeconds(1),
  maxDelay: Duration.ofMinutes(15),
  window: Duration.ofHours(1),
};
/** Per Enterprise ID or email typed, known or not (so a delay reveals nothing). */
export const RECOVERY_TARGET_RULE: ThrottleRule = {
  freeFailures: 5,
  baseDelay: Duration.ofSeconds(2),
  maxDelay: Duration.ofMinutes(15),
  window: Duration.ofHours(1),
};

/** Security codes are 6–9 digits in every organization (the policy narrows the range at enrollment). */
const SECURITY_CODE = /^[0-9]{6,9}$/u;

/** The generic answer after the details step, for every outcome that sends (or pretends to send) an email code. */
export const GENERIC_CODE_SENT =
  'If the details you entered match an account, we sent a 6-digit code to its email address. The code is valid for 10 minutes. ' +
  'If nothing arrives, check the details and start again.';

export interface RecoveryOutcome {
  handle: FlowHandle;
  goal: RecoveryGoal;
  step: RecoveryStep;
  /** Offered once the security code was accepted (masked destinations). */
  channels?: Array<{ channel: Channel; destination: string }>;
  preferred?: Channel;
  /** The channel the current code went by (step `otp`). */
  channel?: Channel;
  delivery?: Delivery;
  /** Step `enterprise_id`: the recovered Enterprise ID. */
  enterpriseId?: string;
  error?: StepError;
  /** Keyed by form/JSON field name: `email`, `enterprise_id`, `security_code`, `password`, `confirm_password`. */
  fieldErrors?: Record<string, string>;
}

export interface IdentifyInput {
  email?: unknown;
  enterpriseId?: unknown;
  securityCode: unknown;
}

/** The details step answered before any flow exists (malformed details on a page's form). */
export type UnstartedRecovery = Omit<RecoveryOutcome, 'handle'>;

/** What was typed into a field, as a string of at most `max` characters ('' for anything else). */
export const typedText = (value: unknown, max: number) => (typeof value === 'string' ? value.slice(0, max) : '');

/** Whom the details name: the column to look them up by and its comparison key. */
export interface RecoveryTarget {
  column: 'email_key' | 'enterprise_id_key';
  key: string;
}

export const INVALID_FIELDS: StepError = { code: 'invalid_input', message: 'Please correct the fields marked below.' };

const INVALID_CHARACTERS = 'This contains control or invisible characters. Type it again without them.';

/** Reads the details step's input: whom to look up and the security code, or what is malformed. */
export function readDetails(
  goal: RecoveryGoal,
  input: IdentifyInput,
): { target: RecoveryTarget; code: string } | { fieldErrors: Record<string, string>; invalidCharacters?: true } {
  const fieldErrors: Record<string, string> = {};
  // Refused before any query (PostgreSQL text cannot even hold a NUL): a 400 that says so.
  const typed = {
    email: typedText(input.email, 320),
    enterprise_id: typedText(input.enterpriseId, 256),
    security_code: typedText(input.securityCode, 64),
  };
  for (const [field, value] of Object.entries(typed)) if (hasForbiddenCharacters(value)) fieldErrors[field] = INVALID_CHARACTERS;
  if (Object.keys(fieldErrors).length > 0) return { fieldErrors, invalidCharacters: true };
  let target: RecoveryTarget;
  if (goal === 'enterprise_id') {
    const email = checkEmail(typedText(input.email, 320));
    if (!email.ok) fieldErrors.email = 'Enter the email address of your account.';
    target = { column: 'email_key', key: email.ok ? email.value.key : '' };
  } else {
    const id = typedText(input.enterpriseId, 256).trim();
    if (id === '' || id.length > 200) fieldErrors.enterprise_id = 'Enter your Enterprise ID.';
    target = { column: 'enterprise_id_key', key: foldKey(id) };
  }
  const code = typedText(input.securityCode, 64).normalize('NFKC').trim();
  if (!SECURITY_CODE.test(code)) fieldErrors.security_code = 'Enter your security code: the 6 to 9 digits you chose.';
  return Object.keys(fieldErrors).length > 0 ? { fieldErrors } : { target, code };
}

/** The error of malformed details: control characters are a 400 of their own (`invalid_characters`). */
export function detailsError(read: { invalidCharacters?: true }): StepError {
  return read.invalidCharacters ? { code: 'invalid_characters', message: INVALID_CHARACTERS } : INVALID_FIELDS;
}
