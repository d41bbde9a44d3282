import { Duration } from '#libs/core';
import {
  RecoveryStepError,
  decoyResend,
  decoyVerify,
  isRecovered,
  nextRecovery,
  publicStep,
  type DecoyCode,
  type DecoyLimits,
  type RecoveryEvent,
  type RecoveryState,
} from './machine.js';

const NOW = new Date('2026-04-01T08:00:00Z');
const later = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);

const accepted = (channels: Array<'email' | 'sms' | 'voice'>, preferred: 'email' | 'sms' | 'voice' = 'email'): RecoveryEvent => ({
  type: 'security_code_accepted',
  record: { method: 'security_code', at: NOW.toISOString() },
  userId: 'u1',
  credentialVersion: 3,
  channels,
  preferred,
});
const sent = (channel: 'email' | 'sms' | 'voice', n = 1): RecoveryEvent => ({
  type: 'code_sent',
  channel,
  challengeId: `c${n}`,
  messageId: `m${n}`,
});

function run(state: RecoveryState, events: RecoveryEvent[]): RecoveryState {
  return events.reduce((s, e, i) => nextRecovery(s, e, later(i)), state);
}

describe('recovery state machine', () => {
  it('forgot Enterprise ID: the code always goes by email, on the generic step, even when a mobile is verified', () => {
    const chose = nextRecovery({ step: 'identify', goal: 'enterprise_id' }, accepted(['email', 'sms', 'voice'], 'sms'), NOW);
    expect(chose).toMatchObject({ step: 'choose_channel', channels: ['email'], preferred: 'email', credentialVersion: 3 });
    const otp = nextRecovery(chose, sent('email'), NOW);
    expect(otp).toMatchObject({ step: 'otp', generic: true, code: { channel: 'email', challengeId: 'c1' } });
    expect(publicStep(otp)).toBe('code_sent');
    expect(() => nextRecovery(chose, sent('sms'), NOW)).toThrow(RecoveryStepError);

    const shown = nextRecovery(otp, { type: 'code_verified' }, later(60));
    expect(shown).toMatchObject({ step: 'enterprise_id', userId: 'u1', credentialVersion: 3 });
    if (shown.step !== 'enterprise_id') return;
    expect(shown.verifications.map((v) => v.method)).toEqual(['security_code', 'otp']);
    expect(isRecovered(shown.verifications)).toBe(true);
  });

  it('forgot password: channels are offered only after the security code was accepted, and the chosen one is used', () => {
    const start: RecoveryState = { step: 'identify', goal: 'password' };
    expect(publicStep(start)).toBe('identify');
    const chose = nextRecovery(start, accepted(['email', 'sms'], 'sms'), NOW);
    expect(chose).toMatchObject({ step: 'choose_channel', channels: ['email', 'sms'], preferred: 'sms' });
    expect(publicStep(chose)).toBe('choose_channel');
    const otp = nextRecovery(chose, sent('sms'), NOW);
    expect(otp).toMatchObject({ step: 'otp', generic: false, preferred: 'sms' });
    expect(publicStep(otp)).toBe('otp');
    // A resend by another offered channel stays on the (non-generic) code step.
    const resent = nextRecovery(otp, sent('email', 2), later(40));
    expect(resent).toMatchObject({ step: 'otp', generic: false, code: { channel: 'email', challengeId: 'c2' } });
    const pw = nextRecovery(resent, { type: 'code_verified' }, later(60));
    expect(pw).toMatchObject({ step: 'new_password', goal: 'password', credentialVersion: 3 });
    const done = nextRecovery(pw, { type: 'password_changed' }, later(90));
    expect(done).toEqual({ step: 'done', goal: 'password', userId: 'u1' });
  });

  it('forgot password with email only: nothing to choose, the step is the generic one', () => {
    const otp = run({ step: 'identify', goal: 'password' }, [accepted(['email'], 'voice'), sent('email')]);
    expect(otp).toMatchObject({ step: 'otp', generic: true, preferred: 'email' });
    expect(publicStep(otp)).toBe('code_sent');
  });

  it('forgot both: from the shown Enterprise ID on to a new password without a second security code or code', () => {
    const shown = run({ step: 'identify', goal: 'enterprise_id' }, [accepted(['email']), sent('email'), { type: 'code_verified' }]);
    const pw = nextRecovery(shown, { type: 'continue_to_password' }, later(5));
    expect(pw).toMatchObject({ step: 'new_password', goal: 'enterprise_id', userId: 'u1', credentialVersion: 3 });
    if (pw.step !== 'new_password') return;
    expect(pw.verifications.map((v) => v.method)).toEqual(['security_code', 'otp']);
    expect(nextRecovery(pw, { type: 'password_changed' }, later(9))).toEqual({ step: 'done', goal: 'enterprise_id', userId: 'u1' });
  });

  it('details that match nothing lead to a decoy shown exactly like the generic step', () => {
    for (const goal of ['enterprise_id', 'password'] as const) {
      const decoy = nextRecovery({ step: 'identify', goal }, { type: 'details_not_matched' }, NOW);
      expect(decoy).toEqual({
        step: 'decoy',
        goal,
        decoy: { firstSentAt: NOW.toISOString(), sentAt: NOW.toISOString(), attempts: 0, sends: 1 },
      });
      expect(publicStep(decoy)).toBe('code_sent');
      // A decoy never gets further.
      for (const event of [
        { type: 'code_verified' },
        sent('email'),
        { type: 'continue_to_password' },
        { type: 'password_changed' },
      ] as RecoveryEvent[]) {
        expect(() => nextRecovery(decoy, event, NOW)).toThrow(RecoveryStepError);
      }
      const failed = nextRecovery(decoy, { type: 'decoy_code_failed' }, NOW);
      expect(failed).toMatchObject({ decoy: { attempts: 1 } });
      expect(nextRecovery(failed, { type: 'decoy_resent' }, later(31))).toMatchObject({
        decoy: { attempts: 0, sends: 2, sentAt: later(31).toISOString() },
      });
    }
  });

  it('refuses steps out of order: no new password without a verified code, no second identification', () => {
    const identify: RecoveryState = { step: 'identify', goal: 'password' };
    expect(() => nextRecovery(identify, { type: 'code_verified' }, NOW)).toThrow(RecoveryStepError);
    expect(() => nextRecovery(identify, { type: 'password_changed' }, NOW)).toThrow(RecoveryStepError);
    const chose = nextRecovery(identify, accepted(['email', 'sms']), NOW);
    expect(() => nextRecovery(chose, { type: 'code_verified' }, NOW)).toThrow(RecoveryStepError);
    expect(() => nextRecovery(chose, accepted(['email']), NOW)).toThrow(RecoveryStepError);
    // Only a recovery factor's record proves the person here: a password does not.
    const password = { ...accepted(['email']), record: { method: 'password', at: NOW.toISOString() } } as RecoveryEvent;
    expect(() => nextRecovery(identify, password, NOW)).toThrow(/not_a_recovery_factor/u);
    expect(() => nextRecovery(chose, { type: 'continue_to_password' }, NOW)).toThrow(RecoveryStepError);
    const pw = run(chose, [sent('sms'), { type: 'code_verified' }]);
    expect(() => nextRecovery(pw, { type: 'continue_to_password' }, NOW)).toThrow(RecoveryStepError);
    // A forged state with the security code alone cannot complete.
    const forged: RecoveryState = {
      step: 'new_password',
      goal: 'password',
      userId: 'u1',
      credentialVersion: 1,
      verifications: [{ method: 'security_code', at: NOW.toISOString() }],
    };
    expect(() => nextRecovery(forged, { type: 'password_changed' }, NOW)).toThrow(/unverified/u);
    const done = nextRecovery(pw, { type: 'password_changed' }, NOW);
    expect(() => nextRecovery(done, { type: 'password_changed' }, NOW)).toThrow(RecoveryStepError);
  });
});

