import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/src/index.js';
import { runStatement } from '../../database/src/index.js';
import type { ClientRegistry } from './clients.js';

/**
 * The Gatehouse session a provider session being saved mirrors (its id), or null to keep
 * whatever link the row has. Called for `Session` models only. A signed-in session with no
 * link is updated in place but never inserted (see PgOidcAdapter.upsert).
 */
export type SessionLink = (payload: AdapterPayload) => Promise<string | null>;

/**
 * SQL of one jsonb value: the account whose id is the text expression given, read together
 * with a token (see PgOidcAdapter.findWithGrantAndSession and `accountReadAhead`).
 */
export type AccountReadAhead = (accountIdText: string) => string;

interface ModelRow {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

/** Models found together with their grant and session in a token request (see PgOidcAdapter.findWithGrantAndSession). */
const READ_AHEAD: ReadonlySet<string> = new Set(['AuthorizationCode', 'RefreshToken', 'AccessToken']);

/** Models whose use (consume) a token request holds until its answer is ready, with the tokens (see HeldWrites). */
const HOLDABLE_CONSUME: ReadonlySet<string> = new Set(['AuthorizationCode', 'RefreshToken']);

/** Models whose saves a token request may hold until its answer is ready (see HeldWrites). */
const HOLDABLE: ReadonlySet<string> = new Set(['AccessToken', 'RefreshToken']);

interface HeldRow {
  kind: string;
  id: string;
  payload: AdapterPayload;
  expiresAt: Date | null;
}

/**
 * The access and refresh tokens a token request saves, written together in ONE statement
 * (`holdTokenWrites`), instead of one statement (and one commit) each as oidc-provider saves
 * them. The statement is sent as soon as the provider has saved them (once its current run
 * of work, which holds the use and the tokens, yields: typically to sign the ID token), so
 * the write and the signing overlap. Nothing is answered before they are stored: the answer
 * carrying the tokens is only sent after the write succeeded (`flush`), so another node can
 * use them at once, and a failed write turns the answer into a `server_error` without
 * tokens. Within the request, a held token reads as saved; any other write of the request
 * (consuming a code or a refresh token, revoking a grant) first writes what is held, so the
 * order of writes is kept. Writes follow each other; after a use that lost, nothing more of
 * the request is written.
 */
export class HeldWrites {
  private readonly rows = new Map<string, HeldRow>();
  private consumption: { kind: string; id: string; at: Date } | undefined;
  /** Rows read ahead in this request (PgOidcAdapter.find), by `rowKey`: the payload, null when there was none. */
  private readonly readAhead = new Map<string, AdapterPayload | null>();
  /** Tokens of this request handed to a write (under way or done): they read as saved without asking the table. */
  private readonly handedOver = new Map<string, AdapterPayload>();
  /** The writes of this request, one after the other; never rejects (see `failure`). */
  private writing: Promise<void> = Promise.resolve();
  /** Why a write failed: every later write is skipped and `flush` throws it. */
  private failure: { error: unknown } | undefined;
  private scheduled = false;
  /** Whether this request has held the use of a code or refresh token (at most one). */
  private usedOne = false;

  constructor(private readonly dataSource: DataSource) {}

  /** Keys rows by kind and id, or by kind and uid (`{ uid }`). */
  static rowKey(kind: string, id: string | { uid: string }): string {
    return typeof id === 'string' ? `${kind}\u0000${id}` : `${kind}\u0000uid:${id.uid}`;
  }

  hold(row: HeldRow): void {
    this.rows.set(HeldWrites.rowKey(row.kind, row.id), row);
    this.schedule();
  }

  /**
   * What this request knows of a row: a token it holds or handed to a write, or what was read
   * ahead (null: read ahead and not there); undefined when it knows nothing and the table
   * must be asked.
   */
  known(kind: string, id: string | { uid: string }): AdapterPayload | null | undefined {
    const key = HeldWrites.rowKey(kind, id);
    return this.rows.get(key)?.payload ?? this.handedOver.get(key) ?? this.readAhead.get(key);
  }

  keepAhead(kind: string, id: string | { uid: string }, payload: AdapterPayload | null): void {
    this.readAhead.set(HeldWrites.rowKey(kind, id), payload);
  }

