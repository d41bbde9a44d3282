import { loadConfig } from '#libs/config';
import { Duration } from '#libs/core';
import { FlowStepError } from '#libs/core';
import type { VerificationRecord } from '#libs/sessions';
import { contactChannels, nextContactChange, nextStepUp, type ContactChangeState, type StepUpState } from './machines.js';
import { DEFAULT_STEP_UP_WINDOW, freshUntil, isFresh, stepUpWindow } from './step-up.service.js';

const NOW = new Date('2026-06-01T09:00:00Z');
const at = (minutesAgo: number) => new Date(NOW.getTime() - minutesAgo * 60_000).toISOString();
const TEN = Duration.ofMinutes(10);

describe('step-up freshness', () => {
  it('is fresh while the latest OTP is younger than the window, and not at or after it', () => {
    const records = (minutesAgo: number): VerificationRecord[] => [
      { method: 'password', at: at(60) },
      { method: 'otp', channel: 'email', at: at(minutesAgo) },
    ];
    expect(isFresh(records(0), NOW, TEN)).toBe(true);
    expect(isFresh(records(9.99), NOW, TEN)).toBe(true);
    expect(isFresh(records(10), NOW, TEN)).toBe(false);
    expect(isFresh(records(11), NOW, TEN)).toBe(false);
    expect(freshUntil(records(4), TEN)).toEqual(new Date(NOW.getTime() + 6 * 60_000));
  });

  it('counts only OTPs: a password or a remembered device never makes a session fresh', () => {
    const remembered: VerificationRecord[] = [
      { method: 'password', at: at(0) },
      { method: 'remembered_device', deviceId: 'd1', at: at(0) },
    ];
    expect(isFresh(remembered, NOW, TEN)).toBe(false);
    expect(freshUntil(remembered, TEN)).toBeNull();
  });

  it('takes the latest of several OTPs (a step-up after an old sign-in code)', () => {
    const records: VerificationRecord[] = [
      { method: 'password', at: at(120) },
      { method: 'otp', channel: 'sms', at: at(120) },
      { method: 'otp', channel: 'voice', at: at(3) },
    ];
    expect(isFresh(records, NOW, TEN)).toBe(true);
    expect(isFresh(records, NOW, Duration.ofMinutes(2))).toBe(false);
  });

  it('reads the window from STEP_UP_MINUTES, 10 by default, 1 to 1440', () => {
    expect(stepUpWindow(loadConfig({})).milliseconds).toBe(DEFAULT_STEP_UP_WINDOW.milliseconds);
    expect(DEFAULT_STEP_UP_WINDOW.milliseconds).toBe(10 * 60_000);
    expect(stepUpWindow(loadConfig({ STEP_UP_MINUTES: '5' })).milliseconds).toBe(5 * 60_000);
    expect(() => loadConfig({ STEP_UP_MINUTES: '0' })).toThrow(/STEP_UP_MINUTES: expected a whole number from 1 to 1440/u);
    expect(() => loadConfig({ STEP_UP_MINUTES: 'ten' })).toThrow(/STEP_UP_MINUTES/u);
  });
});

describe('step-up machine', () => {
  const start: StepUpState = {
    step: 'choose_channel',
    sessionId: 's1',
    userId: 'u1',
    factors: ['otp'],
    channels: ['email', 'sms'],
    preferred: 'email',
    returnTo: '/account/password',
  };

  it('goes choose_channel -> otp -> done, and a resend by another channel replaces the code', () => {
    const sent = nextStepUp(start, { type: 'code_sent', channel: 'email', challengeId: 'c1', messageId: 'm1' }, NOW);
    expect(sent).toMatchObject({ step: 'otp', channel: 'email', challengeId: 'c1', sentAt: NOW.toISOString() });
    const resent = nextStepUp(sent, { type: 'code_sent', channel: 'sms', challengeId: 'c2', messageId: 'm2' }, NOW);
    expect(resent).toMatchObject({ step: 'otp', channel: 'sms', preferred: 'sms', challengeId: 'c2' });
    const done = nextStepUp(resent, { type: 'code_verified' }, NOW);
    expect(done).toEqual({
      step: 'done',
      sessionId: 's1',
      userId: 'u1',
      returnTo: '/account/password',
      factors: ['otp'],
      verification: { method: 'otp', channel: 'sms', at: NOW.toISOString() },
    });
  });

  it('ends only with a record of a factor it offered', () => {
    const sent = nextStepUp(start, { type: 'code_sent', channel: 'email', challengeId: 'c1', messageId: 'm1' }, NOW);
    expect(() => nextStepUp({ ...sent, factors: [] }, { type: 'code_verified' }, NOW)).toThrow(/otp was not offered/u);
    // A flow stored before the offer was recorded: every second factor that challenges the person.
    const { factors: _dropped, ...stored } = sent;
    expect(nextStepUp(stored, { type: 'code_verified' }, NOW)).toMatchObject({ step: 'done', verification: { method: 'otp' } });
  });

  it('refuses a channel that was not offered, and a verification before a code was sent', () => {
    expect(() => nextStepUp(start, { type: 'code_sent', channel: 'voice', challengeId: 'c', messageId: 'm' }, NOW)).toThrow(FlowStepError);
    expect(() => nextStepUp(start, { type: 'code_verified' }, NOW)).toThrow(FlowStepError);
    const done = nextStepUp(
      nextStepUp(start, { type: 'code_sent', channel: 'email', challengeId: 'c', messageId: 'm' }, NOW),
      { type: 'code_verified' },
      NOW,
    );
    expect(() => nextStepUp(done, { type: 'code_sent', channel: 'email', challengeId: 'c', messageId: 'm' }, NOW)).toThrow(FlowStepError);
  });
});

describe('contact change machine', () => {
  const sending: ContactChangeState = {
    step: 'sending',
    kind: 'mobile',
    sessionId: 's1',
    userId: 'u1',
    destination: '+393337654321',
    channels: contactChannels('mobile'),
  };

  it('verifies a mobile number by SMS or voice only, and an email address by email only', () => {
    expect(contactChannels('mobile')).toEqual(['sms', 'voice']);
    expect(contactChannels('email')).toEqual(['email']);
    expect(() => nextContactChange(sending, { type: 'code_sent', channel: 'email', challengeId: 'c', messageId: 'm' }, NOW)).toThrow(
      FlowStepError,
    );
  });

  it('goes sending -> otp -> done keeping the destination, and never verifies before a code was sent', () => {
    expect(() => nextContactChange(sending, { type: 'code_verified' }, NOW)).toThrow(FlowStepError);
    const otp = nextContactChange(sending, { type: 'code_sent', channel: 'voice', challengeId: 'c1', messageId: 'm1' }, NOW);
    expect(otp).toMatchObject({ step: 'otp', channel: 'voice', destination: '+393337654321', challengeId: 'c1' });
    const done = nextContactChange(otp, { type: 'code_verified' }, NOW);
    expect(done).toEqual({
      step: 'done',
      kind: 'mobile',
      sessionId: 's1',
      userId: 'u1',
      destination: '+393337654321',
      channel: 'voice',
      verifiedAt: NOW.toISOString(),
    });
    expect(() => nextContactChange(done, { type: 'code_verified' }, NOW)).toThrow(FlowStepError);
  });
});
