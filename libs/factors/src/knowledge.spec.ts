import bcrypt from 'bcryptjs';
import { LEGACY_HASH_CHECK, PasswordHasher } from '#libs/identity';
import { legacyPasswordFactor } from './legacy-password/legacy-password.factor.js';
import { passwordFactor } from './password/password.factor.js';
import { securityCodeFactor } from './security-code/security-code.factor.js';

const NOW = new Date('2026-06-01T09:00:00.000Z');

describe('knowledge factors verify a secret against its hash and yield their record', () => {
  const hasher = new PasswordHasher({ memoryKiB: 8_192, timeCost: 1, parallelism: 1 });

  it('the password: its record when right, nothing when wrong, and a rehash when the parameters changed', async () => {
    const hash = await hasher.hash('correct horse battery staple');
    expect(await passwordFactor.verify('correct horse battery staple', hash, hasher, NOW)).toEqual({
      ok: true,
      record: { method: 'password', at: NOW.toISOString() },
    });
    expect(await passwordFactor.verify('correct horse battery stapler', hash, hasher, NOW)).toEqual({ ok: false });
    const stronger = new PasswordHasher({ memoryKiB: 9_216, timeCost: 1, parallelism: 1 });
    const verdict = await passwordFactor.verify('correct horse battery staple', hash, stronger, NOW);
    expect(verdict.ok && verdict.rehashed).toMatch(/^\$argon2id\$v=19\$m=9216,/u);
  });

  it('the security code, with the same hasher', async () => {
    const hash = await hasher.hash('48213957');
    expect(await securityCodeFactor.verify('48213957', hash, hasher, NOW)).toEqual({
      ok: true,
      record: { method: 'security_code', at: NOW.toISOString() },
    });
    expect(await securityCodeFactor.verify('48213958', hash, hasher, NOW)).toEqual({ ok: false });
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
