import argon2 from 'argon2';

export interface Argon2Parameters {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
}

/** OWASP's argon2id minimum: m=19 MiB, t=2, p=1. */
export const OWASP_ARGON2: Argon2Parameters = { memoryKiB: 19_456, timeCost: 2, parallelism: 1 };

export interface VerifyResult {
  ok: boolean;
  /** Set when the password matched but the hash used other parameters: store this one instead. */
  rehashed?: string;
}

/**
 * argon2id for passwords and security codes. Verification transparently produces a
 * new hash when the configured parameters changed since the stored one was made.
 */
export class PasswordHasher {
  private dummy: Promise<string> | undefined;

  constructor(private readonly params: Argon2Parameters = OWASP_ARGON2) {}

  private get options() {
    return {
      type: argon2.argon2id,
      memoryCost: this.params.memoryKiB,
      timeCost: this.params.timeCost,
      parallelism: this.params.parallelism,
    } as const;
  }

  /** Hashes the secret in its NFKC form: the same password typed on any keyboard or system gives the same bytes. */
  async hash(secret: string): Promise<string> {
    return await argon2.hash(secret.normalize('NFKC'), this.options);
  }

  /**
   * Checks the secret's NFKC form. A hash made before secrets were normalized holds the
   * form typed then: when the normalized form fails and the typed one differs, the typed
   * one is tried once, and a match is rehashed in the normalized form (`rehashed`), so the
   * same password typed in another form works from then on.
   */
  async verify(hash: string, secret: string): Promise<VerifyResult> {
    const normalized = secret.normalize('NFKC');
    const matches = async (candidate: string) => {
      try {
        return await argon2.verify(hash, candidate);
      } catch {
        return false;
      }
    };
    if (await matches(normalized)) {
      if (argon2.needsRehash(hash, this.options)) return { ok: true, rehashed: await this.hash(normalized) };
      return { ok: true };
    }
    if (normalized !== secret && (await matches(secret))) return { ok: true, rehashed: await this.hash(normalized) };
    return { ok: false };
  }

  /**
   * Spends the same time as a real verification, for unknown accounts, so timing does
   * not tell whether an account exists. Always false.
   */
  async verifyDummy(secret: string): Promise<false> {
    this.dummy ??= this.hash('gatehouse-dummy-password-for-timing');
    await argon2.verify(await this.dummy, secret).catch(() => false);
    return false;
  }
}
