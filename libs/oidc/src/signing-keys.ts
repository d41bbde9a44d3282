import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { DataSource, EntityManager } from 'typeorm';
import type { Clock, Duration } from '../../core/src/index.js';

export const SIGNING_ALG = 'RS256';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Any constant: serializes key creation across nodes starting at once. */
const KEY_LOCK = 727275;

export interface SigningKey {
  kid: string;
  alg: string;
  jwk: JWK;
  createdAt: Date;
  retiredAt: Date | null;
}

interface KeyRow {
  kid: string;
  alg: string;
  encrypted_jwk: Buffer;
  created_at: Date;
  retired_at: Date | null;
}

function aad(kid: string, alg: string): Buffer {
  return Buffer.from(`gatehouse:oidc-signing-key:v1\n${kid}\n${alg}`, 'utf8');
}

/** AES-256-GCM, `iv (12) | tag (16) | ciphertext`, bound to the key's id and algorithm. */
export function encryptJwk(key: Buffer, kid: string, alg: string, jwk: JWK): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(kid, alg));
  const body = Buffer.concat([cipher.update(JSON.stringify(jwk), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

export function decryptJwk(key: Buffer, kid: string, alg: string, sealed: Buffer): JWK {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new Error(`signing key ${kid}: stored value too short`);
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(aad(kid, alg));
  decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return JSON.parse(Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')) as JWK;
}

/**
 * The provider's signing keys, private parts encrypted at rest with a key derived from
 * KEY_ENCRYPTION_KEY (Secrets.signingKeys). The first start generates one; retired keys
 * stay published (verification only) for `publishRetiredFor`, so tokens they signed still
 * verify — the shape `keys:rotate` will use.
 */
export class SigningKeyStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly encryptionKey: Buffer,
  ) {
    if (encryptionKey.length !== 32) throw new RangeError('the signing-key encryption key must be 32 bytes (AES-256)');
  }

  /** Current key first (oidc-provider signs with the first key of an algorithm), then retired keys still published. */
  async load(publishRetiredFor: Duration): Promise<SigningKey[]> {
    return await this.dataSource.transaction(async (manager) => {
      await manager.query(`SELECT pg_advisory_xact_lock($1)`, [KEY_LOCK]);
      let rows = await this.rows(manager, publishRetiredFor);
      if (!rows.some((r) => r.retired_at === null)) {
        await this.generate(manager);
        rows = await this.rows(manager, publishRetiredFor);
      }
      return rows.map((r) => ({
        kid: r.kid,
        alg: r.alg,
        jwk: { ...decryptJwk(this.encryptionKey, r.kid, r.alg, r.encrypted_jwk), kid: r.kid, alg: r.alg, use: 'sig' },
        createdAt: r.created_at,
        retiredAt: r.retired_at,
      }));
    });
  }

  /** A new RS256 key; returns its kid. */
  async generate(manager: EntityManager = this.dataSource.manager): Promise<string> {
    const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true, modulusLength: 2048 });
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(jwk);
    await manager.query(`INSERT INTO oidc_signing_keys (kid, alg, encrypted_jwk, created_at) VALUES ($1, $2, $3, $4)`, [
      kid,
      SIGNING_ALG,
      encryptJwk(this.encryptionKey, kid, SIGNING_ALG, jwk),
      this.clock.now(),
    ]);
    return kid;
  }

  private async rows(manager: EntityManager, publishRetiredFor: Duration): Promise<KeyRow[]> {
    return await manager.query<KeyRow[]>(
      `SELECT * FROM oidc_signing_keys WHERE retired_at IS NULL OR retired_at > $1
        ORDER BY (retired_at IS NULL) DESC, created_at DESC`,
      [publishRetiredFor.before(this.clock.now())],
    );
  }
}
