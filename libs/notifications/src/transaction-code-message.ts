import { containsLink, plainText, resolveLocale, type RenderedMessage } from './templates.js';

/**
 * The email carrying a transaction code (issue 7): a code a service (a shop, a courier) had
 * Gatehouse issue for one of its users, to be read out to whoever hands over what it
 * confirms. Like every code message: the code in the subject and the text, what it is for,
 * how long it is valid, no link, and the warning that Gatehouse never asks for it.
 */
export interface TransactionCodeMessageInput {
  /** Six digits. */
  code: string;
  /** What the code confirms, as the service described it. */
  description: string;
  /** The service's own reference (order or parcel number). */
  reference: string;
  /** The service's registered name. */
  serviceName: string;
  expiresAt: Date;
  /** Set when the service asked for "until the end of this local date": the date (`YYYY-MM-DD`) and its IANA zone. */
  endOfDay?: { date: string; timeZone: string };
  locale?: string;
}

/**
 * How long a transaction code is valid, in words: "until the end of Sunday 29 March 2026
 * (Europe/Rome time)" for a local date, "until 29 March 2026 at 14:30 UTC" for a duration.
 * The same words on the account page and in the email.
 */
export function transactionCodeValidity(expiresAt: Date, endOfDay?: { date: string; timeZone: string }): string {
  if (endOfDay) {
    // The date itself, whatever instant its end is: read it at noon UTC.
    const day = new Intl.DateTimeFormat('en-GB', { dateStyle: 'full', timeZone: 'UTC' }).format(new Date(`${endOfDay.date}T12:00:00Z`));
    return `until the end of ${day.replace(',', '')} (${endOfDay.timeZone.replace(/_/gu, ' ')} time)`;
  }
  const at = new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC', hour12: false }).format(expiresAt);
  return `until ${at} UTC`;
}

export function transactionCodeMessage(input: TransactionCodeMessageInput): RenderedMessage {
  if (!/^\d{6}$/u.test(input.code)) throw new RangeError('A transaction code is exactly 6 digits');
  const locale = resolveLocale(input.locale);
  const description = plainText(input.description, 120) || 'a transaction';
  const service = plainText(input.serviceName, 80) || 'A service';
  const reference = plainText(input.reference, 100);
  const validity = transactionCodeValidity(input.expiresAt, input.endOfDay);
  const subject = plainText(`${input.code} is your Gatehouse code for: ${description}`, 190);
  const text = [
    'Hello,',
    '',
    `${service} asked Gatehouse to send you a one-time code to confirm:`,
    '',
    `    ${description}`,
    ...(reference ? [`    (reference ${reference})`] : []),
    '',
    'Your code is:',
    '',
    `    ${input.code}`,
    '',
    `It is valid ${validity} and can be used once. You can also find it on your Gatehouse account page.`,
    '',
    'Give this code only in person, to whoever hands over what it confirms, and only when that happens.',
    'Gatehouse will never ask you for this code by phone or by message, and never sends links.',
    '',
    `If you did not expect this, ignore this message and contact ${service} through an address you know.`,
  ].join('\n');
  if (containsLink(subject) || containsLink(text)) throw new Error('A message template produced link-like text; refusing to send it');
  return { subject, text, locale };
}
