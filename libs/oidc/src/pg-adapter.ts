import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/src/index.js';
import { runStatement } from '../../database/src/index.js';
import type { ClientRegistry } from './clients.js';

/**
 * The Gatehouse session a provider session being saved mirrors (its id), or null to keep
 * whatever link the row has. Called for `Session` models only.
 */
export type SessionLink = (payload: AdapterPayload) => Promise<string | null>;

interface ModelRow {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

/**
 * oidc-provider's storage for every model but Client: one PostgreSQL table keyed by
 * (kind, id) with an expiry, so any node can continue a flow another node started.
 *
 * Expiry is honoured on read with the injected Clock (oidc-provider itself keeps its own
 * epoch time for `exp`/`iat`; both are the system clock in production). `consume` is
 * atomic: of two concurrent redemptions of one code or refresh token only one wins, and
 * the loser is treated as reuse (the whole grant is revoked), as oidc-provider does when
 * it sees an already consumed token.
 */
export class PgOidcAdapter implements Adapter {
  constructor(
    private readonly kind: string,
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly sessionLink?: SessionLink,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const expiresAt = typeof expiresIn === 'number' ? new Date(this.clock.now().getTime() + expiresIn * 1000) : null;
    const link = this.kind === 'Session' && this.sessionLink ? await this.sessionLink(payload) : null;
    await runStatement(
      this.dataSource,
      `INSERT INTO oidc_models (kind, id, payload, grant_id, uid, user_code, expires_at, gatehouse_session_id)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8)
       ON CONFLICT (kind, id) DO UPDATE
         SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, uid = EXCLUDED.uid,
             user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at,
             gatehouse_session_id = COALESCE(EXCLUDED.gatehouse_session_id, oidc_models.gatehouse_session_id)`,
      [this.kind, id, JSON.stringify(payload), payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, expiresAt, link],
    );
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.one(`kind = $1 AND id = $2`, id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.one(`kind = $1 AND uid = $2`, uid);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.one(`kind = $1 AND user_code = $2`, userCode);
  }

  async consume(id: string): Promise<void> {
    const { rowCount } = await runStatement(
      this.dataSource,
      `UPDATE oidc_models SET consumed_at = $3 WHERE kind = $1 AND id = $2 AND consumed_at IS NULL RETURNING id`,
      [this.kind, id, this.clock.now()],
    );
    if (rowCount === 1) return;
    const lost = await this.dataSource.query<Array<{ grant_id: string | null }>>(
      `SELECT grant_id FROM oidc_models WHERE kind = $1 AND id = $2`,
      [this.kind, id],
    );
    const grantId = lost[0]?.grant_id;
    if (grantId) await revokeGrant(this.dataSource, grantId);
    throw new errors.InvalidGrant(`${this.kind === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
  }

  async destroy(id: string): Promise<void> {
    await runStatement(this.dataSource, `DELETE FROM oidc_models WHERE kind = $1 AND id = $2`, [this.kind, id]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM oidc_models WHERE kind = $1 AND grant_id = $2`, [this.kind, grantId]);
  }

  private async one(where: string, value: string): Promise<AdapterPayload | undefined> {
    const { rows } = await runStatement<ModelRow>(
      this.dataSource,
      `SELECT payload, consumed_at FROM oidc_models WHERE ${where} AND (expires_at IS NULL OR expires_at > $3) LIMIT 1`,
      [this.kind, value, this.clock.now()],
    );
    const row = rows[0];
    if (!row) return undefined;
    return row.consumed_at ? { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : row.payload;
  }
}

/** Every artifact issued under a grant, and the grant itself. */
export async function revokeGrant(dataSource: DataSource, grantId: string): Promise<void> {
  await dataSource.query(`DELETE FROM oidc_models WHERE grant_id = $1 OR (kind = 'Grant' AND id = $1)`, [grantId]);
}

/** Clients are not stored by the provider: they come from `oidc_clients` (see ClientRegistry), read-only. */
export class ClientAdapter implements Adapter {
  constructor(private readonly registry: ClientRegistry) {}

  async find(id: string): Promise<AdapterPayload | undefined> {
    return (await this.registry.metadata(id)) as AdapterPayload | undefined;
  }

  async findByUid(): Promise<undefined> {
    return undefined;
  }

  async findByUserCode(): Promise<undefined> {
    return undefined;
  }

  upsert(): Promise<void> {
    return Promise.reject(new Error('clients are registered with the client:create command'));
  }

  consume(): Promise<void> {
    return Promise.reject(new Error('clients cannot be consumed'));
  }

  destroy(): Promise<void> {
    return Promise.reject(new Error('clients are not removed by the provider'));
  }

  revokeByGrantId(): Promise<void> {
    return Promise.resolve();
  }
}

/** The adapter factory for the provider's `adapter` setting. */
export function adapterFactory(
  dataSource: DataSource,
  clock: Clock,
  registry: ClientRegistry,
  sessionLink?: SessionLink,
): (name: string) => Adapter {
  return (name) => (name === 'Client' ? new ClientAdapter(registry) : new PgOidcAdapter(name, dataSource, clock, sessionLink));
}

/**
 * Deletes expired rows in batches, each a short lock. Expired artifacts are refused on read
 * already; this only reclaims the space. Safe on several nodes at once. Returns how many rows went.
 */
export async function purgeExpired(dataSource: DataSource, now: Date, batch = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const [, count] = await dataSource.query<[unknown[], number]>(
      `DELETE FROM oidc_models WHERE ctid IN (SELECT ctid FROM oidc_models WHERE expires_at <= $1 LIMIT $2)`,
      [now, batch],
    );
    total += count;
    if (count < batch) return total;
  }
}
