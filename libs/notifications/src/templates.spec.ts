import type { Channel } from '#libs/core';
import {
  containsLink,
  linkFreeIdentifier,
  mobileReplacedSms,
  NOTICE_KINDS,
  negotiateLocale,
  noticeMessage,
  otpMessage,
  plainText,
  resolveLocale,
  spellDigits,
  type NoticeKind,
  type NoticeParams,
  type OtpPurpose,
} from './templates.js';
import { transactionCodeMessage, transactionCodeValidity } from './transaction-code-message.js';

const PURPOSES: OtpPurpose[] = ['login', 'enrollment', 'step_up', 'recovery', 'verification', 'transaction'];
const CHANNELS: Channel[] = ['email', 'sms', 'voice'];
/** Every notice, spelled out here so that one dropped from NOTICE_KINDS fails this spec. */
const NOTICES: readonly NoticeKind[] = [
  'new_device',
  'password_changed',
  'security_code_changed',
  'recovery_blocked',
  'enterprise_id_reminder',
  'email_changed',
  'mobile_changed',
  'correction_received',
  'details_corrected',
  'correction_resolved',
  'correction_rejected',
  'contact_changed_by_support',
  'recovery_unlocked',
  'devices_revoked',
  'sessions_ended',
  'account_disabled',
  'account_enabled',
];

it('NOTICE_KINDS lists every notice, once', () => {
  expect([...NOTICE_KINDS].sort()).toEqual([...NOTICES].sort());
});

/** What the contract forbids in any message: no link or URL. */
function expectNoLink(text: string): void {
  expect(text.toLowerCase()).not.toContain('http');
  expect(text.toLowerCase()).not.toContain('www.');
  expect(text).not.toContain('://');
  expect(containsLink(text)).toBe(false);
}

/** Every one of `parts` is in the text. */
function expectContains(text: string, parts: readonly string[]): void {
  for (const part of parts) expect(text).toContain(part);
}

describe('otpMessage', () => {
  const cases = PURPOSES.flatMap((purpose) => CHANNELS.map((channel) => [purpose, channel] as const));

  it.each(cases)('%s by %s: code, purpose, validity and the phishing warning, and no link', (purpose, channel) => {
    const m = otpMessage({ purpose, channel, code: '482913', validityMinutes: 10, description: 'Payment of 120 EUR to ACME' });
    expect(m.locale).toBe('en');
    expect(m.text).toContain('10 minutes');
    expect(m.text).toContain('Gatehouse will never ask you for this code by phone, and never sends links');
    if (channel === 'voice') {
      expect(m.subject).toBeUndefined();
      // Digits one by one, said twice.
      expect(m.text.split('4, 8, 2, 9, 1, 3')).toHaveLength(3);
    } else {
      expect(m.text).toContain('482913');
    }
    if (channel === 'email') expect(m.subject).toContain('482913');
    else expect(m.subject).toBeUndefined();
    expectNoLink(m.text);
    expectNoLink(m.subject ?? '');
  });

  it('says what the code is for', () => {
    const text = (purpose: OtpPurpose, channel: Channel = 'sms') =>
      otpMessage({ purpose, channel, code: '111111', validityMinutes: 5 }).text;
    expect(text('login')).toContain('to sign in');
    expect(text('enrollment')).toContain('to set up your Enterprise ID');
    expect(text('step_up')).toContain('to confirm it is you');
    expect(text('recovery')).toContain('to recover your account');
    expect(text('verification', 'email')).toContain('to confirm this email address');
    expect(text('verification', 'sms')).toContain('to confirm this phone number');
    expect(text('transaction')).toContain('to confirm a transaction');
    expect(
      otpMessage({ purpose: 'transaction', channel: 'sms', code: '111111', validityMinutes: 5, description: 'Wire 500 EUR' }).text,
    ).toContain('to confirm: Wire 500 EUR');
  });

  it('uses singular and plural minutes', () => {
    expect(otpMessage({ purpose: 'login', channel: 'sms', code: '123456', validityMinutes: 1 }).text).toContain('Valid for 1 minute.');
    expect(otpMessage({ purpose: 'login', channel: 'sms', code: '123456', validityMinutes: 15 }).text).toContain('Valid for 15 minutes.');
  });

  it('keeps a link out even when the transaction description carries one', () => {
    for (const description of [
      'Pay 100 EUR at https://evil.example.com/pay',
      'Visit www.evil.test now',
      'Confirm at evil.com',
      'Перейдите на пример.рф',
      'ftp://files.example.org',
      'HTTP://EVIL.COM',
      'line\nbreak\u202Ebidi http:/\u200B/x',
    ]) {
      const m = otpMessage({ purpose: 'transaction', channel: 'email', code: '654321', validityMinutes: 10, description });
      expectNoLink(m.text);
      expectNoLink(m.subject!);
      expect(m.subject).not.toMatch(/[\r\n]/u);
    }
  });

  it('refuses anything but a 6-digit code and a sane validity', () => {
    for (const code of ['12345', '1234567', '12345a', ' 123456', '١٢٣٤٥٦']) {
      expect(() => otpMessage({ purpose: 'login', channel: 'sms', code, validityMinutes: 10 })).toThrow(RangeError);
    }
    for (const validityMinutes of [0, -1, 1.5, 100_000]) {
      expect(() => otpMessage({ purpose: 'login', channel: 'sms', code: '123456', validityMinutes })).toThrow(RangeError);
    }
  });

  it('falls back to English for an unknown locale, and to the language of a regional tag', () => {
    expect(resolveLocale(undefined)).toBe('en');
    expect(resolveLocale('en-GB')).toBe('en');
    expect(resolveLocale('xx')).toBe('en');
    expect(resolveLocale('__proto__')).toBe('en');
    const english = otpMessage({ purpose: 'login', channel: 'sms', code: '123456', validityMinutes: 10 });
    expect(otpMessage({ purpose: 'login', channel: 'sms', code: '123456', validityMinutes: 10, locale: 'tlh' })).toEqual(english);
  });

  it('spells digits for voice', () => {
    expect(spellDigits('123456')).toBe('1, 2, 3, 4, 5, 6');
  });
});

