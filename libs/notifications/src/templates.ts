import type { Channel } from '#libs/core';
import { SUPPORT_NOTICE_KINDS, type NoticeField, type NoticeKind, type OtpPurpose } from './templates/catalog.js';
import { assertLinkFree, linkFreeIdentifier, plainText } from './templates/link-free.js';
import { catalog, resolveLocale } from './templates/locales.js';

/**
 * Message texts. No template contains a link or URL (the contract: people learn to sign in
 * only at the address they know), and values put into a text are cleaned so that they
 * cannot smuggle one in. Each language is a catalogue of its own in templates/ (English and
 * Italian, listed in CATALOGS); an unknown locale falls back to English. This file renders
 * them: one-time codes, security notices and the SMS to a replaced mobile number.
 */

export { NOTICE_KINDS, type NoticeField, type NoticeKind, type OtpPurpose } from './templates/catalog.js';
export { containsLink, linkFreeIdentifier, plainText, type LinkFreeIdentifier } from './templates/link-free.js';
export { MESSAGE_LOCALES, isMessageLocale, negotiateLocale, resolveLocale, type MessageLocale } from './templates/locales.js';

/** Notices about something support did: they end with SUPPORT_FOOTER rather than the "change your password" advice. */
const SUPPORT_NOTICES: ReadonlySet<NoticeKind> = new Set<NoticeKind>(SUPPORT_NOTICE_KINDS);

export interface OtpMessageInput {
  purpose: OtpPurpose;
  /** Six digits. */
  code: string;
  channel: Channel;
  validityMinutes: number;
  locale?: string;
  /** For `transaction`: what is being confirmed, as the relying service described it. */
  description?: string;
  /** `emergency_contact`: a `verification` code for an emergency contact (says so, and that Gatehouse never asks for a reply or a click). */
  variant?: 'emergency_contact';
}

export interface RenderedMessage {
  /** Email only. */
  subject?: string;
  text: string;
  /** The catalogue actually used (after fallback). */
  locale: string;
}

/** Values every notice may use; all optional. */
export interface NoticeParams {
  /** Greeting name. */
  firstName?: string;
  /** When it happened (a Date or an ISO 8601 string); shown in UTC. */
  at?: Date | string;
  /** The device, e.g. "Firefox on Windows" (new_device). */
  name?: string;
  /** The Enterprise ID to remind the user of (enterprise_id_reminder); written so that no client can turn it into a link. */
  enterpriseId?: string;
  /** Which profile fields changed (details_corrected, correction_resolved, contact_changed_by_support). */
  fields?: readonly NoticeField[];
  /** How many remembered devices or sessions (devices_revoked, sessions_ended). */
  count?: number;
  locale?: string;
}

export interface RenderedNotice {
  subject: string;
  text: string;
  locale: string;
}

function formatWhen(at: Date | string | undefined, locale: string): string | undefined {
  if (at === undefined) return undefined;
  const date = at instanceof Date ? at : new Date(at);
  if (Number.isNaN(date.getTime())) return undefined;
  const formatted = new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC', hour12: false }).format(date);
  return `${formatted} UTC`;
}

/** "1, 2, 3, 4, 5, 6": one digit at a time, so a text-to-speech voice reads digits, not a number. */
export function spellDigits(code: string): string {
  return [...code].join(', ');
}

/**
 * A one-time code message: the 6-digit code, what it is for, how long it is valid, and the
 * warning that Gatehouse never asks for it by phone and never sends links. Email gets a
 * subject that carries the code too; voice reads the digits one by one, twice.
 */
export function otpMessage(input: OtpMessageInput): RenderedMessage {
  if (!/^\d{6}$/u.test(input.code)) throw new RangeError('A one-time code is exactly 6 digits');
  if (!Number.isInteger(input.validityMinutes) || input.validityMinutes < 1 || input.validityMinutes > 24 * 60) {
    throw new RangeError('validityMinutes must be a whole number from 1 to 1440');
  }
  const locale = resolveLocale(input.locale);
  const t = catalog(locale);
  const description = input.description !== undefined ? plainText(input.description, 100) || undefined : undefined;
  const emergency = input.variant === 'emergency_contact';
  if (emergency && input.purpose !== 'verification') throw new RangeError('The emergency_contact variant is for verification codes');
  const purpose = emergency ? t.emergencyContact.purpose(input.channel) : t.purpose[input.purpose]({ channel: input.channel, description });
  const validity = t.minutes(input.validityMinutes);
  let rendered: RenderedMessage;
  switch (input.channel) {
    case 'email':
      rendered = {
        subject: t.otpSubject(input.code, purpose),
        text: t.otpEmail({ greeting: t.greeting(undefined), code: input.code, purpose, validity }),
        locale,
      };
      break;
    case 'sms':
      rendered = { text: t.otpSms({ code: input.code, purpose, validity }), locale };
      break;
    case 'voice':
      rendered = {
        text: t.otpVoice({
          spoken: spellDigits(input.code),
          purpose,
          validity,
          ...(emergency ? { extra: t.emergencyContact.reminder } : {}),
        }),
        locale,
      };
      break;
  }
  if (emergency && input.channel !== 'voice') {
    rendered.text = `${rendered.text}${input.channel === 'email' ? '\n\n' : ' '}${t.emergencyContact.reminder}`;
  }
  assertLinkFree(rendered);
  return rendered;
}

/** A security notice (email): what happened and when, what to do if it was not you; never a link. */
export function noticeMessage(kind: NoticeKind, params: NoticeParams = {}): RenderedNotice {
  const locale = resolveLocale(params.locale);
  const t = catalog(locale);
  const when = formatWhen(params.at, locale);
  const device = params.name !== undefined ? plainText(params.name, 60) : '';
  const firstName = params.firstName !== undefined ? plainText(params.firstName, 40) || undefined : undefined;
  const identifier = linkFreeIdentifier(params.enterpriseId ?? '');
  const fields = t.fieldList(params.fields ?? []);
  const count = Number.isInteger(params.count) && params.count! >= 0 ? params.count! : 1;
  const { subject, body } = t.notice[kind]({ device, when: when ? t.when(when) : '', identifier, fields, count });
  const footer = kind === 'correction_received' ? '' : `\n\n${SUPPORT_NOTICES.has(kind) ? t.supportFooter : t.noticeFooter}`;
  const rendered = { subject, text: `${t.greeting(firstName)}\n\n${body}${footer}\n`, locale };
  assertLinkFree(rendered);
  return rendered;
}

/** The SMS sent to a mobile number that support replaced or removed (link-free, like every message). */
export function mobileReplacedSms(params: { at?: Date | string; locale?: string } = {}): RenderedMessage {
  const locale = resolveLocale(params.locale);
  const t = catalog(locale);
  const when = formatWhen(params.at, locale);
  const rendered = { text: t.mobileReplacedSms(when ? t.when(when) : ''), locale };
  assertLinkFree(rendered);
  return rendered;
}
