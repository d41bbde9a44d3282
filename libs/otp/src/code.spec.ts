import { createHmac } from 'node:crypto';
import { codeHmac, generateCode, hmacMatches, normalizeCode } from './code.js';

describe('one-time code generation', () => {
  it('makes 6 ASCII digits, zero-padded, uniformly spread over every position', () => {
    const n = 20_000;
    const codes = Array.from({ length: n }, generateCode);
    expect(codes.every((c) => /^[0-9]{6}$/u.test(c))).toBe(true);
    // Birthday bound: about 200 collisions expected among 20,000 draws from a million.
    expect(new Set(codes).size).toBeGreaterThan(19_000);
    // Zero-padding: about 10% start with 0.
    const leadingZero = codes.filter((c) => c.startsWith('0')).length;
    expect(leadingZero).toBeGreaterThan(1_500);
    expect(leadingZero).toBeLessThan(2_500);
    // Each digit at each position about 2,000 times (sd ~42); ±300 is over 7 sd.
    for (let position = 0; position < 6; position++) {
      const counts = new Array<number>(10).fill(0);
      for (const c of codes) counts[Number(c[position])]!++;
      for (const count of counts) {
        expect(count).toBeGreaterThan(1_700);
        expect(count).toBeLessThan(2_300);
      }
    }
  });
});

describe('code input normalization', () => {
  it.each([
    ['123456', '123456'],
    ['  123456\n', '123456'],
    ['123 456', '123456'],
    ['123-456', '123456'],
    [' 12 34 56 ', '123456'],
    ['１２３４５６', '123456'],
    ['１２３　４５６', '123456'],
    ['123\u2011456', '123456'],
    ['000042', '000042'],
  ])('accepts %j as %s', (input, expected) => {
    expect(normalizeCode(input)).toBe(expected);
  });

  it.each(['', '12345', '1234567', '12345a', 'abcdef', '123.456', '١٢٣٤٥٦', '123456\u0000', ' '.repeat(100) + '123456'])(
    'rejects %j',
    (input) => {
      expect(normalizeCode(input)).toBeNull();
    },
  );

  it('rejects non-strings', () => {
    expect(normalizeCode(123456)).toBeNull();
    expect(normalizeCode(undefined)).toBeNull();
  });
});

describe('code HMAC', () => {
  const key = Buffer.alloc(32, 7);

  it('is HMAC-SHA256 over challenge id and code, so a code is bound to its challenge', () => {
    const expected = createHmac('sha256', key).update('c-1:123456').digest();
    expect(codeHmac(key, 'c-1', '123456').equals(expected)).toBe(true);
    expect(codeHmac(key, 'c-2', '123456').equals(expected)).toBe(false);
    expect(codeHmac(Buffer.alloc(32, 8), 'c-1', '123456').equals(expected)).toBe(false);
  });

  it('matches only identical values of the same length', () => {
    const a = codeHmac(key, 'c', '111111');
    expect(hmacMatches(a, Buffer.from(a))).toBe(true);
    expect(hmacMatches(a, codeHmac(key, 'c', '111112'))).toBe(false);
    expect(hmacMatches(a, a.subarray(0, 16))).toBe(false);
  });
});
