import { checkNewPassword, checkSecurityCode, isCommonPassword } from './credential-policy.js';
import { checkEnterpriseId, skeletonOf } from './enterprise-id.js';

describe('Enterprise ID', () => {
  it.each(['anna.rossi', 'A_B-c.1', 'josé.garcía', 'иван.петров', 'abc'])('accepts %s', (id) =>
    expect(checkEnterpriseId(id).ok).toBe(true),
  );

  it.each([
    ['ab', /3 to 64/],
    ['a'.repeat(65), /3 to 64/],
    ['anna rossi', /only letters/],
    ['anna@rossi', /only letters/],
    ['.anna', /start and end/],
    ['anna..rossi', /two separators/],
    ['pаypal', /mix letters/], // Cyrillic а inside Latin
    ['anna\u200brossi', /invisible/],
  ])('rejects %j', (id, reason) => {
    const result = checkEnterpriseId(id);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('compares case-insensitively after NFKC', () => {
    const a = checkEnterpriseId('Anna.Rossi');
    const b = checkEnterpriseId('ＡＮＮＡ.rossi');
    expect(a.ok && b.ok && a.value.key === b.value.key).toBe(true);
  });

  it.each([
    ['paul', 'pau1'],
    ['modern', 'rnodern'],
    ['bill.smith', 'bi11_smith'],
    ['oscar', '0scar'],
    ['anna', 'аnnа'], // all-Cyrillic look-alike
  ])('gives look-alikes %s and %s the same skeleton', (a, b) => expect(skeletonOf(a)).toBe(skeletonOf(b)));

  it('keeps different names apart', () => expect(skeletonOf('anna')).not.toBe(skeletonOf('hanna')));
});

describe('new password policy', () => {
  const ctx = { enterpriseId: 'anna.rossi', email: 'anna@example.com' };
  it('accepts a long, uncommon password', () => expect(checkNewPassword('correct horse battery staple', ctx).ok).toBe(true));
  it.each([
    ['short1', /at least 12/],
    ['x'.repeat(129), /at most 128/],
    ['qwerty123456', /too common/],
    ['1QAZ2WSX3EDC', /too common/],
    ['anna.rossi', /at least 12/],
    ['ANNA@EXAMPLE.COM', /email/],
    ['pass\u0000word12345', /invisible/],
  ])('rejects %j', (password, reason) => {
    const r = checkNewPassword(password, ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
  it('rejects the Enterprise ID itself', () => {
    const r = checkNewPassword('anna.rossi.2026', { enterpriseId: 'Anna.Rossi.2026' });
    expect(r).toEqual({ ok: false, reason: 'The password may not be your Enterprise ID.' });
  });
  // Issue 13 item 3: each passed the old rules at enrollment, recovery and password change.
  const acme = { ...ctx, firstName: 'Anna', lastName: 'Rossi', organizationName: 'Acme Corporation', organizationSlug: 'acme' };
  it.each([
    'password1234',
    '123456789012',
    'passwordpassword',
    'qwertyuiop12',
    'aaaaaaaaaaaa',
    'gatehouse2026',
    'Gatehouse Acme 1',
    'P@ssw0rd2026!',
    'Anna Rossi 1985',
    'Rossi Anna Acme',
    'acmeacmeacme',
  ])('refuses the weak %j and says why', (password) => {
    const r = checkNewPassword(password, acme);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/too (easy to guess|common)|leaked/u);
  });
  it('names the context when a password is built from it', () => {
    const r = checkNewPassword('Gatehouse Acme 1', acme);
    expect(r).toEqual({ ok: false, reason: expect.stringContaining('your name, your IDs, your organization or this service') });
  });
  it('refuses an entry of the breached-password list of 12 characters or more', () => {
    const r = checkNewPassword('1qaz2wsx3edc4rfv', acme);
    expect(r.ok).toBe(false);
  });
  it.each(['blue-Lantern-orchard-42', 'kq7-Vr2m-Pz9w', 'Il mio gatto Felix 2019', 'tidal basin lanterns 7'])(
    'accepts the strong %j',
    (password) => expect(checkNewPassword(password, acme)).toEqual({ ok: true, value: password }),
  );
  it('answers with the NFKC form, which is what gets hashed', () =>
    expect(checkNewPassword('ｂｌｕｅ-Lantern-orchard-42', acme)).toEqual({ ok: true, value: 'blue-Lantern-orchard-42' }));

  it('bundles the 10,000 most common passwords', () => {
    expect(isCommonPassword('password')).toBe(true);
    expect(isCommonPassword('qwertyuiop')).toBe(true);
    expect(isCommonPassword('a very unusual passphrase')).toBe(false);
  });
});

describe('security code policy', () => {
  const range = { min: 6, max: 9 };
  it.each(['271828', '31415926', '504030201'])('accepts %s', (code) =>
    expect(checkSecurityCode(code, range)).toEqual({ ok: true, value: code }),
  );
  it.each([
    ['12345', /6 to 9 digits/],
    ['1234567890', /6 to 9 digits/],
    ['12a456', /only digits/],
    ['111111', /single digit/],
    ['123456', /consecutive/],
    ['987654', /consecutive/],
    ['890123', /consecutive/],
  ])('rejects %s', (code, reason) => {
    const r = checkSecurityCode(code, range);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
  it('follows the organization range', () =>
    expect(checkSecurityCode('2718281', { min: 8, max: 8 })).toEqual({ ok: false, reason: 'The security code must be 8 digits.' }));
  it('normalizes full-width digits', () => expect(checkSecurityCode('２７１８２８', range)).toEqual({ ok: true, value: '271828' }));
});
