import type { AdapterPayload } from 'oidc-provider';
import type { DataSource } from 'typeorm';
import { usedAlready } from './grant-revocation.js';
import { writeHeldModels } from '#libs/oidc-store';

/** Models whose use (consume) a token request holds until its answer is ready, with the tokens (see HeldWrites). */
export const HOLDABLE_CONSUME: ReadonlySet<string> = new Set(['AuthorizationCode', 'RefreshToken']);

/** Models whose saves a token request may hold until its answer is ready (see HeldWrites). */
export const HOLDABLE: ReadonlySet<string> = new Set(['AccessToken', 'RefreshToken']);

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
    if (await writeHeldModels(this.dataSource, values, consumption)) return;
    await usedAlready(this.dataSource, consumption!.kind, consumption!.id);
  }
}
