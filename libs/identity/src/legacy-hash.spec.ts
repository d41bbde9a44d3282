import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import { pbkdf2Sync } from 'node:crypto';
import { IMPORT_LIMITS, VERIFY_LIMITS, checkLegacyHash, verifyLegacyHash } from './legacy-hash.js';

const PASSWORD = 'Legacy-pass-1';

function django(password: string, salt: string, iterations: number): string {
  return `pbkdf2_sha256$${iterations}$${salt}$${pbkdf2Sync(password, salt, iterations, 32, 'sha256').toString('base64')}`;
}

describe('legacy hash formats', () => {
  let bcrypt2b: string;
  beforeAll(async () => {
    bcrypt2b = await bcrypt.hash(PASSWORD, 4);
  });

  it.each(['$2a$', '$2b$', '$2y$'])('verifies bcrypt %s and refuses a wrong password', async (prefix) => {
    const hash = prefix + bcrypt2b.slice(4);
    expect(checkLegacyHash(hash)).toEqual({ ok: true, value: { hash, format: 'bcrypt' } });
    await expect(verifyLegacyHash(hash, PASSWORD)).resolves.toBe(true);
    await expect(verifyLegacyHash(hash, 'wrong-password')).resolves.toBe(false);
  });

  it.each([argon2.argon2id, argon2.argon2i] as const)('verifies argon2 PHC strings (type %s)', async (type) => {
    const hash = await argon2.hash(PASSWORD, { type, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    expect(checkLegacyHash(hash).ok).toBe(true);
    await expect(verifyLegacyHash(hash, PASSWORD)).resolves.toBe(true);
    await expect(verifyLegacyHash(hash, 'nope')).resolves.toBe(false);
  });

  it('accepts argon2 parameters in the reference order m,t,p too', () => {
    const hash = '$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$' + 'A'.repeat(43);
    expect(checkLegacyHash(hash).ok).toBe(true);
  });

  it('verifies Django pbkdf2_sha256 with a constant-time compare', async () => {
    const hash = django(PASSWORD, 'saltySALT123', 1000);
    expect(checkLegacyHash(hash)).toEqual({ ok: true, value: { hash, format: 'pbkdf2_sha256' } });
    await expect(verifyLegacyHash(hash, PASSWORD)).resolves.toBe(true);
    await expect(verifyLegacyHash(hash, PASSWORD + 'x')).resolves.toBe(false);
  });

  it.each([
    ['truncated bcrypt', () => bcrypt2b.slice(0, 40), /not a complete bcrypt/],
    ['bcrypt cost too high', () => bcrypt2b.replace(/^\$2b\$04/, '$2b$31'), /cost/],
    ['unknown prefix', () => '$md5$abc$def', /unknown format/],
    ['sha1 django', () => 'sha1$abc$def', /unknown format/],
    ['plain text', () => 'hunter2', /unknown format/],
    ['empty', () => '', /empty/],
    ['pbkdf2 with absurd iterations', () => django('x', 's', 1).replace('$1$', '$999999999$'), /iterations/],
    ['pbkdf2 with a short digest', () => 'pbkdf2_sha256$1000$salt$AAAA', /32 bytes/],
    [
      'argon2 with huge memory',
      () => '$argon2id$v=19$m=99999999,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$' + 'A'.repeat(43),
      /out of the accepted range/,
    ],
    ['argon2d', () => '$argon2d$v=19$m=4096,t=1,p=1$c29tZXNhbHQ$' + 'A'.repeat(43), /unknown format|not a complete/],
    ['a NUL byte', () => bcrypt2b.slice(0, 20) + '\u0000' + bcrypt2b.slice(21), /not a complete bcrypt/],
  ])('rejects %s', (_name, make, reason) => {
    const result = checkLegacyHash(make());
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it.each([
    ['bcrypt cost 13', () => bcrypt2b.replace(/^\$2b\$04/, '$2b$13'), /cost must be 4 to 12/],
    ['pbkdf2 past 1,000,000 iterations', () => django('x', 's', 1).replace('$1$', '$1000001$'), /1000000/],
    ['argon2 with 128 MiB', () => '$argon2id$v=19$m=131072,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$' + 'A'.repeat(43), /m ≤ 65536/],
    ['argon2 with 5 passes', () => '$argon2id$v=19$m=4096,t=5,p=1$c29tZXNhbHRzb21lc2FsdA$' + 'A'.repeat(43), /t ≤ 4/],
  ])('refuses at import what would cost more than the failure floor hides: %s', (_name, make, reason) => {
    const result = checkLegacyHash(make(), IMPORT_LIMITS);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
    // An account imported before these limits still signs in.
    expect(checkLegacyHash(make(), VERIFY_LIMITS).ok).toBe(true);
  });

  it('accepts the defaults of the systems people migrate from', () => {
    expect(checkLegacyHash(bcrypt2b.replace(/^\$2b\$04/, '$2b$12')).ok).toBe(true);
    expect(checkLegacyHash(django('x', 's', 1).replace('$1$', '$1000000$')).ok).toBe(true);
    expect(checkLegacyHash('$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$' + 'A'.repeat(43)).ok).toBe(true);
  });

  it('matches a password set in one Unicode form and typed in another', async () => {
    const nfc = 'Caf\u00e9-legacy-1';
    const hash = await bcrypt.hash(nfc, 4);
    await expect(verifyLegacyHash(hash, nfc.normalize('NFD'))).resolves.toBe(true);
    const nfdHash = django(nfc.normalize('NFD'), 'salt', 1000);
    await expect(verifyLegacyHash(nfdHash, nfc.normalize('NFD'))).resolves.toBe(true);
    await expect(verifyLegacyHash(nfdHash, 'Cafe-legacy-1')).resolves.toBe(false);
  });

  it('treats a damaged hash as no match instead of throwing', async () => {
    await expect(verifyLegacyHash('$argon2id$v=19$m=4096,t=1,p=1$!!!$???', PASSWORD)).resolves.toBe(false);
  });
});
