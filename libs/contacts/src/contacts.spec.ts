import { containsLink, otpMessage } from '#libs/notifications';
import { LANDLINE_MESSAGE, channelRefusal, checkEmergencyPhone, phoneChannels } from './phone.js';
import { contactPrompt, missingContacts, type ContactPolicy } from './policy.js';

describe('emergency phone numbers (libphonenumber-js types)', () => {
  it.each([
    ['+39 333 123 4567', '+393331234567', 'mobile', ['sms', 'voice']],
    ['+33 6 12 34 56 78', '+33612345678', 'mobile', ['sms', 'voice']],
    ['+39 06 1234 5678', '+390612345678', 'fixed_line', ['voice']],
    ['+44 20 7946 0000', '+442079460000', 'fixed_line', ['voice']],
    ['+1 201 555 0123', '+12015550123', 'fixed_line_or_mobile', ['sms', 'voice']],
  ])('%s is a %s number, reachable by %j', (raw, number, kind, channels) => {
    expect(checkEmergencyPhone(raw)).toEqual({ ok: true, value: { number, kind, channels } });
  });

  it('a landline is offered voice calls only, with a clear reason for a text message', () => {
    expect(phoneChannels('fixed_line')).toEqual(['voice']);
    expect(channelRefusal('fixed_line', 'sms')).toBe(LANDLINE_MESSAGE);
    expect(channelRefusal('fixed_line', 'voice')).toBeNull();
    expect(channelRefusal('fixed_line_or_mobile', 'sms')).toBeNull();
    expect(channelRefusal('voice_only', 'sms')).toMatch(/we can only call it/u);
  });

  it.each([
    ['+39 899 123 456', /premium-rate/u],
    ['+39 800 123 456', /toll-free/u],
    ['+44 800 123 4567', /toll-free/u],
    ['3331234567', /international format/u],
    ['+39 333', /not a valid phone number|international format/u],
    ['', /Enter a phone number/u],
    ['+39 333\u200b1234567', /invisible/u],
  ])('refuses %j', (raw, reason) => {
    const checked = checkEmergencyPhone(raw);
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.reason).toMatch(reason);
  });
});

describe('the organization policy on emergency contacts', () => {
  const policy: ContactPolicy = { requireEmail: true, requirePhone: true, reminderLimit: 2 };
  const none = { emailVerified: false, phoneVerified: false, remindersUsed: 0, deferredThisSession: false };

  it('lists required contacts that are not verified', () => {
    expect(missingContacts(policy, none)).toEqual(['email', 'phone']);
    expect(missingContacts(policy, { emailVerified: true, phoneVerified: false })).toEqual(['phone']);
    expect(missingContacts({ ...policy, requirePhone: false }, { emailVerified: true, phoneVerified: false })).toEqual([]);
  });

  it('asks while something is missing, allows "Remind me later" N times, and not again in a session that postponed', () => {
    expect(contactPrompt(policy, none)).toEqual({ ask: true, missing: ['email', 'phone'], remindersLeft: 2, canDefer: true });
    expect(contactPrompt(policy, { ...none, remindersUsed: 1 })).toMatchObject({ ask: true, remindersLeft: 1, canDefer: true });
    expect(contactPrompt(policy, { ...none, remindersUsed: 2 })).toMatchObject({ ask: true, remindersLeft: 0, canDefer: false });
    expect(contactPrompt(policy, { ...none, remindersUsed: 2, deferredThisSession: true })).toEqual({
      ask: false,
      missing: ['email', 'phone'],
    });
    expect(contactPrompt({ ...policy, reminderLimit: 0 }, none)).toMatchObject({ ask: true, canDefer: false });
    expect(contactPrompt(policy, { ...none, emailVerified: true, phoneVerified: true })).toEqual({ ask: false, missing: [] });
    expect(contactPrompt({ requireEmail: false, requirePhone: false, reminderLimit: 3 }, none)).toEqual({ ask: false, missing: [] });
  });
});

describe('emergency contact code messages', () => {
  it.each(['email', 'sms', 'voice'] as const)('by %s: says what it is for, warns against replies and links, and has no link', (channel) => {
    const message = otpMessage({ purpose: 'verification', variant: 'emergency_contact', code: '012345', channel, validityMinutes: 10 });
    expect(message.text).toContain(
      channel === 'email' ? 'this email address as an emergency contact' : 'this phone number as an emergency contact',
    );
    expect(message.text).toContain('Gatehouse never asks you to reply to a message or to follow a link to verify a contact');
    expect(message.text).toContain(channel === 'voice' ? '0, 1, 2, 3, 4, 5' : '012345');
    expect(message.text).toContain('10 minutes');
    if (channel === 'email') expect(message.subject).toContain('012345');
    if (channel === 'voice') expect(message.text.trim().endsWith('Goodbye.')).toBe(true);
    expect(containsLink(message.text)).toBe(false);
    expect(containsLink(message.subject ?? '')).toBe(false);
  });

  it('the variant is for verification codes only, and plain verification codes keep their wording', () => {
    expect(() =>
      otpMessage({ purpose: 'login', variant: 'emergency_contact', code: '012345', channel: 'sms', validityMinutes: 10 }),
    ).toThrow(RangeError);
    expect(otpMessage({ purpose: 'verification', code: '012345', channel: 'sms', validityMinutes: 10 }).text).not.toContain('emergency');
  });
});
