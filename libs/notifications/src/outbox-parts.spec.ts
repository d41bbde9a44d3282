import { randomBytes } from 'node:crypto';
import { Duration } from '#libs/core';
import { PayloadCipher } from './payload-cipher.js';
import { DEFAULT_OUTBOX_POLICY, backoffAfter, outboxPolicy } from './policy.js';
import { smtpFailure } from './smtp.js';
import { webhookBody } from './webhook.js';

describe('PayloadCipher', () => {
  const key = randomBytes(32);
  const binding = { id: '8e0e7b1c-8a51-4c59-9d43-0f1f6d0b3a11', channel: 'email' as const, recipient: 'ada@example.com' };
  const content = { subject: '123456 is your code', text: 'Your code is 123456' };

  it('round-trips, with iv | tag | ciphertext and a fresh IV each time', () => {
    const a = new PayloadCipher(key).encrypt(content, binding);
    const b = new PayloadCipher(key).encrypt(content, binding);
    expect(a.subarray(0, 12).equals(b.subarray(0, 12))).toBe(false);
    expect(a.length).toBe(12 + 16 + Buffer.byteLength(JSON.stringify(content)));
    expect(a.toString('latin1')).not.toContain('123456');
    expect(new PayloadCipher(key).decrypt(a, binding)).toEqual(content);
  });

  it('refuses a tampered payload, another key, or another row/recipient', () => {
    const cipher = new PayloadCipher(key);
    const sealed = cipher.encrypt(content, binding);
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1]! ^= 1;
    expect(() => cipher.decrypt(flipped, binding)).toThrow();
    expect(() => new PayloadCipher(randomBytes(32)).decrypt(sealed, binding)).toThrow();
    expect(() => cipher.decrypt(sealed, { ...binding, recipient: 'eve@example.com' })).toThrow();
    expect(() => cipher.decrypt(sealed, { ...binding, id: '00000000-0000-4000-8000-000000000000' })).toThrow();
    expect(() => cipher.decrypt(Buffer.alloc(10), binding)).toThrow();
  });

  it('needs a 32-byte key', () => {
    expect(() => new PayloadCipher(randomBytes(16))).toThrow(RangeError);
  });
});

describe('OutboxPolicy', () => {
  it('defaults to 5 attempts, 1 s doubling backoff and a 60 s lease', () => {
    expect(DEFAULT_OUTBOX_POLICY.maxAttempts).toBe(5);
    expect(DEFAULT_OUTBOX_POLICY.baseBackoff.milliseconds).toBe(1000);
    expect(DEFAULT_OUTBOX_POLICY.lease.milliseconds).toBe(60_000);
    expect(DEFAULT_OUTBOX_POLICY.webhookTimeout.milliseconds).toBe(5000);
    expect(outboxPolicy()).toEqual(DEFAULT_OUTBOX_POLICY);
  });

  it('doubles the backoff after each failed attempt, up to the cap', () => {
    const policy = outboxPolicy({ maxBackoff: Duration.ofSeconds(10) });
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffAfter(n, policy).milliseconds)).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it('refuses a lease shorter than the slowest send, and silly numbers', () => {
    expect(() => outboxPolicy({ lease: Duration.ofSeconds(5) })).toThrow(/lease/u);
    expect(() => outboxPolicy({ maxAttempts: 0 })).toThrow(RangeError);
    expect(() => outboxPolicy({ batchSize: 1.5 })).toThrow(RangeError);
  });
});

describe('error reasons carry codes, never text', () => {
  it('maps nodemailer errors', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25 — code 123456'), {
      code: 'ESOCKET',
      originalCode: 'ECONNREFUSED',
    });
    expect(smtpFailure(refused)).toMatchObject({ reason: 'smtp: ECONNREFUSED', permanent: false });
    const rejected = Object.assign(new Error('550 no such user: 123456'), {
      code: 'EENVELOPE',
      responseCode: 550,
      permanent: true,
      response: '550 123456',
    });
    expect(smtpFailure(rejected)).toMatchObject({ reason: 'smtp: 550 EENVELOPE', permanent: true });
    expect(smtpFailure(Object.assign(new Error('x'), { code: 'not a code 123456' })).reason).toBe('smtp: error');
  });

  it('builds the contract webhook body in the contract key order', () => {
    expect(webhookBody('sms', { id: 'x', to: '+393331234567', text: 'hi "there"', locale: 'en' })).toBe(
      '{"channel":"sms","to":"+393331234567","text":"hi \\"there\\"","locale":"en"}',
    );
  });
});
