import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { DataSource } from 'typeorm';
import type { Clock } from '#libs/core';
import type { ClientRegistry } from '#libs/oidc-store';
import { ClientAdapter } from './pg-adapter/client-adapter.js';
import { usedAlready } from './pg-adapter/grant-revocation.js';
import { HOLDABLE, HOLDABLE_CONSUME, type HeldWrites } from './pg-adapter/held-writes.js';
import { consumeModel, deleteModel, deleteModelsOfGrant, findModel, modelWithAhead, updateModel, upsertModel } from '#libs/oidc-store';
import { ACCOUNT, READ_AHEAD, tokenReadSql, type AccountReadAhead } from './pg-adapter/read-ahead.js';
import { heldForCurrentRequest } from './pg-adapter/token-writes.js';

/*
 * oidc-provider's adapter protocol on PostgreSQL (PgOidcAdapter), apart from what makes token
 * requests cheap, each in pg-adapter/: the writes a token request holds and sends in one
 * statement (held-writes.ts, token-writes.ts), the read-ahead of a token with its grant, session
 * and account (read-ahead.ts), grant revocation, the read-only client adapter and the purge.
 */

export { ClientAdapter } from './pg-adapter/client-adapter.js';
export { ISSUED_UNDER_GRANT, revokeGrant } from './pg-adapter/grant-revocation.js';
export { HeldWrites } from './pg-adapter/held-writes.js';
export { purgeExpired } from './pg-adapter/purge-expired.js';
export { accountReadAhead, tokenReadSql, type AccountReadAhead } from './pg-adapter/read-ahead.js';
export { holdTokenWrites } from './pg-adapter/token-writes.js';

/**
 * The Gatehouse session a provider session being saved mirrors (its id), or null to keep
 * whatever link the row has. Called for `Session` models only. A signed-in session with no
 * link is updated in place but never inserted (see PgOidcAdapter.upsert).
 */
export type SessionLink = (payload: AdapterPayload) => Promise<string | null>;

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
      await updateModel(this.dataSource, [this.kind, id, JSON.stringify(payload), payload.uid ?? null, expiresAt]);
      return;
    }
    await upsertModel(this.dataSource, [
      this.kind,
      id,
      JSON.stringify(payload),
      payload.grantId ?? null,
      payload.uid ?? null,
      payload.userCode ?? null,
      expiresAt,
      link,
    ]);
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
    const row = await modelWithAhead(this.dataSource, this.readSql, [this.kind, id, this.clock.now()]);
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
    if (await consumeModel(this.dataSource, [this.kind, id, this.clock.now()])) return;
    await usedAlready(this.dataSource, this.kind, id);
  }

  async destroy(id: string): Promise<void> {
    const writes = heldForCurrentRequest();
    await writes?.beforeWrite();
    await deleteModel(this.dataSource, [this.kind, id]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const writes = heldForCurrentRequest();
    await writes?.beforeWrite();
    await deleteModelsOfGrant(this.dataSource, [this.kind, grantId]);
  }

  private async one(where: string, value: string): Promise<AdapterPayload | undefined> {
    const row = await findModel(this.dataSource, where, [this.kind, value, this.clock.now()]);
    if (!row) return undefined;
    return row.consumed_at ? { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : row.payload;
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
