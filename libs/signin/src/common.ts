import { hasForbiddenCharacters } from '../../core/src/index.js';
import type { OtpChannel, UserRecord, PolicyRecord } from '../../identity/src/index.js';

/** A safe place to go after sign-in: a path on this server, never another origin. */
export function safeReturnTo(value: unknown, fallback = '/account'): string {
  if (typeof value !== 'string' || value.length > 2000) return fallback;
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\') || hasForbiddenCharacters(value) || value.includes('\\'))
    return fallback;
  return value;
}

/** OTP channels this user may use now: email always; SMS and voice with a verified mobile, if the organization allows them. */
export function availableChannels(user: UserRecord, policy: PolicyRecord): OtpChannel[] {
  const channels: OtpChannel[] = ['email'];
  if (user.mobile && user.mobileVerifiedAt) {
    if (policy.otpChannels.includes('sms')) channels.push('sms');
    if (policy.otpChannels.includes('voice')) channels.push('voice');
  }
  return channels;
}

export function destinationOf(user: { email: string; mobile: string | null }, channel: OtpChannel): string {
  return channel === 'email' ? user.email : (user.mobile ?? '');
}

/** The one answer for every failed sign-in: unknown user, wrong password, disabled or locked account. */
export const GENERIC_FAILURE = 'The User ID or password is not correct.';
