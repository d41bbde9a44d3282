/**
 * How a one-time code reaches a person: an email, a text message, or a voice call. The one
 * channel type of every flow (sign-in, enrollment, step-up, contact change, recovery, staff
 * sign-in, emergency contacts), of the OTP engine, the directory and the organization policy.
 */
export type Channel = 'email' | 'sms' | 'voice';

export const CHANNELS: readonly Channel[] = ['email', 'sms', 'voice'];
