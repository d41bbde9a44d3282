import { FlowStepError } from '#libs/core';
import { codeSent, codeStepOf, codeVerified, nextCodeStep, pickChannel, type CodeStepState } from './code-step.js';
import { deliveryFailed, issueRefusal, otpFailureMessage, undeliverable } from './step-error.js';

const NOW = new Date('2026-04-01T08:00:00Z');
const LATER = new Date('2026-04-01T08:01:00Z');
const choose: CodeStepState = { phase: 'choose', channels: ['email', 'sms'], preferred: 'email' };
const sent = (channel: 'email' | 'sms' | 'voice', n = 1) => ({
  type: 'code_sent' as const,
  channel,
  challengeId: `c${n}`,
  messageId: `m${n}`,
});

describe('code step machine', () => {
  it('goes choose -> sent -> verified, the verification naming the channel and the time', () => {
    const waiting = nextCodeStep(choose, sent('sms'), NOW);
    expect(waiting).toEqual({
      phase: 'sent',
      channels: ['email', 'sms'],
      preferred: 'sms',
      code: { channel: 'sms', challengeId: 'c1', messageId: 'm1', sentAt: NOW.toISOString() },
    });
    const verified = nextCodeStep(waiting, { type: 'code_verified' }, LATER);
    expect(verified).toMatchObject({ phase: 'verified', verification: { method: 'otp', channel: 'sms', at: LATER.toISOString() } });
  });

  it('a resend replaces the code, by the same or another offered channel, and that channel is offered first next', () => {
    const first = nextCodeStep(choose, sent('email'), NOW);
    const second = nextCodeStep(first, sent('sms', 2), LATER);
    expect(second).toMatchObject({
      phase: 'sent',
      preferred: 'sms',
      code: { channel: 'sms', challengeId: 'c2', sentAt: LATER.toISOString() },
    });
  });

  it('keeps a step without a preferred channel without one', () => {
    const waiting = nextCodeStep({ phase: 'choose', channels: ['sms', 'voice'] }, sent('voice'), NOW);
    expect(waiting).not.toHaveProperty('preferred');
  });

  it('refuses a channel not offered, a verification before a code went out, and anything after it verified', () => {
    expect(() => nextCodeStep(choose, sent('voice'), NOW)).toThrow(FlowStepError);
    expect(() => nextCodeStep(choose, sent('voice'), NOW)).toThrow(/code_sent:voice/u);
    expect(() => nextCodeStep(choose, { type: 'code_verified' }, NOW)).toThrow(FlowStepError);
    const verified = nextCodeStep(nextCodeStep(choose, sent('email'), NOW), { type: 'code_verified' }, NOW);
    expect(() => nextCodeStep(verified, sent('email', 2), NOW)).toThrow(FlowStepError);
    expect(() => nextCodeStep(verified, { type: 'code_verified' }, NOW)).toThrow(FlowStepError);
  });

  it('reports a refusal the way the flow asks', () => {
    class Mine extends Error {}
    expect(() => nextCodeStep(choose, sent('voice'), NOW, (what) => new Mine(what))).toThrow(Mine);
  });
});

describe('the code step embedded flat in a flow state', () => {
  it('reads a flat state as choose (no code yet, or an empty challenge) or sent', () => {
    expect(codeStepOf({ channels: ['email'], preferred: 'email' })).toEqual({ phase: 'choose', channels: ['email'], preferred: 'email' });
    expect(codeStepOf({ channels: ['email'], channel: 'email', challengeId: '', messageId: '', sentAt: NOW.toISOString() }).phase).toBe(
      'choose',
    );
    expect(codeStepOf({ channels: ['email'], channel: 'email', challengeId: 'c', messageId: 'm', sentAt: NOW.toISOString() })).toEqual({
      phase: 'sent',
      channels: ['email'],
      code: { channel: 'email', challengeId: 'c', messageId: 'm', sentAt: NOW.toISOString() },
    });
  });

  it('code_sent gives the fields to spread into the next state; code_verified the verification record', () => {
    const flat = codeSent({ channels: ['email', 'sms'], preferred: 'email' }, sent('sms'), NOW);
    expect(flat).toEqual({
      channels: ['email', 'sms'],
      preferred: 'sms',
      channel: 'sms',
      challengeId: 'c1',
      messageId: 'm1',
      sentAt: NOW.toISOString(),
    });
    expect(codeVerified(flat, LATER)).toEqual({ method: 'otp', channel: 'sms', at: LATER.toISOString() });
    expect(() => codeVerified({ channels: ['email'] }, LATER)).toThrow(FlowStepError);
    expect(() => codeSent({ channels: ['email'] }, sent('sms'), NOW)).toThrow(FlowStepError);
  });
});

describe('picking the channel of a send', () => {
  const offered = ['email', 'sms'] as const;
  it('takes an offered channel as asked', () => {
    expect(pickChannel(offered, 'sms')).toBe('sms');
    expect(pickChannel(offered, 'sms', 'email')).toBe('sms');
  });
  it('falls back when unset, refuses one not offered (unless lenient), and refuses unset without a fallback', () => {
    expect(pickChannel(offered, undefined, 'email')).toBe('email');
    expect(pickChannel(offered, '', 'sms')).toBe('sms');
    expect(pickChannel(offered, 'voice', 'email')).toBeNull();
    expect(pickChannel(offered, 'voice', 'email', { lenient: true })).toBe('email');
    expect(pickChannel(offered, 42, 'email', { lenient: true })).toBe('email');
    expect(pickChannel(offered, undefined)).toBeNull();
    expect(pickChannel(offered, 'voice')).toBeNull();
  });
});

describe('the answers of a code step', () => {
  it('says how many attempts are left, and what to do when none are', () => {
    expect(otpFailureMessage({ ok: false, reason: 'invalid', attemptsLeft: 2 })).toEqual({
      code: 'otp_invalid',
      message: 'That code is not correct. 2 attempts left.',
      attemptsLeft: 2,
    });
    expect(otpFailureMessage({ ok: false, reason: 'invalid', attemptsLeft: 1 }).message).toBe('That code is not correct. 1 attempt left.');
    expect(otpFailureMessage({ ok: false, reason: 'invalid', attemptsLeft: 0 }).message).toMatch(/no attempts are left/u);
    expect(otpFailureMessage({ ok: false, reason: 'superseded', attemptsLeft: 0 }).code).toBe('otp_superseded');
    // A code of another flow or person reads like a wrong one.
    expect(otpFailureMessage({ ok: false, reason: 'not_found', attemptsLeft: 0 })).toEqual({
      code: 'otp_invalid',
      message: 'That code is not correct.',
      attemptsLeft: 0,
    });
  });

  it('turns the cooldown into seconds and the hourly caps into minutes', () => {
    expect(issueRefusal('otp_cooldown', 17)).toEqual({
      code: 'otp_cooldown',
      message: 'Please wait 17 seconds before asking for a new code.',
      retryAfterSeconds: 17,
    });
    expect(issueRefusal('otp_rate_limited', 61).message).toBe('Too many codes were sent. Try again in 2 minutes.');
  });

  it('names the channel of a failed delivery, and what to do next', () => {
    expect(deliveryFailed('sms', 'choose').message).toBe('We could not send your code by text message. Try again or choose another way.');
    expect(deliveryFailed('email', 'resend').message).toBe('We could not send your code by email. Try again with "Send a new code".');
    expect(deliveryFailed(null, 'resend').message).toBe('We could not send your code. Try again with "Send a new code".');
    expect(undeliverable('voice')).toEqual({ code: 'undeliverable', message: 'We cannot send a code by voice call to this destination.' });
  });
});
