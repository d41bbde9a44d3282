import type { Channel } from './message.js';

/**
 * Message texts. No template contains a link or URL (the contract: people learn to sign in
 * only at the address they know), and values put into a text are cleaned so that they
 * cannot smuggle one in. Each language is a catalogue in CATALOGS (English and Italian);
 * an unknown locale falls back to English.
 */

export type OtpPurpose = 'login' | 'enrollment' | 'step_up' | 'recovery' | 'verification' | 'transaction';

export type NoticeKind =
  | 'new_device'
  | 'password_changed'
  | 'security_code_changed'
  | 'recovery_blocked'
  | 'enterprise_id_reminder'
  | 'email_changed'
  | 'mobile_changed'
  | 'correction_received'
  // Support console actions (libs/support): what support did, never why (the reason is internal).
  | 'details_corrected'
  | 'correction_resolved'
  | 'correction_rejected'
  | 'contact_changed_by_support'
  | 'recovery_unlocked'
  | 'devices_revoked'
  | 'sessions_ended'
  | 'account_disabled'
  | 'account_enabled';

/** Profile fields a notice may name (never their values). */
export type NoticeField = 'first_name' | 'last_name' | 'email' | 'mobile';

/** Notices about something support did: they end with SUPPORT_FOOTER rather than the "change your password" advice. */
const SUPPORT_NOTICES: ReadonlySet<NoticeKind> = new Set<NoticeKind>([
  'details_corrected',
  'correction_resolved',
  'correction_rejected',
  'contact_changed_by_support',
  'recovery_unlocked',
  'devices_revoked',
  'sessions_ended',
  'account_disabled',
  'account_enabled',
]);

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

interface Catalog {
  purpose: Record<OtpPurpose, (ctx: { channel: Channel; description: string | undefined }) => string>;
  minutes(n: number): string;
  otpSubject(code: string, purpose: string): string;
  otpEmail(ctx: { greeting: string; code: string; purpose: string; validity: string }): string;
  otpSms(ctx: { code: string; purpose: string; validity: string }): string;
  otpVoice(ctx: { spoken: string; purpose: string; validity: string; extra?: string }): string;
  /** The purpose and the phishing reminder of an emergency contact's verification code. */
  emergencyContact: { purpose(channel: Channel): string; reminder: string };
  greeting(firstName: string | undefined): string;
  when(at: string): string;
  notice: Record<
    NoticeKind,
    (ctx: { device: string; when: string; identifier: LinkFreeIdentifier; fields: string; count: number }) => {
      subject: string;
      body: string;
    }
  >;
  noticeFooter: string;
  supportFooter: string;
  /** "first name, last name and email". */
  fieldList(fields: readonly NoticeField[]): string;
  /** SMS to a mobile number that support replaced or removed. */
  mobileReplacedSms(when: string): string;
}