describe('noticeMessage', () => {
  it.each(NOTICES)('%s: a subject and a text, without any link', (kind) => {
    const m = noticeMessage(kind, { firstName: 'Ada', name: 'Firefox on Windows', at: '2026-05-01T10:00:00Z' });
    expect(m.subject.length).toBeGreaterThan(10);
    expect(m.text).toContain('Hello Ada,');
    expectNoLink(m.subject);
    expectNoLink(m.text);
  });

  it('says when and on which device, in UTC', () => {
    const m = noticeMessage('new_device', { name: 'Safari on iPhone', at: new Date('2026-05-01T10:07:00Z') });
    expectContains(m.text, ['Safari on iPhone', 'May 1, 2026', '10:07', 'UTC', 'change your password', 'never sends links']);
  });

  it('neutralises a device name or first name that tries to carry a link', () => {
    const m = noticeMessage('new_device', { name: 'Evil.com/1.0 (see https://evil.example)', firstName: 'www.x.io' });
    expectNoLink(m.text);
    expect(m.text).toContain('Evil com');
  });

  it('works without parameters', () => {
    const m = noticeMessage('password_changed');
    expect(m.text).toMatch(/^Hello,\n/u);
    expect(m.text).toContain('The password of your account was changed.');
  });

  it('recovery_blocked says that recovery is blocked and that only support can unlock it', () => {
    const m = noticeMessage('recovery_blocked', { at: '2026-05-01T10:00:00Z' });
    expect(m.subject).toContain('blocked');
    expect(m.text).toContain('recovery (forgotten Enterprise ID or password) is now blocked');
    expect(m.text).toContain('contact your support team: only they can unlock it');
  });

  it('enterprise_id_reminder carries the Enterprise ID in a form no client turns into a link', () => {
    expect(noticeMessage('enterprise_id_reminder', { enterpriseId: 'grace_hopper' }).text).toContain('\n    grace_hopper\n');
    const dotted = noticeMessage('enterprise_id_reminder', { enterpriseId: 'ada.lovelace' });
    expect(dotted.text).toContain('ada (dot) lovelace');
    expect(dotted.text).toContain('Type a dot instead.');
    expectNoLink(dotted.text);
    const awkward = noticeMessage('enterprise_id_reminder', { enterpriseId: 'http.www-x' });
    expect(awkward.text).toContain('h t t p (dot) w w w - x');
    expectNoLink(awkward.text);
  });
});

