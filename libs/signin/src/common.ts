import { hasForbiddenCharacters } from '#libs/core';

/** A safe place to go after sign-in: a path on this server, never another origin. */
export function safeReturnTo(value: unknown, fallback = '/account'): string {
  if (typeof value !== 'string' || value.length > 2000) return fallback;
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\') || hasForbiddenCharacters(value) || value.includes('\\'))
    return fallback;
  return value;
}

/** The channel choice of the code step (libs/otp), for those who looked for it here. */
export { availableChannels, destinationOf } from '#libs/otp';

/** The one answer for every failed sign-in: unknown user, wrong password, disabled or locked account. */
export const GENERIC_FAILURE = 'The User ID or password is not correct.';