const en: Catalog = {
  purpose: {
    login: () => 'to sign in',
    enrollment: () => 'to set up your Enterprise ID',
    step_up: () => 'to confirm it is you before a sensitive action',
    recovery: () => 'to recover your account',
    verification: ({ channel }) => (channel === 'email' ? 'to confirm this email address' : 'to confirm this phone number'),
    transaction: ({ description }) => (description ? `to confirm: ${description}` : 'to confirm a transaction'),
  },
  minutes: (n) => (n === 1 ? '1 minute' : `${n} minutes`),
  otpSubject: (code, purpose) => `${code} is your Gatehouse code ${purpose}`,
  otpEmail: ({ greeting, code, purpose, validity }) =>
    [
      greeting,
      '',
      `Your Gatehouse one-time code ${purpose} is:`,
      '',
      `    ${code}`,
      '',
      `It is valid for ${validity} and can be used once.`,
      '',
      'Never share this code. Gatehouse will never ask you for this code by phone, and never sends links.',
      'Enter it only on the page where you asked for it, a page you opened yourself.',
      '',
      'If you did not ask for this code, you can ignore this message; someone may have typed your address by mistake.',
      'If it keeps happening, change your password and tell your support team.',
    ].join('\n'),
  otpSms: ({ code, purpose, validity }) =>
    `${code} is your Gatehouse code ${purpose}. Valid for ${validity}. Never share it: Gatehouse will never ask you for this code by phone, and never sends links.`,
  otpVoice: ({ spoken, purpose, validity, extra }) =>
    `Hello. This is Gatehouse. Your one-time code ${purpose} is: ${spoken}. Again, your code is: ${spoken}. ` +
    `It is valid for ${validity}. Do not share it with anyone. Gatehouse will never ask you for this code by phone, and never sends links. ${extra ? `${extra} ` : ''}Goodbye.`,
  emergencyContact: {
    purpose: (channel) =>
      channel === 'email'
        ? 'to confirm this email address as an emergency contact'
        : 'to confirm this phone number as an emergency contact',
    reminder:
      'Gatehouse never asks you to reply to a message or to follow a link to verify a contact: type the code yourself on the Gatehouse page where it was asked for.',
  },
  greeting: (firstName) => (firstName ? `Hello ${firstName},` : 'Hello,'),
  when: (at) => ` on ${at}`,
  notice: {
    new_device: ({ device, when }) => ({
      subject: 'New sign-in to your Gatehouse account',
      body: `Your account was just used to sign in${device ? ` on a new device (${device})` : ' on a new device'}${when}.\nIf this was you, there is nothing to do.`,
    }),
    password_changed: ({ when }) => ({
      subject: 'Your Gatehouse password was changed',
      body: `The password of your account was changed${when}.\nIf this was you, there is nothing to do.`,
    }),
    security_code_changed: ({ when }) => ({
      subject: 'Your Gatehouse security code was changed',
      body: `The security code of your account was changed${when}.\nIf this was you, there is nothing to do.`,
    }),
    recovery_blocked: ({ when }) => ({
      subject: 'Recovery of your Gatehouse account is blocked',
      body: [
        `A wrong security code was entered too many times while trying to recover your account${when}.`,
        'To protect you, self-service recovery (forgotten Enterprise ID or password) is now blocked for your account.',
        'Your password and security code were not changed, and you can still sign in as usual.',
        'To unblock recovery, contact your support team: only they can unlock it.',
      ].join('\n'),
    }),
    enterprise_id_reminder: ({ when, identifier }) => ({
      subject: 'Your Gatehouse Enterprise ID',
      body: [
        `You asked for your Enterprise ID${when}, and confirmed it with a one-time code. Your Enterprise ID is:`,
        '',
        `    ${identifier.text}`,
        ...(identifier.spelled === 'dots'
          ? ['', 'It is written with (dot) in place of each dot, so that no mail program turns it into a link. Type a dot instead.']
          : identifier.spelled === 'spaced'
            ? [
                '',
                'It is written with spaces between its characters, so that no mail program turns it into a link. Type it without spaces.',
              ]
            : []),
        '',
        'Sign in with it at the Gatehouse address you always use.',
      ].join('\n'),
    }),
    email_changed: ({ when }) => ({
      subject: 'The email address of your Gatehouse account was changed',
      body: `The email address on your account was changed${when}. Messages now go to the new address.\nIf this was you, there is nothing to do.`,
    }),
    mobile_changed: ({ when }) => ({
      subject: 'The mobile number of your Gatehouse account was changed',
      body: `The mobile number on your account was changed${when}.\nIf this was you, there is nothing to do.`,
    }),
    correction_received: () => ({
      subject: 'We received your correction request',
      body: 'Thank you: we received your request to correct the details of your account. Your support team will review it and get back to you.\nYou do not need to do anything else for now.',
    }),
    details_corrected: ({ when, fields }) => ({
      subject: 'Your support team updated your Gatehouse account',
      body: `Your support team updated the ${fields || 'details'} of your account${when}.`,
    }),
    correction_resolved: ({ fields }) => ({
      subject: 'Your correction request was handled',
      body: [
        fields
          ? `Your support team handled your request and corrected the ${fields} of your account.`
          : 'Your support team handled your request to correct the details of your account.',
        'To continue setting up your Enterprise ID, sign in again with your previous user ID and password at the Gatehouse address you always use, and check your details.',
      ].join('\n'),
    }),
    correction_rejected: () => ({
      subject: 'Your correction request was closed',
      body: [
        'Your support team reviewed your request to correct the details of your account and closed it without changing them.',
        'If you think your details are still wrong, contact your support team.',
      ].join('\n'),
    }),
    contact_changed_by_support: ({ when, fields }) => ({
      subject: 'Your support team changed the contact details of your Gatehouse account',
      body: [
        `Your support team changed the ${fields || 'contact details'} of your account${when}. You are receiving this at the previous contact.`,
        'From now on, one-time codes go to the new contact once it has been confirmed with a code; remembered devices will ask for a code at the next sign-in.',
        'If you did not ask for this, contact your support team at once.',
      ].join('\n'),
    }),
    recovery_unlocked: ({ when }) => ({
      subject: 'Recovery of your Gatehouse account is unlocked',
      body: `Your support team unlocked self-service recovery of your account${when}. You can use "Forgot Enterprise ID" and "Forgot password" again.`,
    }),
    devices_revoked: ({ when, count }) => ({
      subject: 'Remembered devices of your Gatehouse account were signed out',
      body: `Your support team removed ${count === 1 ? 'a remembered device' : `${count} remembered devices`} from your account${when}. The next sign-in there will ask for a one-time code.`,
    }),
    sessions_ended: ({ when, count }) => ({
      subject: 'You were signed out of Gatehouse',
      body:
        count === 0
          ? `Your support team signed your account out of the apps you had signed in to${when}. Sign in again to continue.`
          : `Your support team ended ${count === 1 ? 'the active session' : `${count} active sessions`} of your account${when}. Sign in again to continue.`,
    }),
    account_disabled: ({ when }) => ({
      subject: 'Your Gatehouse account was disabled',
      body: `Your support team disabled your account${when}. Until it is enabled again, you cannot sign in or recover it.`,
    }),
    account_enabled: ({ when }) => ({
      subject: 'Your Gatehouse account was enabled',
      body: `Your support team enabled your account again${when}. You can sign in as usual.`,
    }),
  },
  noticeFooter: [
    'If this was not you, sign in at the Gatehouse address you always use (typed by yourself, not from a message), change your password, and tell your support team.',
    'Gatehouse will never ask you for a code or password by phone, and never sends links.',
  ].join('\n'),
  supportFooter: [
    'If you did not expect this, contact your support team.',
    'Gatehouse will never ask you for a code or password by phone, and never sends links.',
  ].join('\n'),
  fieldList: (fields) => {
    const names: Record<NoticeField, string> = {
      first_name: 'first name',
      last_name: 'last name',
      email: 'email address',
      mobile: 'mobile number',
    };
    const words = fields.map((f) => names[f]);
    return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
  },
  mobileReplacedSms: (when) =>
    `Gatehouse: your support team replaced the mobile number of your account${when}. Codes no longer come to this number. If you did not ask for this, contact your support team.`,
};