describe('support notices', () => {
  it('name the fields that changed, never their values, and point to support rather than to a password change', () => {
    const m = noticeMessage('details_corrected', {
      firstName: 'Ada',
      fields: ['first_name', 'last_name', 'email'],
      at: '2026-05-01T10:00:00Z',
    });
    expect(m.text).toContain('updated the first name, last name and email address of your account on May 1, 2026');
    expect(m.text).toContain('If you did not expect this, contact your support team.');
    expect(m.text).not.toContain('change your password');
    expect(noticeMessage('contact_changed_by_support', { fields: ['mobile'] }).text).toContain('changed the mobile number of your account');
    expect(noticeMessage('correction_resolved', { fields: ['last_name'] }).text).toContain('corrected the last name of your account');
    expect(noticeMessage('correction_resolved').text).toContain('sign in again with your previous user ID and password');
  });

  it('count devices and sessions', () => {
    expect(noticeMessage('devices_revoked', { count: 3 }).text).toContain('removed 3 remembered devices');
    expect(noticeMessage('devices_revoked', { count: 1 }).text).toContain('removed a remembered device');
    expect(noticeMessage('sessions_ended', { count: 2 }).text).toContain('ended 2 active sessions');
    // Only sign-ins to apps were ended (no Gatehouse session was active): no "0 sessions".
    const appsOnly = noticeMessage('sessions_ended', { count: 0 }).text;
    expect(appsOnly).toContain('signed your account out of the apps you had signed in to');
    expect(appsOnly).not.toMatch(/\b0\b/u);
    expect(noticeMessage('sessions_ended', { count: 0, locale: 'it' }).text).toContain('dalle app');
  });

  it('the SMS to a replaced mobile number is one link-free line', () => {
    const m = mobileReplacedSms({ at: '2026-05-01T10:00:00Z' });
    expect(m.text).toContain('replaced the mobile number of your account on May 1, 2026');
    expect(m.text).not.toContain('\n');
    expectNoLink(m.text);
  });
});

describe('linkFreeIdentifier', () => {
  it('keeps a safe identifier, and otherwise rewrites it without changing a character', () => {
    expect(linkFreeIdentifier('mario-rossi_1')).toEqual({ text: 'mario-rossi_1', spelled: 'as_is' });
    expect(linkFreeIdentifier('anna.it')).toEqual({ text: 'anna (dot) it', spelled: 'dots' });
    expect(linkFreeIdentifier('https')).toEqual({ text: 'h t t p s', spelled: 'spaced' });
    for (const id of ['a.b.cd', 'www.example.com', 'x.http', 'evil\u200b.com'])
      expect(containsLink(linkFreeIdentifier(id).text)).toBe(false);
  });
});

describe('plainText', () => {
  it('keeps ordinary text and version numbers, strips control characters, truncates', () => {
    expect(plainText('Chrome 120.0 on Mac OS 10.15')).toBe('Chrome 120.0 on Mac OS 10.15');
    expect(plainText('a\r\nb\u0000c\u202Ed')).toBe('a b c d');
    expect(plainText('x'.repeat(100), 10)).toHaveLength(10);
  });
});

