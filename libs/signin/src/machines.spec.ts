import { acrOf, amrOf, LOA1, LOA2 } from '#libs/sessions';
import { rememberedDeviceRecord } from '#libs/factors';
import { safeReturnTo } from './common.js';
import { FlowStepError, nextEnrollment, nextSignIn, type EnrollmentState, type SignInEvent, type SignInState } from './machines.js';

const NOW = new Date('2026-04-01T08:00:00Z');
/** A remembered device the browser presented and the device check accepted. */
const device = rememberedDeviceRecord('d1', NOW);
/** The password factor's record of a right password. */
const pwd = { method: 'password', at: NOW.toISOString() } as const;
const start: SignInState = { step: 'credentials', returnTo: '/account', requireOtp: false };
type PasswordVerified = Extract<SignInEvent, { type: 'password_verified' }>;
/** A right password for u1 (credential version 3), offered a code by email, no remembered device: as `changes` say otherwise. */
const verified = (changes: Partial<PasswordVerified> = {}): PasswordVerified => ({
  type: 'password_verified',
  first: pwd,
  userId: 'u1',
  credentialVersion: 3,
  factors: ['otp'],
  channels: ['email'],
  preferred: 'email',
  secondFactor: null,
  ...changes,
});

describe('sign-in state machine', () => {
  it('skips the OTP with a trusted device and yields loa:1 without otp in amr', () => {
    const done = nextSignIn(start, verified({ secondFactor: device }), NOW);
    expect(done.step).toBe('done');
    if (done.step !== 'done') return;
    expect(acrOf(done.verifications)).toBe(LOA1);
    expect(amrOf(done.verifications)).toEqual(['pwd']);
  });

  it('keeps the credential version the password was verified against, up to done', () => {
    const chose = nextSignIn(start, verified({ credentialVersion: 7 }), NOW);
    const sent = nextSignIn(chose, { type: 'code_sent', channel: 'email', challengeId: 'c1', messageId: 'm1' }, NOW);
    expect(nextSignIn(sent, { type: 'code_verified' }, NOW)).toMatchObject({ step: 'done', userId: 'u1', credentialVersion: 7 });
    const trusted = nextSignIn(start, verified({ credentialVersion: 7, secondFactor: device }), NOW);
    expect(trusted).toMatchObject({ step: 'done', credentialVersion: 7 });
  });

  it('asks for an OTP despite a trusted device when the flow requires one (step-up)', () => {
    const next = nextSignIn(
      { ...start, requireOtp: true },
      verified({ channels: ['email', 'sms'], preferred: 'sms', secondFactor: device }),
      NOW,
    );
    expect(next).toMatchObject({ step: 'choose_channel', preferred: 'sms', channels: ['email', 'sms'] });
  });

  it('falls back to email when the preferred channel is no longer available', () => {
    const next = nextSignIn(start, verified({ preferred: 'voice' }), NOW);
    expect(next).toMatchObject({ step: 'choose_channel', preferred: 'email' });
  });

  it('records the OTP channel: sms gives amr pwd, otp, sms and loa:2', () => {
    const chose = nextSignIn(start, verified({ channels: ['email', 'sms', 'voice'] }), NOW);
    const sent = nextSignIn(chose, { type: 'code_sent', channel: 'sms', challengeId: 'c1', messageId: 'm1' }, NOW);
    const done = nextSignIn(sent, { type: 'code_verified' }, NOW);
    if (done.step !== 'done') throw new Error('expected done');
    expect(acrOf(done.verifications)).toBe(LOA2);
    expect(amrOf(done.verifications)).toEqual(['pwd', 'otp', 'sms']);
    const voice = nextSignIn(
      nextSignIn(chose, { type: 'code_sent', channel: 'voice', challengeId: 'c2', messageId: 'm2' }, NOW),
      { type: 'code_verified' },
      NOW,
    );
    if (voice.step !== 'done') throw new Error('expected done');
    expect(amrOf(voice.verifications)).toEqual(['pwd', 'otp', 'tel']);
  });

  it('refuses a channel the user does not have and events out of order', () => {
    const chose = nextSignIn(start, verified(), NOW);
    expect(() => nextSignIn(chose, { type: 'code_sent', channel: 'sms', challengeId: 'c', messageId: 'm' }, NOW)).toThrow(FlowStepError);
    expect(() => nextSignIn(start, { type: 'code_verified' }, NOW)).toThrow(FlowStepError);
    expect(() => nextSignIn(chose, { type: 'code_verified' }, NOW)).toThrow(FlowStepError);
  });

  it('offers the second factors it is given, and ends only with a record of one of them', () => {
    const chose = nextSignIn(start, verified(), NOW);
    expect(chose).toMatchObject({ step: 'choose_channel', factors: ['otp'] });
    const sent = nextSignIn(chose, { type: 'code_sent', channel: 'email', challengeId: 'c1', messageId: 'm1' }, NOW);
    expect(sent).toMatchObject({ step: 'otp', factors: ['otp'] });
    // A step whose offer left the code out (the policy changed the offer) refuses the code's record.
    const withoutCode = { ...sent, factors: ['remembered_device' as const] };
    expect(() => nextSignIn(withoutCode, { type: 'code_verified' }, NOW)).toThrow(/otp was not offered/u);
    // A flow stored before the offer was recorded still ends with a code.
    const { factors: _dropped, ...stored } = sent as Extract<SignInState, { step: 'otp' }>;
    expect(nextSignIn(stored, { type: 'code_verified' }, NOW)).toMatchObject({ step: 'done' });
  });

  it("starts only with a first factor's record", () => {
    const legacy = nextSignIn(start, verified({ first: { method: 'legacy_password', at: NOW.toISOString() } }), NOW);
    expect(legacy).toMatchObject({ step: 'choose_channel', verifications: [{ method: 'legacy_password' }] });
    for (const first of [
      device,
      { method: 'otp', channel: 'email', at: NOW.toISOString() } as const,
      { method: 'security_code', at: NOW.toISOString() } as const,
    ]) {
      expect(() => nextSignIn(start, verified({ first }), NOW)).toThrow(/is not a first factor/u);
    }
  });

  it('cannot go on when no second factor can be offered and no remembered device stands in', () => {
    const nothing = { factors: [], channels: [] };
    expect(() => nextSignIn(start, verified(nothing), NOW)).toThrow(/no_second_factor/u);
    expect(nextSignIn(start, verified({ ...nothing, secondFactor: device }), NOW)).toMatchObject({ step: 'done' });
    // A step-up asks for a fresh one: the device does not stand in.
    expect(() => nextSignIn({ ...start, requireOtp: true }, verified({ ...nothing, secondFactor: device }), NOW)).toThrow(
      /no_second_factor/u,
    );
  });
});

