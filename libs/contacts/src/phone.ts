import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { hasForbiddenCharacters } from '#libs/core';
import type { Checked } from '#libs/identity';

/**
 * What an emergency phone number is, as libphonenumber-js (full metadata) types it, reduced
 * to what matters for reaching it:
 * - `mobile`: text messages and voice calls;
 * - `fixed_line_or_mobile`: the numbering plan cannot tell (e.g. the US and Canada), so both
 *   are offered; a text to a landline simply never arrives, and the person can switch to a call;
 * - `fixed_line`: a landline, voice calls only (no text message is offered);
 * - `voice_only`: VoIP, personal (follow-me) and universal access numbers, which may not take
 *   texts: voice calls only.
 * Toll-free, premium-rate, shared-cost, pager and voicemail numbers are refused: a call to
 * a premium-rate number costs money (toll fraud), and the others do not reach a person.
 */
export type PhoneKind = 'mobile' | 'fixed_line_or_mobile' | 'fixed_line' | 'voice_only';

export type PhoneChannel = 'sms' | 'voice';

export interface EmergencyPhone {
  /** E.164, e.g. `+390612345678`. */
  number: string;
  kind: PhoneKind;
  /** How a code can reach it, the default first. */
  channels: PhoneChannel[];
}

export const LANDLINE_MESSAGE = 'This is a landline number: we can only call it. Text messages are not offered for landlines.';

const REFUSED: Record<string, string> = {
  TOLL_FREE: 'a toll-free number',
  PREMIUM_RATE: 'a premium-rate number',
  SHARED_COST: 'a shared-cost number',
  PAGER: 'a pager number',
  VOICEMAIL: 'a voicemail number',
};

/** The channels a number of this kind can receive a code by, the default first. */
export function phoneChannels(kind: PhoneKind): PhoneChannel[] {
  return kind === 'mobile' || kind === 'fixed_line_or_mobile' ? ['sms', 'voice'] : ['voice'];
}

/**
 * An emergency phone number: E.164 (`+` and the country code: the country cannot be guessed
 * safely), valid for its country, and of a kind a person answers. Reasons are sentences for
 * the person typing it.
 */
export function checkEmergencyPhone(raw: string): Checked<EmergencyPhone> {
  const value = raw.trim();
  if (value === '') return { ok: false, reason: 'Enter a phone number.' };
  if (hasForbiddenCharacters(value)) return { ok: false, reason: 'The phone number contains control or invisible characters.' };
  if (!value.startsWith('+') || !/^\+[0-9 ().-]{4,24}$/u.test(value)) {
    return {
      ok: false,
      reason: 'Enter the number in international format, starting with + and the country code (for example +39 06 1234 5678).',
    };
  }
  const phone = parsePhoneNumberFromString(value);
  if (!phone || !phone.isValid()) return { ok: false, reason: 'This is not a valid phone number.' };
  const type = phone.getType();
  if (type && REFUSED[type])
    return { ok: false, reason: `This is ${REFUSED[type]}: an emergency contact must be a number a person answers.` };
  const kind: PhoneKind =
    type === 'MOBILE'
      ? 'mobile'
      : type === 'FIXED_LINE_OR_MOBILE'
        ? 'fixed_line_or_mobile'
        : type === 'FIXED_LINE'
          ? 'fixed_line'
          : 'voice_only';
  return { ok: true, value: { number: phone.number, kind, channels: phoneChannels(kind) } };
}

/** Why a channel cannot be used for this kind of number, or null when it can. */
export function channelRefusal(kind: PhoneKind, channel: PhoneChannel): string | null {
  if (phoneChannels(kind).includes(channel)) return null;
  return kind === 'fixed_line'
    ? LANDLINE_MESSAGE
    : 'Text messages may not reach this kind of number (for example an internet or personal number): we can only call it.';
}
