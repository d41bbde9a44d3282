import { DomainError } from '#libs/core';
import { transactionCodeMessage, transactionCodeValidity } from '#libs/notifications';
import { deriveCode, displayKey } from './derived-code.js';
import { parseIssueRequest } from './request.js';

const NOW = new Date('2026-03-28T10:00:00.000Z');
const SUB = '1b4e28ba-2fa1-4d2e-8f3c-6f1a2b3c4d5e';
const base = { sub: SUB, reference: 'ORD-1', description: '  Parcel   from the shop ' };

function fieldOf(body: unknown, now = NOW): string | undefined {
  try {
    parseIssueRequest(body, now);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return ((error as DomainError).details.extensions as { field: string }).field;
  }
}

describe('parseIssueRequest', () => {
  it('takes a duration from the clock and folds white space in the description', () => {
    expect(parseIssueRequest({ ...base, expires_in: 600 }, NOW)).toEqual({
      sub: SUB,
      reference: 'ORD-1',
      description: 'Parcel from the shop',
      expiresAt: new Date('2026-03-28T10:10:00.000Z'),
    });
  });

  it('ends a local date at the next local midnight, across the change to summer time', () => {
    expect(parseIssueRequest({ ...base, valid_until_end_of: '2026-03-29', time_zone: 'Europe/Rome' }, NOW)).toMatchObject({
      expiresAt: new Date('2026-03-29T22:00:00.000Z'),
      endOfDay: { date: '2026-03-29', timeZone: 'Europe/Rome' },
    });
  });

  it('bounds the validity: 60 s to 30 days, today to 30 days ahead in that zone, at least 60 s left', () => {
    expect(fieldOf({ ...base, expires_in: 60 })).toBeUndefined();
    expect(fieldOf({ ...base, expires_in: 30 * 86400 })).toBeUndefined();
    expect(fieldOf({ ...base, expires_in: 59 })).toBe('expires_in');
    expect(fieldOf({ ...base, valid_until_end_of: '2026-03-28', time_zone: 'Europe/Rome' })).toBeUndefined();
    expect(fieldOf({ ...base, valid_until_end_of: '2026-04-27', time_zone: 'Europe/Rome' })).toBeUndefined();
    expect(fieldOf({ ...base, valid_until_end_of: '2026-04-28', time_zone: 'Europe/Rome' })).toBe('valid_until_end_of');
    expect(fieldOf({ ...base, valid_until_end_of: '2026-03-27', time_zone: 'Europe/Rome' })).toBe('valid_until_end_of');
    // 30 seconds before midnight in Rome, "today" is nearly over.
    expect(fieldOf({ ...base, valid_until_end_of: '2026-03-28', time_zone: 'Europe/Rome' }, new Date('2026-03-28T22:59:30Z'))).toBe(
      'valid_until_end_of',
    );
  });

  it('names the field at fault', () => {
    expect(fieldOf(null)).toBe('body');
    expect(fieldOf([base])).toBe('body');
    expect(fieldOf({ ...base, sub: SUB.toUpperCase(), expires_in: 600 })).toBe('sub');
    expect(fieldOf({ ...base, reference: ' ', expires_in: 600 })).toBe('reference');
    expect(fieldOf({ ...base, reference: 'a\u200bb', expires_in: 600 })).toBe('reference');
    expect(fieldOf({ ...base, description: 'tab\there', expires_in: 600 })).toBe('description');
    expect(fieldOf({ ...base, description: 42, expires_in: 600 })).toBe('description');
    expect(fieldOf({ ...base, time_zone: 'Europe/Rome' })).toBe('valid_until_end_of');
    expect(fieldOf({ ...base, valid_until_end_of: '2026-03-29', time_zone: '+01:00' })).toBe('time_zone');
    expect(fieldOf({ ...base, valid_until_end_of: '29.03.2026', time_zone: 'Europe/Rome' })).toBe('valid_until_end_of');
  });
});

describe('derived codes', () => {
  const key = displayKey(Buffer.alloc(32, 1));

  it('are six digits, the same for the same id and nonce, and change with either', () => {
    const nonce = Buffer.alloc(16, 2);
    const code = deriveCode(key, 'id-1', nonce);
    expect(code).toMatch(/^\d{6}$/u);
    expect(deriveCode(key, 'id-1', nonce)).toBe(code);
    const others = new Set([
      deriveCode(key, 'id-2', nonce),
      deriveCode(key, 'id-1', Buffer.alloc(16, 3)),
      deriveCode(displayKey(Buffer.alloc(32, 9)), 'id-1', nonce),
    ]);
    expect(others.has(code)).toBe(false);
  });

  it('spread over all six digits', () => {
    const firstDigits = new Set<string>();
    for (let i = 0; i < 400; i++) firstDigits.add(deriveCode(key, `id-${i}`, Buffer.alloc(16, i % 256))[0]!);
    expect(firstDigits.size).toBe(10);
  });
});

describe('transaction code message', () => {
  const input = {
    code: '042917',
    description: 'Parcel from shop.example.com',
    reference: 'ORD-1',
    serviceName: 'https://shop.example.com',
    expiresAt: new Date('2026-03-29T22:00:00Z'),
    endOfDay: { date: '2026-03-29', timeZone: 'Europe/Rome' },
  };

  it('carries the code in subject and text, what it confirms, its validity, and no link', () => {
    const m = transactionCodeMessage(input);
    expect(m.subject).toBe('042917 is your Gatehouse code for: Parcel from shop example com');
    expect(m.text).toContain('\n    042917\n');
    expect(m.text).toContain('It is valid until the end of Sunday 29 March 2026 (Europe/Rome time) and can be used once.');
    expect(m.text).toContain('never sends links');
    expect(m.text).not.toMatch(/https?|:\/\/|\.com/u);
  });

  it('words a duration as an instant in UTC', () => {
    expect(transactionCodeValidity(new Date('2026-03-29T14:30:00Z'))).toBe('until 29 March 2026 at 14:30 UTC');
    expect(() => transactionCodeMessage({ ...input, code: '12345' })).toThrow(RangeError);
  });
});