describe('enrollment state machine', () => {
  const confirm: EnrollmentState = {
    step: 'confirm',
    returnTo: '/account',
    legacyAccountId: 'l1',
    retiredPasswordHash: 'h',
    verifications: [],
  };
  const chosen = {
    enterpriseId: 'anna.rossi',
    enterpriseIdKey: 'anna.rossi',
    enterpriseIdSkeleton: 'annarossl',
    passwordHash: 'p',
    securityCodeHash: 's',
    mobile: '+393331234567',
  };

  it('walks confirm -> credentials -> email code -> mobile code -> done', () => {
    const creds = nextEnrollment(confirm, { type: 'confirmed' }, NOW);
    expect(creds.step).toBe('credentials');
    const email = nextEnrollment(creds, { type: 'credentials_chosen', chosen }, NOW);
    const sent = nextEnrollment(email, { type: 'code_sent', channel: 'email', challengeId: 'c', messageId: 'm' }, NOW);
    expect(sent).toMatchObject({ step: 'email_otp', challengeId: 'c' });
    const mobile = nextEnrollment(sent, { type: 'email_verified', userId: 'u1' }, NOW);
    expect(mobile).toMatchObject({ step: 'mobile_otp', userId: 'u1', mobile: '+393331234567' });
    expect(nextEnrollment(mobile, { type: 'mobile_skipped' }, NOW)).toEqual({ step: 'done', returnTo: '/account', userId: 'u1' });
  });

  it('ends after email verification when no mobile was given', () => {
    const email = nextEnrollment(
      nextEnrollment(confirm, { type: 'confirmed' }, NOW),
      { type: 'credentials_chosen', chosen: { ...chosen, mobile: null } },
      NOW,
    );
    expect(nextEnrollment(email, { type: 'email_verified', userId: 'u1' }, NOW)).toEqual({
      step: 'done',
      returnTo: '/account',
      userId: 'u1',
    });
  });

  it('ends the flow when the data is reported wrong, and allows nothing after', () => {
    const reported = nextEnrollment(confirm, { type: 'reported' }, NOW);
    expect(reported).toEqual({ step: 'reported', legacyAccountId: 'l1' });
    expect(() => nextEnrollment(reported, { type: 'confirmed' }, NOW)).toThrow(FlowStepError);
  });
});

describe('safeReturnTo', () => {
  it.each(['/account', '/account?tab=devices', '/oidc/interaction/abc'])('keeps %s', (path) => expect(safeReturnTo(path)).toBe(path));
  it.each(['https://evil.example', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)', '/a\nb', 42, undefined, '/'.repeat(3000)])(
    'replaces %p with the account page',
    (value) => expect(safeReturnTo(value)).toBe('/account'),
  );
});
