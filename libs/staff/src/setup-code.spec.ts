import { randomBytes } from 'node:crypto';
import { containsLink } from '#libs/notifications';
import { generateSetupCode, normalizeSetupCode, setupCodeHmac, setupCodeMatches, setupSelector } from './setup-code.js';
import { staffSetupMessage } from './setup-message.js';

describe('staff setup codes', () => {
  it('are five groups of four Crockford base32 characters, different every time', () => {
    const codes = new Set(Array.from({ length: 200 }, () => generateSetupCode()));
    expect(codes.size).toBe(200);
    for (const code of codes) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$/u);
  });

  it('read back as typed: case, spaces and hyphens do not matter, O is 0 and I or L is 1', () => {
    expect(normalizeSetupCode('k7qf-3xwm 9pda-h2nc-8trb')).toBe('K7QF3XWM9PDAH2NC8TRB');
    expect(normalizeSetupCode('OOOO-IIII-LLLL-0000-1111')).toBe('00001111111100001111');
    expect(normalizeSetupCode('K7QF-3XWM-9PDA-H2NC')).toBeNull();
    expect(normalizeSetupCode('K7QF-3XWM-9PDA-H2NC-8TRU')).toBeNull();
    expect(normalizeSetupCode(42)).toBeNull();
  });

  it('are checked against an HMAC under the server key, with an 8-character selector', () => {
    const key = randomBytes(32);
    const code = normalizeSetupCode(generateSetupCode())!;
    const stored = setupCodeHmac(key, code);
    expect(setupSelector(code)).toBe(code.slice(0, 8));
    expect(setupCodeMatches(key, code, stored)).toBe(true);
    expect(setupCodeMatches(randomBytes(32), code, stored)).toBe(false);
    const other = `${code.slice(0, 19)}${code.endsWith('0') ? '1' : '0'}`;
    expect(setupCodeMatches(key, other, stored)).toBe(false);
  });

  it('travel in a plain, link-free email that names the role and the validity', () => {
    const message = staffSetupMessage({
      name: 'Eve http://evil.example.com',
      role: 'support',
      code: 'K7QF-3XWM-9PDA-H2NC-8TRB',
      expiresAt: new Date('2026-06-04T09:00:00Z'),
    });
    expect(message.text).toContain('K7QF-3XWM-9PDA-H2NC-8TRB');
    expect(message.text).toContain('"support"');
    expect(message.text).toContain('June 4, 2026');
    expect(message.subject).not.toContain('K7QF');
    expect(containsLink(message.text)).toBe(false);
    expect(() => staffSetupMessage({ name: 'x', role: 'support', code: '123456', expiresAt: new Date() })).toThrow(RangeError);
  });
});
