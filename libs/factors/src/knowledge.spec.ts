import bcrypt from 'bcryptjs';
import { LEGACY_HASH_CHECK, PasswordHasher } from '#libs/identity';
import { legacyPasswordFactor } from './legacy-password/legacy-password.factor.js';
import { passwordFactor } from './password/password.factor.js';
import { securityCodeFactor } from './security-code/security-code.factor.js';

const NOW = new Date('2026-06-01T09:00:00.000Z');

describe('knowledge factors verify a secret against its hash and yield their record', () => {
  const hasher = new PasswordHasher({ memoryKiB: 8_192, timeCost: 1, parallelism: 1 });

  it.each([
    ['the password', passwordFactor, 'correct horse battery staple'],
    ['the security code', securityCodeFactor, '48213957'],
  ] as const)('%s: its record when the secret is right, nothing when it is wrong', async (_name, factor, secret) => {
    const hash = await hasher.hash(secret);
    expect(await factor.verify(secret, hash, hasher, NOW)).toEqual({ ok: true, record: { method: factor.id, at: NOW.toISOString() } });
    expect(await factor.verify(`${secret}9`, hash, hasher, NOW)).toEqual({ ok: false });
  });

  it("a rehash when the hasher's parameters changed", async () => {
    const hash = await hasher.hash('correct horse battery staple');
    const stronger = new PasswordHasher({ memoryKiB: 9_216, timeCost: 1, parallelism: 1 });
    const verdict = await passwordFactor.verify('correct horse battery staple', hash, stronger, NOW);
    expect(verdict.ok && verdict.rehashed).toMatch(/^\$argon2id\$v=19\$m=9216,/u);
  });

  it('a legacy password, through the legacy formats check (never rehashed)', async () => {
    const hash = await bcrypt.hash('Legacy-Pass-1', 4);
    expect(await legacyPasswordFactor.verify('Legacy-Pass-1', hash, LEGACY_HASH_CHECK, NOW)).toEqual({
      ok: true,
      record: { method: 'legacy_password', at: NOW.toISOString() },
    });
    expect(await legacyPasswordFactor.verify('Legacy-Pass-2', hash, LEGACY_HASH_CHECK, NOW)).toEqual({ ok: false });
    expect(await legacyPasswordFactor.verify('Legacy-Pass-1', 'not a hash', LEGACY_HASH_CHECK, NOW)).toEqual({ ok: false });
  });
});
