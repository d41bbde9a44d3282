import { DomainError, cleanText, codePointLength, hasForbiddenCharacters, isUuid } from '#libs/core';
import { daysBetween, endOfLocalDay, formatLocalDate, isTimeZone, localDateAt, parseLocalDate } from './local-day.js';

/** Bounds of a transaction code's validity. */
export const TRANSACTION_CODE_LIMITS = {
  /** `expires_in`, seconds. */
  minSeconds: 60,
  maxSeconds: 30 * 24 * 60 * 60,
  /** `valid_until_end_of`: today (in that zone) up to this many days ahead. */
  maxDaysAhead: 30,
  referenceLength: 100,
  descriptionLength: 200,
} as const;

/** A checked `POST /api/v1/transaction-codes` body. */
export interface IssueRequest {
  /** The OIDC subject: the user's id. */
  sub: string;
  reference: string;
  description: string;
  expiresAt: Date;
  /** When the validity was asked as "until the end of a local date". */
  endOfDay?: { date: string; timeZone: string };
}

function invalid(field: string, message: string): DomainError {
  return new DomainError('invalid_request', message, { extensions: { field } });
}

/**
 * A service's reference (order or parcel number): compared exactly, so it is taken as sent,
 * 1 to 100 characters, at least one of them visible, without control, bidi or zero-width
 * characters.
 */
export function checkReference(value: unknown): string {
  const { referenceLength } = TRANSACTION_CODE_LIMITS;
  if (typeof value !== 'string' || value.trim() === '' || codePointLength(value) > referenceLength || hasForbiddenCharacters(value)) {
    throw invalid('reference', `reference must be a string of 1 to ${referenceLength} visible characters.`);
  }
  return value;
}

/** What the code confirms, shown to the user: 1 to 200 characters on one line (white space folded). */
function checkDescription(value: unknown): string {
  const { descriptionLength } = TRANSACTION_CODE_LIMITS;
  const text = typeof value === 'string' && !hasForbiddenCharacters(value) ? cleanText(value) : '';
  if (text === '' || codePointLength(text) > descriptionLength) {
    throw invalid('description', `description must be 1 to ${descriptionLength} characters of text, without control characters.`);
  }
  return text;
}

/** Reads and bounds an issue request; `now` comes from the injected Clock. Throws DomainError `invalid_request` (the problem names the `field`). */
export function parseIssueRequest(body: unknown, now: Date): IssueRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('body', 'The body must be a JSON object.');
  const b = body as Record<string, unknown>;
  if (typeof b.sub !== 'string' || !isUuid(b.sub)) throw invalid('sub', "sub must be the user's OpenID Connect subject identifier.");
  const reference = checkReference(b.reference);
  const description = checkDescription(b.description);
  const hasDuration = b.expires_in !== undefined;
  const hasDay = b.valid_until_end_of !== undefined || b.time_zone !== undefined;
  if (hasDuration === hasDay) {
    throw invalid('expires_in', 'Give either expires_in (seconds), or valid_until_end_of (YYYY-MM-DD) with time_zone (IANA).');
  }
  if (hasDuration) {
    const { minSeconds, maxSeconds } = TRANSACTION_CODE_LIMITS;
    const seconds = b.expires_in;
    if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < minSeconds || seconds > maxSeconds) {
      throw invalid('expires_in', `expires_in must be a whole number of seconds from ${minSeconds} to ${maxSeconds}.`);
    }
    return { sub: b.sub, reference, description, expiresAt: new Date(now.getTime() + seconds * 1000) };
  }
  if (!isTimeZone(b.time_zone)) throw invalid('time_zone', 'time_zone must be an IANA time zone name, e.g. Europe/Rome.');
  const zone = b.time_zone;
  const date = parseLocalDate(b.valid_until_end_of);
  if (!date) throw invalid('valid_until_end_of', 'valid_until_end_of must be a date, YYYY-MM-DD.');
  const ahead = daysBetween(localDateAt(now, zone), date);
  if (ahead < 0) throw invalid('valid_until_end_of', `valid_until_end_of is in the past in ${zone}.`);
  if (ahead > TRANSACTION_CODE_LIMITS.maxDaysAhead) {
    throw invalid('valid_until_end_of', `valid_until_end_of may be at most ${TRANSACTION_CODE_LIMITS.maxDaysAhead} days ahead.`);
  }
  const expiresAt = endOfLocalDay(date, zone);
  if (expiresAt.getTime() - now.getTime() < TRANSACTION_CODE_LIMITS.minSeconds * 1000) {
    throw invalid('valid_until_end_of', `That day ends in ${zone} in less than ${TRANSACTION_CODE_LIMITS.minSeconds} seconds.`);
  }
  return { sub: b.sub, reference, description, expiresAt, endOfDay: { date: formatLocalDate(date), timeZone: zone } };
}
