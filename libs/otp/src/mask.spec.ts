import { maskDestination, maskEmail, maskPhone } from './mask.js';

describe('masking destinations', () => {
  it.each([
    ['jane.doe@example.com', 'j***@example.com'],
    ['a@example.org', 'a***@example.org'],
    ['Émile@exemple.fr', 'É***@exemple.fr'],
    ['not-an-address', '***'],
    ['@example.com', '***'],
    ['jane@', '***'],
  ])('maskEmail(%j) = %j', (input, expected) => {
    expect(maskEmail(input)).toBe(expected);
  });

  it.each([
    ['+393331234567', '+39 *** *** 4567'],
    ['+14155552671', '+1 *** *** 2671'],
    ['+447911123456', '+44 *** *** 3456'],
    ['+41 79 123 45 67', '+41 *** *** 4567'],
    ['garbage', '***'],
  ])('maskPhone(%j) = %j', (input, expected) => {
    expect(maskPhone(input)).toBe(expected);
  });

  it('never shows more than the last four digits of a number', () => {
    const masked = maskPhone('+393331234567');
    expect(masked).not.toContain('333');
    expect(masked.replace(/\D/gu, '')).toBe('394567');
  });

  it('picks the mask by channel', () => {
    expect(maskDestination('email', 'jane.doe@example.com')).toBe('j***@example.com');
    expect(maskDestination('sms', '+393331234567')).toBe('+39 *** *** 4567');
    expect(maskDestination('voice', '+393331234567')).toBe('+39 *** *** 4567');
  });
});
