import { containsLink, plainText, resolveLocale, type MessageLocale, type RenderedMessage } from './templates.js';

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

interface TransactionTexts {
  /** Date-time formatting tag for Intl. */
  intl: string;
  untilEndOf(day: string, timeZone: string): string;
  until(at: string): string;
  fallbackDescription: string;
  fallbackService: string;
  subject(code: string, description: string): string;
  body(ctx: { service: string; description: string; reference: string; code: string; validity: string }): string[];
}

/** One entry per message language: the type requires every language, complete. */
const TEXTS: Record<MessageLocale, TransactionTexts> = {
  en: {
    intl: 'en-GB',
    untilEndOf: (day, timeZone) => `until the end of ${day.replace(',', '')} (${timeZone} time)`,
    until: (at) => `until ${at} UTC`,
    fallbackDescription: 'a transaction',
    fallbackService: 'A service',
    subject: (code, description) => `${code} is your Gatehouse code for: ${description}`,
    body: ({ service, description, reference, code, validity }) => [
      'Hello,',
      '',
      `${service} asked Gatehouse to send you a one-time code to confirm:`,
      '',
      `    ${description}`,
      ...(reference ? [`    (reference ${reference})`] : []),
      '',
      'Your code is:',
      '',
      `    ${code}`,
      '',
      `It is valid ${validity} and can be used once. You can also find it on your Gatehouse account page.`,
      '',
      'Give this code only in person, to whoever hands over what it confirms, and only when that happens.',
      'Gatehouse will never ask you for this code by phone or by message, and never sends links.',
      '',
      `If you did not expect this, ignore this message and contact ${service} through an address you know.`,
    ],
  },
  it: {
    intl: 'it',
    untilEndOf: (day, timeZone) => `fino alla fine di ${day} (ora di ${timeZone})`,
    until: (at) => `fino al ${at} UTC`,
    fallbackDescription: 'un’operazione',
    fallbackService: 'Un servizio',
    subject: (code, description) => `${code} è il tuo codice Gatehouse per confermare: ${description}`,
    body: ({ service, description, reference, code, validity }) => [
      'Buongiorno,',
      '',
      `${service} ha chiesto a Gatehouse di inviarti un codice monouso per confermare:`,
      '',
      `    ${description}`,
      ...(reference ? [`    (riferimento ${reference})`] : []),
      '',
      'Il tuo codice è:',
      '',
      `    ${code}`,
      '',
      `È valido ${validity} e si può usare una sola volta. Lo trovi anche nella pagina del tuo account Gatehouse.`,
      '',
      'Comunica questo codice solo di persona, a chi ti consegna ciò che conferma, e solo in quel momento.',
      'Gatehouse non ti chiederà mai questo codice per telefono o per messaggio e non invia mai link.',
      '',
      `Se non te lo aspettavi, ignora questo messaggio e contatta ${service} tramite un recapito che conosci.`,
    ],
  },
};

/**
 * How long a transaction code is valid, in words: "until the end of Sunday 29 March 2026
 * (Europe/Rome time)" for a local date, "until 29 March 2026 at 14:30 UTC" for a duration.
 * The same words on the account page (English, like every page) and in the email (in the
 * message's language).
 */
export function transactionCodeValidity(expiresAt: Date, endOfDay?: { date: string; timeZone: string }, locale?: string): string {
  const t = TEXTS[resolveLocale(locale)];
  if (endOfDay) {
    // The date itself, whatever instant its end is: read it at noon UTC.
    const day = new Intl.DateTimeFormat(t.intl, { dateStyle: 'full', timeZone: 'UTC' }).format(new Date(`${endOfDay.date}T12:00:00Z`));
    return t.untilEndOf(day, endOfDay.timeZone.replace(/_/gu, ' '));
  }
  const at = new Intl.DateTimeFormat(t.intl, { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC', hour12: false }).format(expiresAt);
  return t.until(at);
}

export function transactionCodeMessage(input: TransactionCodeMessageInput): RenderedMessage {
  if (!/^\d{6}$/u.test(input.code)) throw new RangeError('A transaction code is exactly 6 digits');
  const locale = resolveLocale(input.locale);
  const t = TEXTS[locale];
  const description = plainText(input.description, 120) || t.fallbackDescription;
  const service = plainText(input.serviceName, 80) || t.fallbackService;
  const reference = plainText(input.reference, 100);
  const validity = transactionCodeValidity(input.expiresAt, input.endOfDay, locale);
  const subject = plainText(t.subject(input.code, description), 190);
  const text = t.body({ service, description, reference, code: input.code, validity }).join('\n');
  if (containsLink(subject) || containsLink(text)) throw new Error('A message template produced link-like text; refusing to send it');
  return { subject, text, locale };
}