  /**
   * Before another write of this request (not a held one): what is held is written first, and
   * rows read ahead or saved are read again when asked for, since that write may change them.
   */
  async beforeWrite(): Promise<void> {
    this.readAhead.clear();
    this.handedOver.clear();
    await this.flush();
  }

  /** Holds the use of a code or refresh token (see PgOidcAdapter.consume): it is written with the tokens, or not at all. */
  holdConsume(kind: string, id: string, at: Date): void {
    if (this.usedOne) throw new Error('one request uses up at most one code or refresh token');
    this.usedOne = true;
    this.consumption = { kind, id, at };
    this.schedule();
  }

  /**
   * Writes what is held once the provider's current run of work yields (setImmediate): the
   * use and the tokens it saves one after the other without waiting on anything go in one
   * statement, which then runs while the provider signs the ID token.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.startWrite();
    });
  }

  /** Queues the write of what is held now after the writes under way; resolves when it is done, never rejects. */
  private startWrite(): Promise<void> {
    const consumption = this.consumption;
    if (this.rows.size === 0 && !consumption) return this.writing;
    const rows = [...this.rows.values()];
    this.rows.clear();
    this.consumption = undefined;
    for (const row of rows) this.handedOver.set(HeldWrites.rowKey(row.kind, row.id), row.payload);
    this.writing = this.writing.then(async () => {
      if (this.failure) return;
      try {
        await this.write(rows, consumption);
      } catch (error) {
        this.failure = { error };
      }
    });
    return this.writing;
  }

  /**
   * Writes what is held, after the writes under way, and waits for all of them. With a held
   * use of a code or refresh token, the tokens are written only if that use wins (the code
   * was not used meanwhile, by a concurrent redemption on any node); when it loses, nothing
   * is written, the whole grant is revoked, and `InvalidGrant` is thrown, as `consume` does.
   * Throws what a write of this request failed with.
   */
  async flush(): Promise<void> {
    await this.startWrite();
    if (this.failure) throw this.failure.error;
  }

