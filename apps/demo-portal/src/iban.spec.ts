import { formatIban, validatePaymentDetails } from './iban.js';

describe('payment details validation', () => {
  it('accepts a valid IBAN typed in groups and lower case, and normalizes it', () => {
    expect(validatePaymentDetails({ iban: 'de89 3704 0044 0532 0130 00', account_holder: '  Grace   Hopper ' })).toEqual({
      ok: true,
      value: { iban: 'DE89370400440532013000', accountHolder: 'Grace Hopper' },
    });
    expect(validatePaymentDetails({ iban: 'GB82 WEST 1234 5698 7654 32', account_holder: 'Ada Lovelace' }).ok).toBe(true);
    expect(formatIban('DE89370400440532013000')).toBe('DE89 3704 0044 0532 0130 00');
  });

  it('names each bad field: checksum, country length, shape, missing values', () => {
    expect(validatePaymentDetails({ iban: 'DE89370400440532013001', account_holder: 'Grace Hopper' })).toEqual({
      ok: false,
      errors: { iban: 'This IBAN is not valid: check it for typing errors.' },
    });
    expect(validatePaymentDetails({ iban: 'DE8937040044053201300', account_holder: 'Grace Hopper' })).toMatchObject({
      ok: false,
      errors: { iban: expect.stringContaining('has 22 characters') },
    });
    expect(validatePaymentDetails({ iban: '1234', account_holder: '' })).toMatchObject({
      ok: false,
      errors: { iban: expect.stringContaining('country code'), accountHolder: 'Enter the account holder.' },
    });
    expect(validatePaymentDetails({})).toMatchObject({
      ok: false,
      errors: { iban: 'Enter the IBAN.', accountHolder: 'Enter the account holder.' },
    });
  });

  it('refuses invisible or control characters and over-long holders', () => {
    const iban = 'DE89370400440532013000';
    expect(validatePaymentDetails({ iban, account_holder: 'Grace\u202eHopper' })).toMatchObject({
      ok: false,
      errors: { accountHolder: expect.any(String) },
    });
    expect(validatePaymentDetails({ iban, account_holder: 'x'.repeat(141) })).toMatchObject({
      ok: false,
      errors: { accountHolder: expect.any(String) },
    });
    expect(validatePaymentDetails({ iban, account_holder: 'X' })).toMatchObject({
      ok: false,
      errors: { accountHolder: expect.any(String) },
    });
  });
});