/** Italian. The `Catalog` type makes every key required: a missing one fails the typecheck. */
const it: Catalog = {
  purpose: {
    login: () => 'per accedere',
    enrollment: () => 'per attivare il tuo Enterprise ID',
    step_up: () => 'per confermare che sei tu prima di un’operazione delicata',
    recovery: () => 'per recuperare il tuo account',
    verification: ({ channel }) =>
      channel === 'email' ? 'per confermare questo indirizzo email' : 'per confermare questo numero di telefono',
    transaction: ({ description }) => (description ? `per confermare: ${description}` : 'per confermare un’operazione'),
  },
  minutes: (n) => (n === 1 ? '1 minuto' : `${n} minuti`),
  otpSubject: (code, purpose) => `${code} è il tuo codice Gatehouse ${purpose}`,
  otpEmail: ({ greeting, code, purpose, validity }) =>
    [
      greeting,
      '',
      `Il tuo codice monouso Gatehouse ${purpose} è:`,
      '',
      `    ${code}`,
      '',
      `È valido per ${validity} e si può usare una sola volta.`,
      '',
      'Non comunicare mai questo codice a nessuno. Gatehouse non ti chiederà mai questo codice per telefono e non invia mai link.',
      'Inseriscilo solo nella pagina in cui l’hai richiesto, una pagina che hai aperto tu.',
      '',
      'Se non hai richiesto questo codice, puoi ignorare questo messaggio: qualcuno potrebbe aver digitato il tuo indirizzo per errore.',
      'Se succede di nuovo, cambia la password e avvisa il tuo servizio di assistenza.',
    ].join('\n'),
  otpSms: ({ code, purpose, validity }) =>
    `${code} è il tuo codice Gatehouse ${purpose}. Valido per ${validity}. Non comunicarlo a nessuno: Gatehouse non ti chiederà mai questo codice per telefono e non invia mai link.`,
  otpVoice: ({ spoken, purpose, validity, extra }) =>
    `Buongiorno. Qui è Gatehouse. Il tuo codice monouso ${purpose} è: ${spoken}. Ripeto, il tuo codice è: ${spoken}. ` +
    `È valido per ${validity}. Non comunicarlo a nessuno. Gatehouse non ti chiederà mai questo codice per telefono e non invia mai link. ${extra ? `${extra} ` : ''}Arrivederci.`,
  emergencyContact: {
    purpose: (channel) =>
      channel === 'email'
        ? 'per confermare questo indirizzo email come contatto di emergenza'
        : 'per confermare questo numero di telefono come contatto di emergenza',
    reminder:
      'Gatehouse non ti chiede mai di rispondere a un messaggio o di seguire un link per verificare un contatto: digita tu stesso il codice nella pagina Gatehouse in cui è stato richiesto.',
  },
  greeting: (firstName) => (firstName ? `Buongiorno ${firstName},` : 'Buongiorno,'),
  when: (at) => ` il ${at}`,
  notice: {
    new_device: ({ device, when }) => ({
      subject: 'Nuovo accesso al tuo account Gatehouse',
      body: `Il tuo account è appena stato usato per accedere${device ? ` da un nuovo dispositivo (${device})` : ' da un nuovo dispositivo'}${when}.\nSe sei stato tu, non devi fare nulla.`,
    }),
    password_changed: ({ when }) => ({
      subject: 'La password Gatehouse è stata cambiata',
      body: `La password del tuo account è stata cambiata${when}.\nSe sei stato tu, non devi fare nulla.`,
    }),
    security_code_changed: ({ when }) => ({
      subject: 'Il codice di sicurezza Gatehouse è stato cambiato',
      body: `Il codice di sicurezza del tuo account è stato cambiato${when}.\nSe sei stato tu, non devi fare nulla.`,
    }),
    recovery_blocked: ({ when }) => ({
      subject: 'Il recupero del tuo account Gatehouse è bloccato',
      body: [
        `È stato inserito troppe volte un codice di sicurezza errato durante un tentativo di recupero del tuo account${when}.`,
        'Per proteggerti, il recupero autonomo (Enterprise ID o password dimenticati) è ora bloccato per il tuo account.',
        'La password e il codice di sicurezza non sono stati cambiati e puoi continuare ad accedere come sempre.',
        'Per sbloccare il recupero, contatta il tuo servizio di assistenza: solo loro possono sbloccarlo.',
      ].join('\n'),
    }),
    enterprise_id_reminder: ({ when, identifier }) => ({
      subject: 'Il tuo Enterprise ID Gatehouse',
      body: [
        `Hai chiesto il tuo Enterprise ID${when} e hai confermato la richiesta con un codice monouso. Il tuo Enterprise ID è:`,
        '',
        `    ${identifier.text}`,
        ...(identifier.spelled === 'dots'
          ? [
              '',
              'È scritto con (dot) al posto di ogni punto, così che nessun programma di posta lo trasformi in un link. Digita un punto al suo posto.',
            ]
          : identifier.spelled === 'spaced'
            ? [
                '',
                'È scritto con degli spazi tra i caratteri, così che nessun programma di posta lo trasformi in un link. Digitalo senza spazi.',
              ]
            : []),
        '',
        'Usalo per accedere all’indirizzo Gatehouse che usi sempre.',
      ].join('\n'),
    }),
    email_changed: ({ when }) => ({
      subject: 'L’indirizzo email del tuo account Gatehouse è stato cambiato',
      body: `L’indirizzo email del tuo account è stato cambiato${when}. I messaggi ora arrivano al nuovo indirizzo.\nSe sei stato tu, non devi fare nulla.`,
    }),
    mobile_changed: ({ when }) => ({
      subject: 'Il numero di cellulare del tuo account Gatehouse è stato cambiato',
      body: `Il numero di cellulare del tuo account è stato cambiato${when}.\nSe sei stato tu, non devi fare nulla.`,
    }),
    correction_received: () => ({
      subject: 'Abbiamo ricevuto la tua richiesta di correzione',
      body: 'Grazie: abbiamo ricevuto la tua richiesta di correggere i dati del tuo account. Il tuo servizio di assistenza la esaminerà e ti risponderà.\nPer ora non devi fare altro.',
    }),
    details_corrected: ({ when, fields }) => ({
      subject: 'Il servizio di assistenza ha aggiornato il tuo account Gatehouse',
      body: `Il tuo servizio di assistenza ha aggiornato ${fields || 'i dati'} del tuo account${when}.`,
    }),
    correction_resolved: ({ fields }) => ({
      subject: 'La tua richiesta di correzione è stata gestita',
      body: [
        fields
          ? `Il tuo servizio di assistenza ha gestito la tua richiesta e ha corretto ${fields} del tuo account.`
          : 'Il tuo servizio di assistenza ha gestito la tua richiesta di correggere i dati del tuo account.',
        'Per continuare ad attivare il tuo Enterprise ID, accedi di nuovo con il tuo vecchio ID utente e la password all’indirizzo Gatehouse che usi sempre, e controlla i tuoi dati.',
      ].join('\n'),
    }),
    correction_rejected: () => ({
      subject: 'La tua richiesta di correzione è stata chiusa',
      body: [
        'Il tuo servizio di assistenza ha esaminato la tua richiesta di correggere i dati del tuo account e l’ha chiusa senza modificarli.',
        'Se pensi che i tuoi dati siano ancora sbagliati, contatta il tuo servizio di assistenza.',
      ].join('\n'),
    }),
    contact_changed_by_support: ({ when, fields }) => ({
      subject: 'Il servizio di assistenza ha cambiato i recapiti del tuo account Gatehouse',
      body: [
        `Il tuo servizio di assistenza ha cambiato ${fields || 'i recapiti'} del tuo account${when}. Ricevi questo messaggio al recapito precedente.`,
        'D’ora in poi i codici monouso arriveranno al nuovo recapito, una volta confermato con un codice; i dispositivi memorizzati chiederanno un codice al prossimo accesso.',
        'Se non l’hai chiesto tu, contatta subito il tuo servizio di assistenza.',
      ].join('\n'),
    }),
    recovery_unlocked: ({ when }) => ({
      subject: 'Il recupero del tuo account Gatehouse è sbloccato',
      body: `Il tuo servizio di assistenza ha sbloccato il recupero autonomo del tuo account${when}. Puoi di nuovo usare "Enterprise ID dimenticato" e "Password dimenticata".`,
    }),
    devices_revoked: ({ when, count }) => ({
      subject: 'I dispositivi memorizzati del tuo account Gatehouse sono stati disconnessi',
      body: `Il tuo servizio di assistenza ha rimosso ${count === 1 ? 'un dispositivo memorizzato' : `${count} dispositivi memorizzati`} dal tuo account${when}. Al prossimo accesso da lì verrà chiesto un codice monouso.`,
    }),
    sessions_ended: ({ when, count }) => ({
      subject: 'Sei stato disconnesso da Gatehouse',
      body:
        count === 0
          ? `Il tuo servizio di assistenza ha disconnesso il tuo account dalle app a cui avevi effettuato l'accesso${when}. Accedi di nuovo per continuare.`
          : `Il tuo servizio di assistenza ha chiuso ${count === 1 ? 'la sessione attiva' : `${count} sessioni attive`} del tuo account${when}. Accedi di nuovo per continuare.`,
    }),
    account_disabled: ({ when }) => ({
      subject: 'Il tuo account Gatehouse è stato disattivato',
      body: `Il tuo servizio di assistenza ha disattivato il tuo account${when}. Finché non sarà riattivato, non puoi accedere né recuperarlo.`,
    }),
    account_enabled: ({ when }) => ({
      subject: 'Il tuo account Gatehouse è stato riattivato',
      body: `Il tuo servizio di assistenza ha riattivato il tuo account${when}. Puoi accedere come sempre.`,
    }),
  },
  noticeFooter: [
    'Se non sei stato tu, accedi all’indirizzo Gatehouse che usi sempre (digitato da te, non preso da un messaggio), cambia la password e avvisa il tuo servizio di assistenza.',
    'Gatehouse non ti chiederà mai un codice o una password per telefono e non invia mai link.',
  ].join('\n'),
  supportFooter: [
    'Se non te lo aspettavi, contatta il tuo servizio di assistenza.',
    'Gatehouse non ti chiederà mai un codice o una password per telefono e non invia mai link.',
  ].join('\n'),
  fieldList: (fields) => {
    const names: Record<NoticeField, string> = {
      first_name: 'il nome',
      last_name: 'il cognome',
      email: 'l’indirizzo email',
      mobile: 'il numero di cellulare',
    };
    const words = fields.map((f) => names[f]);
    return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} e ${words.at(-1)}`;
  },
  mobileReplacedSms: (when) =>
    `Gatehouse: il tuo servizio di assistenza ha sostituito il numero di cellulare del tuo account${when}. I codici non arrivano più a questo numero. Se non l’hai chiesto tu, contatta il tuo servizio di assistenza.`,
};

/** The languages messages are written in. */
export const MESSAGE_LOCALES = ['en', 'it'] as const;
export type MessageLocale = (typeof MESSAGE_LOCALES)[number];

/** Catalogues by language: one per MESSAGE_LOCALES entry (the type requires each, complete). */
const CATALOGS: Readonly<Record<MessageLocale, Catalog>> = { en, it };

/** The catalogue for a BCP 47 tag: exact, then its language, then English. */
export function resolveLocale(locale: string | undefined | null): MessageLocale {
  if (!locale) return 'en';
  const tag = locale.trim().toLowerCase();
  if (isMessageLocale(tag)) return tag;
  const language = tag.split(/[-_]/u)[0] ?? '';
  return isMessageLocale(language) ? language : 'en';
}

/** True when `locale` names a catalogue exactly (`en`, `it`). */
export function isMessageLocale(locale: unknown): locale is MessageLocale {
  return typeof locale === 'string' && Object.hasOwn(CATALOGS, locale);
}

/**
 * The best catalogue for an `Accept-Language` header (RFC 9110 §12.5.4: quality values,
 * a regional tag matches its language), or undefined when none is acceptable.
 */
export function negotiateLocale(acceptLanguage: string | undefined | null): MessageLocale | undefined {
  if (!acceptLanguage) return undefined;
  let best: { locale: MessageLocale; q: number; order: number } | undefined;
  acceptLanguage
    .slice(0, 1000)
    .split(',')
    .forEach((part, order) => {
      const [range = '', ...params] = part.trim().split(';');
      const qParam = params.map((p) => p.trim()).find((p) => p.toLowerCase().startsWith('q='));
      const q = qParam === undefined ? 1 : Number(qParam.slice(2));
      if (!Number.isFinite(q) || q <= 0 || q > 1) return;
      const language = range.trim().toLowerCase().split(/[-_]/u)[0] ?? '';
      if (!isMessageLocale(language)) return;
      if (!best || q > best.q || (q === best.q && order < best.order)) best = { locale: language, q, order };
    });
  return best?.locale;
}

function catalog(locale: string): Catalog {
  return isMessageLocale(locale) ? CATALOGS[locale] : en;
}

// A scheme, `www.`, or a dot between a letter/digit and two or more letters (`evil.com`, `пример.рф`).
const LINK = /https?|:\/\/|www\.|[\p{L}\p{N}-]\.\p{L}{2,}(?![\p{L}\p{N}])/iu;

/** True when text contains something a mail or SMS client may turn into a link. */
export function containsLink(text: string): boolean {
  return LINK.test(text);
}

/**
 * Makes an outside value safe to put into a message: one line, no control or bidi
 * characters, at most `max` characters, and nothing a client could turn into a link
 * (`evil.com` becomes `evil com`, `http://x` becomes `x`).
 */
export function plainText(value: string, max = 80): string {
  let text = value
    .normalize('NFKC')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ')
    .replace(/\s+/gu, ' ')
    .trim();
  for (let i = 0; i < 5 && containsLink(text); i++) {
    text = text
      .replace(/[a-z][a-z0-9+.-]*:\/\//giu, '')
      .replace(/:\/\//gu, ' ')
      .replace(/https?/giu, '')
      .replace(/www\./giu, 'www ')
      .replace(/([\p{L}\p{N}-])\.(?=\p{L}{2,}(?![\p{L}\p{N}]))/giu, '$1 ')
      .replace(/\s+/gu, ' ')
      .trim();
  }
  return text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text;
}

function assertLinkFree(rendered: { subject?: string; text: string }): void {
  if (containsLink(rendered.text) || (rendered.subject !== undefined && containsLink(rendered.subject))) {
    throw new Error('A message template produced link-like text; refusing to send it');
  }
}

function formatWhen(at: Date | string | undefined, locale: string): string | undefined {
  if (at === undefined) return undefined;
  const date = at instanceof Date ? at : new Date(at);
  if (Number.isNaN(date.getTime())) return undefined;
  const formatted = new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC', hour12: false }).format(date);
  return `${formatted} UTC`;
}

export interface LinkFreeIdentifier {
  text: string;
  /** How the identifier was rewritten to stay link-free: not at all, each dot as "(dot)", or character by character. */
  spelled: 'as_is' | 'dots' | 'spaced';
}

/**
 * An identifier (an Enterprise ID such as `ada.lovelace`) written so that no mail client
 * can turn it into a link, yet a person can type it back: as it is when that is safe,
 * else with "(dot)" for each dot, else character by character. Never changes a character.
 */
export function linkFreeIdentifier(value: string): LinkFreeIdentifier {
  const clean = value
    .normalize('NFKC')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\s]/gu, '')
    .slice(0, 100);
  if (!containsLink(clean)) return { text: clean, spelled: 'as_is' };
  const dots = clean.split('.').join(' (dot) ');
  if (!containsLink(dots)) return { text: dots, spelled: 'dots' };
  return { text: [...clean].map((c) => (c === '.' ? '(dot)' : c)).join(' '), spelled: 'spaced' };
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
