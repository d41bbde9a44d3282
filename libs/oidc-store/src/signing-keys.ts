import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { DataSource, EntityManager } from 'typeorm';
import { Duration, type Clock } from '#libs/core';
import { deletePendingKeys, insertKey, lockSigningKeys, publishedKeys, retireKey, type KeyRow } from './signing-keys.queries.js';

export const SIGNING_ALG = 'RS256';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * How long a retired key stays published: an ID token (1 h) it signed can still be presented
 * as an `id_token_hint` for as long as the relying app's refresh tokens live (14 days). The
 * provider's TTL.IdToken + TTL.RefreshToken (kept equal by a test; this module does not load oidc-provider).
 */
export const SIGNING_KEY_RETENTION = Duration.ofSeconds(60 * 60 + 14 * 24 * 60 * 60);

/** By default a rotated key signs from a minute after `keys:rotate`, once every node has refreshed its key set and publishes it. */
export const KEY_ACTIVATION_DELAY = Duration.ofSeconds(60);

/** `current` signs; `pending` is published but signs only from its activation; `retired` is published for verification only. */
export type KeyStatus = 'current' | 'pending' | 'retired';

export interface SigningKey {
  kid: string;
  alg: string;
  jwk: JWK;
  status: KeyStatus;
  createdAt: Date;
  activatesAt: Date;
  retiredAt: Date | null;
}

/** What `keys:rotate` did. */
export interface Rotation {
  kid: string;
  /** When the new key starts signing (it is published at once). */
  activatesAt: Date;
  /** The key it replaces, published (for verification) until `publishedUntil`; null on a first key. */
  previous: { kid: string; publishedUntil: Date } | null;
  /** Keys of an earlier rotation that had not started signing yet, withdrawn by this one. */
  withdrawn: string[];
}

function statusOf(row: Pick<KeyRow, 'activates_at' | 'retired_at'>, now: Date): KeyStatus {
  if (row.activates_at > now) return 'pending';
  return row.retired_at === null || row.retired_at > now ? 'current' : 'retired';
}

const STATUS_ORDER: Record<KeyStatus, number> = { current: 0, pending: 1, retired: 2 };

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
 * KEY_ENCRYPTION_KEY (Secrets.signingKeys). The first start generates one. `rotate`
 * publishes a new key at once and makes it sign from `activatesAt` (so every node serves it
 * in JWKS before a token carries its kid); the key it replaces is retired then and stays
 * published for `publishRetiredFor`, so tokens it signed still verify.
 */
export class SigningKeyStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly encryptionKey: Buffer,
  ) {
    if (encryptionKey.length !== 32) throw new RangeError('the signing-key encryption key must be 32 bytes (AES-256)');
  }

  /** The published keys and their status now, without decrypting anything: the current one first, then pending, then retired. */
  async state(publishRetiredFor: Duration): Promise<Array<{ kid: string; status: KeyStatus }>> {
    const now = this.clock.now();
    return (await this.rows(this.dataSource.manager, publishRetiredFor, false)).map((r) => ({ kid: r.kid, status: statusOf(r, now) }));
  }

  /** Current key first (oidc-provider signs with the first key of an algorithm), then pending and retired keys still published. Creates a key when none signs. */
  async load(publishRetiredFor: Duration): Promise<SigningKey[]> {
    return await this.dataSource.transaction(async (manager) => {
      await lockSigningKeys(manager);
      let rows = await this.rows(manager, publishRetiredFor, true);
      if (!rows.some((r) => statusOf(r, this.clock.now()) === 'current')) {
        await this.generate(manager, this.clock.now());
        rows = await this.rows(manager, publishRetiredFor, true);
      }
      const now = this.clock.now();
      return rows.map((r) => ({
        kid: r.kid,
        alg: r.alg,
        jwk: { ...decryptJwk(this.encryptionKey, r.kid, r.alg, r.encrypted_jwk), kid: r.kid, alg: r.alg, use: 'sig' },
        status: statusOf(r, now),
        createdAt: r.created_at,
        activatesAt: r.activates_at,
        retiredAt: r.retired_at,
      }));
    });
  }

  /**
   * A new key, published now and signing from `activateIn` later; the current key retires
   * then. A key of an earlier rotation that has not started signing is withdrawn (it never
   * signed anything). With no current key, the new one signs at once.
   */
  async rotate(
    activateIn: Duration,
    publishRetiredFor: Duration,
    /** Runs in the rotation's transaction (the audit entry commits with the change). */
    record?: (rotation: Rotation, manager: EntityManager) => Promise<void>,
  ): Promise<Rotation> {
    return await this.dataSource.transaction(async (manager) => {
      await lockSigningKeys(manager);
      const now = this.clock.now();
      const withdrawn = await deletePendingKeys(manager, now);
      const current = (await this.rows(manager, publishRetiredFor, false)).find((r) => statusOf(r, now) === 'current');
      const activatesAt = current ? activateIn.after(now) : now;
      const kid = await this.generate(manager, activatesAt);
      if (current) {
        await retireKey(manager, current.kid, activatesAt);
      }
      const rotation: Rotation = {
        kid,
        activatesAt,
        previous: current ? { kid: current.kid, publishedUntil: publishRetiredFor.after(activatesAt) } : null,
        withdrawn,
      };
      await record?.(rotation, manager);
      return rotation;
    });
  }

  /** A new RS256 key signing from `activatesAt` (now by default); returns its kid. */
  async generate(manager: EntityManager = this.dataSource.manager, activatesAt: Date = this.clock.now()): Promise<string> {
    const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true, modulusLength: 2048 });
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(jwk);
    await insertKey(manager, [kid, SIGNING_ALG, encryptJwk(this.encryptionKey, kid, SIGNING_ALG, jwk), this.clock.now(), activatesAt]);
    return kid;
  }

  private async rows(manager: EntityManager, publishRetiredFor: Duration, withKeys: boolean): Promise<KeyRow[]> {
    const now = this.clock.now();
    const rows = await publishedKeys(manager, publishRetiredFor.before(now), withKeys);
    // Stable: within a status, the newest first.
    return rows.sort((a, b) => STATUS_ORDER[statusOf(a, now)] - STATUS_ORDER[statusOf(b, now)]);
  }
}