describe('decoy code', () => {
  const limits: DecoyLimits = {
    ttl: Duration.ofMinutes(10),
    maxAttempts: 5,
    resendCooldown: Duration.ofSeconds(30),
    perHour: 10,
  };
  const fresh: DecoyCode = { firstSentAt: NOW.toISOString(), sentAt: NOW.toISOString(), attempts: 0, sends: 1 };

  it('answers like a real code: attempts left, then no attempts, then exhausted; malformed input uses none', () => {
    expect(decoyVerify(fresh, true, later(5), limits)).toEqual({ reason: 'invalid', attemptsLeft: 4, counted: true });
    expect(decoyVerify({ ...fresh, attempts: 2 }, false, later(5), limits)).toEqual({ reason: 'invalid', attemptsLeft: 3, counted: false });
    expect(decoyVerify({ ...fresh, attempts: 4 }, true, later(5), limits)).toEqual({ reason: 'invalid', attemptsLeft: 0, counted: true });
    expect(decoyVerify({ ...fresh, attempts: 5 }, true, later(5), limits)).toEqual({
      reason: 'exhausted',
      attemptsLeft: 0,
      counted: false,
    });
  });

  it('expires after the code validity', () => {
    expect(decoyVerify(fresh, true, later(599), limits).reason).toBe('invalid');
    expect(decoyVerify(fresh, true, later(600), limits)).toEqual({ reason: 'expired', attemptsLeft: 0, counted: false });
  });

  it('keeps the resend cooldown and the hourly cap', () => {
    expect(decoyResend(fresh, later(10), limits)).toEqual({ ok: false, code: 'otp_cooldown', retryAfterSeconds: 20 });
    expect(decoyResend(fresh, later(30), limits)).toEqual({ ok: true });
    expect(decoyResend({ ...fresh, sends: 10, sentAt: later(300).toISOString() }, later(400), limits)).toEqual({
      ok: false,
      code: 'otp_rate_limited',
      retryAfterSeconds: 3200,
    });
  });
});