  private async write(rows: HeldRow[], consumption: { kind: string; id: string; at: Date } | undefined): Promise<void> {
    const values = [
      rows.map((r) => r.kind),
      rows.map((r) => r.id),
      rows.map((r) => JSON.stringify(r.payload)),
      rows.map((r) => r.payload.grantId ?? null),
      rows.map((r) => r.payload.uid ?? null),
      rows.map((r) => r.payload.userCode ?? null),
      rows.map((r) => r.expiresAt),
    ];
    const insert = `INSERT INTO oidc_models (kind, id, payload, grant_id, uid, user_code, expires_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])`;
    const upsert = `ON CONFLICT (kind, id) DO UPDATE
         SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, uid = EXCLUDED.uid,
             user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at`;
    if (!consumption) {
      await runStatement(this.dataSource, `${insert} ${upsert}`, values);
      return;
    }
    const { rows: result } = await runStatement<{ used: boolean }>(
      this.dataSource,
      `WITH used AS (
         UPDATE oidc_models SET consumed_at = $8 WHERE kind = $9 AND id = $10 AND consumed_at IS NULL RETURNING id
       ), saved AS (
         ${insert} AS t WHERE EXISTS (SELECT 1 FROM used) ${upsert} RETURNING 1
       )
       SELECT EXISTS (SELECT 1 FROM used) AS used, (SELECT count(*) FROM saved) AS saved`,
      [...values, consumption.at, consumption.kind, consumption.id],
    );
    if (result[0]?.used === true) return;
    await usedAlready(this.dataSource, consumption.kind, consumption.id);
  }
}

/** A code or refresh token presented after it was used: reuse, so the whole grant goes (RFC 6749 4.1.2, RFC 9700 4.14.2). Throws InvalidGrant. */
async function usedAlready(dataSource: DataSource, kind: string, id: string): Promise<never> {
  const lost = await dataSource.query<Array<{ grant_id: string | null }>>(`SELECT grant_id FROM oidc_models WHERE kind = $1 AND id = $2`, [
    kind,
    id,
  ]);
  const grantId = lost[0]?.grant_id;
  if (grantId) await revokeGrant(dataSource, grantId);
  throw new errors.InvalidGrant(`${kind === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
}

const held = new WeakMap<object, HeldWrites>();

/** The key of accounts read ahead (not a model of the provider's). */
const ACCOUNT = 'Account';

/**
 * The account read together with the token of this token, userinfo or introspection request
 * (see AccountReadAhead): its jsonb value, null when there is no such account, undefined when
 * it was not read ahead (or a write of the request since made it stale) and must be read.
 */
export function accountReadAhead(accountId: string): AdapterPayload | null | undefined {
  return heldForCurrentRequest()?.known(ACCOUNT, accountId);
}

/** The writes held for the provider request being served, if it holds any. */
function heldForCurrentRequest(): HeldWrites | undefined {
  const ctx = Provider.ctx as object | undefined;
  return ctx ? held.get(ctx) : undefined;
}

/**
 * Provider middleware for the token endpoint: the tokens it issues are written in one
 * statement before the answer goes out (HeldWrites). `isTokenRequest` picks the requests.
 */
export function holdTokenWrites(
  dataSource: DataSource,
  isTokenRequest: (ctx: { method: string; path: string }) => boolean,
): (ctx: HoldingContext, next: () => Promise<unknown>) => Promise<void> {
  return async (ctx, next) => {
    if (!isTokenRequest(ctx)) {
      await next();
      return;
    }
    const writes = new HeldWrites(dataSource);
    held.set(ctx, writes);
    try {
      await next();
    } finally {
      held.delete(ctx);
    }
    try {
      await writes.flush();
    } catch (error) {
      if (error instanceof errors.InvalidGrant) {
        // The code or refresh token was used meanwhile: the provider's own answer to reuse, and its event.
        ctx.status = error.status;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: error.error, error_description: error.error_description };
        ctx.app.emit('grant.error', ctx, error);
        return;
      }
      // Nothing unsaved is ever handed out: the answer becomes the provider's own server_error, and the
      // failure goes where the provider reports its own (its `server_error` event).
      ctx.status = 500;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'server_error', error_description: 'oops! something went wrong' };
      ctx.app.emit('server_error', ctx, error);
    }
  };
}

interface HoldingContext {
  method: string;
  path: string;
  status: number;
  body: unknown;
  set(name: string, value: string): void;
  app: { emit(event: string, ...args: unknown[]): boolean };
}

/**
 * The statement of PgOidcAdapter.findWithGrantAndSession: the model `$1` with id `$2`, its
 * grant, the session it is bound to and (with `accountAhead`) its account, each unexpired at
 * `$3`, in one row.
 */
export function tokenReadSql(accountAhead?: AccountReadAhead): string {
  const account = accountAhead ? `(${accountAhead(`m.payload->>'accountId'`)})` : 'NULL::jsonb';
  return `SELECT m.payload, m.consumed_at, g.payload AS grant_payload, s.payload AS session_payload, ${account} AS account
         FROM oidc_models m
         LEFT JOIN oidc_models g ON g.kind = 'Grant' AND g.id = m.payload->>'grantId' AND (g.expires_at IS NULL OR g.expires_at > $3)
         LEFT JOIN LATERAL (
           SELECT payload FROM oidc_models
            WHERE kind = 'Session' AND uid = m.payload->>'sessionUid' AND (expires_at IS NULL OR expires_at > $3) LIMIT 1
         ) s ON TRUE
        WHERE m.kind = $1 AND m.id = $2 AND (m.expires_at IS NULL OR m.expires_at > $3)`;
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
  /** The statement of findWithGrantAndSession (tokenReadSql), built once. */
  private readonly readSql: string;

  constructor(
    private readonly kind: string,
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly sessionLink?: SessionLink,
    private readonly accountAhead?: AccountReadAhead,
  ) {
    this.readSql = tokenReadSql(accountAhead);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const expiresAt = typeof expiresIn === 'number' ? new Date(this.clock.now().getTime() + expiresIn * 1000) : null;
    const writes = heldForCurrentRequest();
    if (writes && HOLDABLE.has(this.kind)) {
      writes.hold({ kind: this.kind, id, payload, expiresAt });
      return;
    }
    await writes?.beforeWrite();
    const link = this.kind === 'Session' && this.sessionLink ? await this.sessionLink(payload) : null;
    if (this.kind === 'Session' && this.sessionLink && typeof payload.accountId === 'string' && link === null) {
      // A signed-in provider session that mirrors no live Gatehouse session of its person (that person signed
      // out, or another signed in on the browser) is only ever updated, never inserted: when its row is gone,
      // a logout claimed it (or it expired) while a request held it, and saving must not bring it back.
      await runStatement(
        this.dataSource,
        `UPDATE oidc_models SET payload = $3::jsonb, uid = $4, expires_at = $5 WHERE kind = $1 AND id = $2`,
        [this.kind, id, JSON.stringify(payload), payload.uid ?? null, expiresAt],
      );
      return;
    }
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
    const request = heldForCurrentRequest();
    if (request) {
      const known = request.known(this.kind, id);
      if (known !== undefined) return known ?? undefined;
      if (READ_AHEAD.has(this.kind)) return await this.findWithGrantAndSession(id, request);
    }
    return this.one(`kind = $1 AND id = $2`, id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const known = heldForCurrentRequest()?.known(this.kind, { uid });
    if (known !== undefined) return known ?? undefined;
    return this.one(`kind = $1 AND uid = $2`, uid);
  }

  /**
   * A code or token found together with its grant, the session it is bound to and its account,
   * in one statement: oidc-provider reads those next, one statement each (the session binding
   * check, the grant, then `findAccount`). They are kept for the rest of the request
   * (HeldWrites) as read at that moment, which is what reading them a moment later would see
   * but for a change landing in between.
   */
  private async findWithGrantAndSession(id: string, request: HeldWrites): Promise<AdapterPayload | undefined> {
    const { rows } = await runStatement<
      ModelRow & { grant_payload: AdapterPayload | null; session_payload: AdapterPayload | null; account: AdapterPayload | null }
    >(this.dataSource, this.readSql, [this.kind, id, this.clock.now()]);
    const row = rows[0];
    if (!row) return undefined;
    const { grantId, sessionUid, accountId } = row.payload;
    if (typeof grantId === 'string') request.keepAhead('Grant', grantId, row.grant_payload);
    if (typeof sessionUid === 'string') request.keepAhead('Session', { uid: sessionUid }, row.session_payload);
    if (this.accountAhead && typeof accountId === 'string') request.keepAhead(ACCOUNT, accountId, row.account);
    return row.consumed_at ? { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : row.payload;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.one(`kind = $1 AND user_code = $2`, userCode);
  }

  /**
   * Uses up a code or refresh token, atomically. In a token request (HeldWrites) the use is
   * held and written in the same statement as the tokens it yields, just before the answer:
   * if it loses to a concurrent use, no token of this request is written and the answer is
   * `invalid_grant`. Elsewhere it is written at once.
   */
  async consume(id: string): Promise<void> {
    const writes = heldForCurrentRequest();
    if (writes && HOLDABLE_CONSUME.has(this.kind)) {
      writes.holdConsume(this.kind, id, this.clock.now());
      return;
    }
    await writes?.flush();
    const { rowCount } = await runStatement(
      this.dataSource,
      `UPDATE oidc_models SET consumed_at = $3 WHERE kind = $1 AND id = $2 AND consumed_at IS NULL RETURNING id`,
      [this.kind, id, this.clock.now()],
    );
    if (rowCount === 1) return;
    await usedAlready(this.dataSource, this.kind, id);
  }

  async destroy(id: string): Promise<void> {
    const writes = heldForCurrentRequest();
    await writes?.beforeWrite();
    await runStatement(this.dataSource, `DELETE FROM oidc_models WHERE kind = $1 AND id = $2`, [this.kind, id]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const writes = heldForCurrentRequest();
    await writes?.beforeWrite();
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

/**
 * SQL condition on `kind` for the models issued under a grant (codes, access and refresh
 * tokens), which die with it. An authorization in progress that started from a grant (its
 * Interaction carries the grant id) is not one of them: it is left to finish and ends with a
 * grant of its own, so a logout or revocation does not fail a sign-in on its way.
 */
export const ISSUED_UNDER_GRANT = `kind NOT IN ('Grant', 'Interaction')`;

/** Every artifact issued under a grant, and the grant itself. */
export async function revokeGrant(dataSource: DataSource, grantId: string): Promise<void> {
  await dataSource.query(`DELETE FROM oidc_models WHERE (grant_id = $1 AND ${ISSUED_UNDER_GRANT}) OR (kind = 'Grant' AND id = $1)`, [
    grantId,
  ]);
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
  accountAhead?: AccountReadAhead,
): (name: string) => Adapter {
  return (name) =>
    name === 'Client' ? new ClientAdapter(registry) : new PgOidcAdapter(name, dataSource, clock, sessionLink, accountAhead);
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
