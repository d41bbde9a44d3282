import { CHANNELS, DomainError, type Channel } from '#libs/core';

/** One message to one person, as handed to the outbox. */
export interface OutgoingMessage {
  channel: Channel;
  /** An email address, or an E.164 number such as `+393331234567` for SMS and voice. */
  to: string;
  /** What the message is for, e.g. `otp.login` or `notice.new_device`. Stored in clear for operators; no content. */
  purpose: string;
  /** BCP 47 tag; `en` when unset. */
  locale?: string;
  /** Email only, and required there. */
  subject?: string;
  text: string;
  /** Email only, optional. */
  html?: string;
}

/**
 * Where a delivery stands, as its sender sees it. A message taken back before it went out
 * (OutboxService.withdraw: stored as `withdrawn`, e.g. a cancelled transaction code's) will
 * never arrive and reads as `failed`.
 */
export type OutboxStatus = 'pending' | 'sent' | 'failed';

export interface OutboxMessageStatus {
  status: OutboxStatus;
  attempts: number;
  /** A short reason without any message content, e.g. `smtp: ECONNREFUSED` or `webhook: HTTP 503`. */
  lastError: string | null;
}

/** What the outbox keeps encrypted until the message is sent or has failed. */
export interface MessageContent {
  subject?: string;
  text: string;
  html?: string;
}

const E164 = /^\+[1-9]\d{6,14}$/u;
// Deliberately simple: one @, no spaces or control characters, a dot in the domain. Header
// injection (CR/LF) is what matters here; whether the mailbox exists is for the mail server.
const EMAIL = /^[^\s@<>()[\]\\,;:"\p{Cc}]+@[^\s@<>()[\]\\,;:"\p{Cc}]+\.[^\s@<>()[\]\\,;:"\p{Cc}]+$/u;
const LOCALE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/u;
const PURPOSE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/u;
const CONTROL = /[\p{Cc}]/u;

/** Checks a message before it is stored, so the worker never meets one it cannot send. */
export function validateMessage(message: OutgoingMessage): void {
  const bad = (what: string) => new DomainError('invalid_message', `Outgoing message: ${what}`);
  if (!CHANNELS.includes(message.channel)) throw bad('unknown channel');
  if (typeof message.to !== 'string' || message.to.length > 320) throw bad('recipient missing or too long');
  if (message.channel === 'email') {
    if (!EMAIL.test(message.to)) throw bad('recipient is not an email address');
    if (!message.subject || CONTROL.test(message.subject) || message.subject.length > 200) {
      throw bad('an email needs a one-line subject of at most 200 characters');
    }
  } else {
    if (!E164.test(message.to)) throw bad('recipient is not an E.164 number');
    if (message.subject !== undefined || message.html !== undefined) throw bad('subject and html are for email only');
  }
  if (typeof message.purpose !== 'string' || message.purpose.length > 64 || !PURPOSE.test(message.purpose)) {
    throw bad('purpose must be dotted lower-case, e.g. otp.login');
  }
  if (message.locale !== undefined && !LOCALE.test(message.locale)) throw bad('locale is not a BCP 47 tag');
  if (typeof message.text !== 'string' || message.text.trim() === '' || message.text.length > 10_000) {
    throw bad('text missing or too long');
  }
  if (message.html !== undefined && message.html.length > 100_000) throw bad('html too long');
}