describe('Italian (it)', () => {
  const cases = PURPOSES.flatMap((purpose) => CHANNELS.map((channel) => [purpose, channel] as const));
  const ITALIAN_PURPOSE: Record<OtpPurpose, string> = {
    login: 'per accedere',
    enrollment: 'per attivare il tuo Enterprise ID',
    step_up: 'per confermare che sei tu',
    recovery: 'per recuperare il tuo account',
    verification: 'per confermare questo',
    transaction: 'per confermare: Pagamento di 120 EUR',
  };

  it.each(cases)(
    'code for %s by %s: the code, its purpose and validity, the phishing guidance, in Italian and without a link',
    (purpose, channel) => {
      const m = otpMessage({
        purpose,
        channel,
        code: '482913',
        validityMinutes: 10,
        locale: 'it',
        description: 'Pagamento di 120 EUR a ACME',
      });
      expect(m.locale).toBe('it');
      expect(m.text).toContain(ITALIAN_PURPOSE[purpose]);
      expect(m.text).toContain('10 minuti');
      expect(m.text).toContain('Gatehouse non ti chiederà mai questo codice per telefono e non invia mai link');
      expect(m.text).not.toContain('Gatehouse will never');
      if (channel === 'voice') {
        expect(m.text.split('4, 8, 2, 9, 1, 3')).toHaveLength(3);
        expect(m.text).toContain('Ripeto');
      } else expect(m.text).toContain('482913');
      if (channel === 'email')
        expect(m.subject).toBe(`482913 è il tuo codice Gatehouse ${m.subject!.slice('482913 è il tuo codice Gatehouse '.length)}`);
      expectNoLink(m.text);
      if (m.subject) expectNoLink(m.subject);
    },
  );

  it('an emergency contact code says so and reminds that Gatehouse never asks for a reply, in Italian', () => {
    for (const channel of CHANNELS) {
      const m = otpMessage({
        purpose: 'verification',
        channel,
        code: '123456',
        validityMinutes: 1,
        locale: 'it-CH',
        variant: 'emergency_contact',
      });
      expect(m.text).toContain('contatto di emergenza');
      expect(m.text).toContain('1 minuto');
      expect(m.text).toContain('Gatehouse non ti chiede mai di rispondere');
      expectNoLink(m.text);
    }
  });

  it.each(NOTICES)('notice %s: Italian subject and text, no link, the date in Italian', (kind) => {
    const params: NoticeParams = {
      firstName: 'Ada',
      name: 'Firefox su Windows',
      at: '2026-05-01T10:00:00Z',
      enterpriseId: 'ada.lovelace',
      fields: ['first_name', 'email'],
      count: 2,
    };
    const m = noticeMessage(kind, { ...params, locale: 'it' });
    const english = noticeMessage(kind, params);
    expect(m.locale).toBe('it');
    expect(m.text).toContain('Buongiorno Ada,');
    expect(m.subject).not.toBe(english.subject);
    if (kind !== 'correction_received') expect(m.text).toContain('non invia mai link');
    if (!['correction_received', 'correction_resolved', 'correction_rejected'].includes(kind)) expect(m.text).toContain('1 maggio 2026');
    expectNoLink(m.subject);
    expectNoLink(m.text);
  });

  it('names fields in Italian, counts, and keeps the Enterprise ID link-free', () => {
    expect(noticeMessage('details_corrected', { fields: ['first_name', 'last_name', 'mobile'], locale: 'it' }).text).toContain(
      'il nome, il cognome e il numero di cellulare',
    );
    expect(noticeMessage('devices_revoked', { count: 3, locale: 'it' }).text).toContain('3 dispositivi memorizzati');
    expect(noticeMessage('sessions_ended', { count: 1, locale: 'it' }).text).toContain('la sessione attiva');
    const reminder = noticeMessage('enterprise_id_reminder', { enterpriseId: 'ada.lovelace', locale: 'it' });
    expect(reminder.text).toContain('ada (dot) lovelace');
    expect(reminder.text).toContain('Digita un punto al suo posto');
  });

  it('the SMS to a replaced mobile number, in Italian', () => {
    const m = mobileReplacedSms({ at: '2026-05-01T10:00:00Z', locale: 'it' });
    expect(m.locale).toBe('it');
    expect(m.text).toContain('ha sostituito il numero di cellulare');
    expectNoLink(m.text);
  });

  it('regional tags and Accept-Language headers pick the best catalogue; unknown ones fall back to English', () => {
    expect(resolveLocale('it-IT')).toBe('it');
    expect(resolveLocale('IT')).toBe('it');
    expect(otpMessage({ purpose: 'login', channel: 'sms', code: '123456', validityMinutes: 10, locale: 'fr' }).locale).toBe('en');
    expect(negotiateLocale('it-IT,it;q=0.9,en;q=0.8')).toBe('it');
    expect(negotiateLocale('fr-FR,fr;q=0.9,it;q=0.5,en;q=0.4')).toBe('it');
    expect(negotiateLocale('en-US,en;q=0.9,it;q=0.8')).toBe('en');
    expect(negotiateLocale('it;q=0.2,en;q=0.3')).toBe('en');
    expect(negotiateLocale('it;q=0')).toBeUndefined();
    expect(negotiateLocale('fr, de')).toBeUndefined();
    expect(negotiateLocale('*')).toBeUndefined();
    expect(negotiateLocale(undefined)).toBeUndefined();
  });
});

describe('transaction code email in Italian', () => {
  it('carries the code, what it confirms, the validity in Italian, the guidance, and no link; unknown locales are English', () => {
    const base = {
      code: '482913',
      description: 'Consegna del pacco',
      reference: 'PKG-42',
      serviceName: 'Corriere Veloce',
      expiresAt: new Date('2026-03-29T14:30:00Z'),
    };
    const m = transactionCodeMessage({ ...base, locale: 'it-IT' });
    expect(m.locale).toBe('it');
    expect(m.subject).toBe('482913 è il tuo codice Gatehouse per confermare: Consegna del pacco');
    expectContains(m.text, [
      'Corriere Veloce ha chiesto a Gatehouse di inviarti un codice monouso per confermare:',
      '(riferimento PKG-42)',
      'È valido fino al 29 marzo 2026 alle ore 14:30 UTC e si può usare una sola volta.',
      'non invia mai link',
    ]);
    expectNoLink(m.text);
    const endOfDay = transactionCodeMessage({ ...base, locale: 'it', endOfDay: { date: '2026-03-29', timeZone: 'Europe/Rome' } });
    expect(endOfDay.text).toContain('fino alla fine di domenica 29 marzo 2026 (ora di Europe/Rome)');
    expect(transactionCodeValidity(base.expiresAt, undefined, 'it')).toBe('fino al 29 marzo 2026 alle ore 14:30 UTC');
    expect(transactionCodeValidity(base.expiresAt)).toBe('until 29 March 2026 at 14:30 UTC');
    expect(transactionCodeMessage({ ...base, locale: 'de' }).subject).toBe('482913 is your Gatehouse code for: Consegna del pacco');
  });
});
