import argon2 from 'argon2';
import { PasswordHasher } from './password-hasher.js';

const FAST = { memoryKiB: 8192, timeCost: 1, parallelism: 1 };

describe('PasswordHasher', () => {
  it('uses argon2id with OWASP parameters by default', async () => {
    const hash = await new PasswordHasher().hash('correct horse battery staple');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,(t=2,p=1|p=1,t=2)\$/);
  });

  it('verifies the right secret and refuses a wrong one', async () => {
    const hasher = new PasswordHasher(FAST);
    const hash = await hasher.hash('s3cret-Passphrase');
    await expect(hasher.verify(hash, 's3cret-Passphrase')).resolves.toEqual({ ok: true });
    await expect(hasher.verify(hash, 's3cret-passphrase')).resolves.toEqual({ ok: false });
  });

  it('rehashes transparently when the configured parameters changed', async () => {
    const old = await new PasswordHasher(FAST).hash('s3cret-Passphrase');
    const stronger = new PasswordHasher({ memoryKiB: 9216, timeCost: 2, parallelism: 1 });
    const result = await stronger.verify(old, 's3cret-Passphrase');
    expect(result.ok).toBe(true);
    expect(result.rehashed).toMatch(/^\$argon2id\$v=19\$m=9216,/);
    await expect(stronger.verify(result.rehashed!, 's3cret-Passphrase')).resolves.toEqual({ ok: true });
    // A wrong secret never yields a new hash.
    await expect(stronger.verify(old, 'nope')).resolves.toEqual({ ok: false });
  });

  it('normalizes to NFKC: a password set composed (NFC) is accepted typed decomposed (NFD), and the other way round', async () => {
    const hasher = new PasswordHasher(FAST);
    const nfc = 'caf\u00e9 cr\u00e8me br\u00fbl\u00e9e';
    const nfd = nfc.normalize('NFD');
    expect(nfd).not.toBe(nfc);
    await expect(hasher.verify(await hasher.hash(nfc), nfd)).resolves.toEqual({ ok: true });
    await expect(hasher.verify(await hasher.hash(nfd), nfc)).resolves.toEqual({ ok: true });
    await expect(hasher.verify(await hasher.hash('ﬁne ｗｉｄｅ'), 'fine wide')).resolves.toEqual({ ok: true });
  });

  it('keeps a hash of the raw form made before normalization working, and rehashes it normalized', async () => {
    const hasher = new PasswordHasher(FAST);
    const nfd = 'cre\u0300me bru\u0302le\u0301e';
    const old = await argon2.hash(nfd, { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 });
    const result = await hasher.verify(old, nfd);
    expect(result.ok).toBe(true);
    expect(result.rehashed).toMatch(/^\$argon2id\$/);
    // The new hash takes the password in any form.
    await expect(hasher.verify(result.rehashed!, nfd.normalize('NFC'))).resolves.toEqual({ ok: true });
    await expect(hasher.verify(old, 'creme brulee')).resolves.toEqual({ ok: false });
  });

  it('treats a malformed stored hash as a mismatch', async () => {
    await expect(new PasswordHasher(FAST).verify('not-a-hash', 'x')).resolves.toEqual({ ok: false });
  });

  it('spends a real verification on unknown accounts and always says no', async () => {
    await expect(new PasswordHasher(FAST).verifyDummy('anything')).resolves.toBe(false);
  });
});
