import { createHash } from 'node:crypto';
import type pg from 'pg';
import { QueryFailedError, type DataSource, type EntityManager } from 'typeorm';

export interface StatementResult<R> {
  rows: R[];
  rowCount: number;
}

/** Distinct statement texts that get a name; beyond this, a text is sent unnamed (never an unbounded set per connection). */
const MAX_NAMED = 256;
const names = new Map<string, string>();

function nameOf(text: string): string | undefined {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMED) {
    name = `gh_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, name);
  }
  return name;
}

function poolOf(dataSource: DataSource): pg.Pool {
  const pool = (dataSource.driver as unknown as { master?: pg.Pool }).master;
  if (!pool) throw new Error('the DataSource is not initialized (no PostgreSQL pool)');
  return pool;
}

/**
 * Runs one statement on the DataSource's pool, outside any transaction, as a named prepared
 * statement: PostgreSQL parses and plans it once per connection instead of on every call,
 * and the call skips TypeORM's query runner (one acquire and release of a pooled client, no
 * broadcaster). For the hot paths of sign-in, whose statements are fixed texts. Texts must
 * name their result columns (no `SELECT *` / `RETURNING *`), so a migration that adds a
 * column cannot change a prepared statement's result type under a running node. Errors are
 * TypeORM's `QueryFailedError`, as from `DataSource.query`.
 */
export async function runStatement<R = Record<string, unknown>>(
  dataSource: DataSource,
  text: string,
  values: unknown[],
): Promise<StatementResult<R>> {
  const name = nameOf(text);
  try {
    const result = await poolOf(dataSource).query<R & pg.QueryResultRow>(name ? { name, text, values } : { text, values });
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  } catch (error) {
    throw new QueryFailedError(text, values, error as Error);
  }
}

/** What a queries module runs its statements on: the DataSource's manager or a transaction's EntityManager. */
export type Queryable = Pick<EntityManager, 'query'>;

const LABEL = /^[a-z_]{1,40}$/u;

/** One part of a WriteBatch, named so that later parts can depend on it. */
export interface BatchPart {
  readonly name: string;
}

/** Which parts of a batch wrote (returned) at least one row. */
export class BatchResult {
  constructor(private readonly row: Record<string, unknown>) {}

  ran(part: BatchPart): boolean {
    return this.row[part.name] === true;
  }
}

/**
 * Several writes in ONE statement: each part is a data-modifying CTE (`INSERT`, `UPDATE` or
 * `DELETE` with a `RETURNING` clause), and the statement answers which parts wrote a row.
 * PostgreSQL runs a statement atomically, so every part commits or none does, with one round
 * trip and, outside a transaction, one commit. A part that must run only after others
 * succeeded puts `WriteBatch.ran(...)` in its `WHERE` (`EXISTS (SELECT 1 FROM <part>)`):
 * "end the flow if it is still at version 3, then insert the session" needs no round trip in
 * between. All parts see the same snapshot; they cannot see each other's rows except through
 * `RETURNING`, and must not write the same row twice.
 *
 * Each lib adds the parts for its own tables (FlowStore.endIn, SessionService.createIn,
 * OtpService.consumeIn, AuditService.appendTo), so table knowledge stays where it was.
 */
export class WriteBatch {
  private readonly parts: Array<{ name: string; sql: string }> = [];
  readonly values: unknown[] = [];

  /** A placeholder for `value`, cast to `type` (parts are INSERT ... SELECT, where PostgreSQL needs the types spelled out). */
  param(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }

  /** Adds a part (`label`: lower-case letters and `_`, for reading the SQL); returns it for `ran`. */
  add(label: string, sql: string): BatchPart {
    if (!LABEL.test(label)) throw new Error(`batch part label "${label}" must be lower-case letters and _`);
    if (!sql.includes('RETURNING')) throw new Error(`batch part ${label} needs a RETURNING clause (the batch reports whether it wrote)`);
    const part = { name: `${label}_${this.parts.length + 1}`, sql };
    this.parts.push(part);
    return { name: part.name };
  }

  /** SQL condition: each of these parts wrote a row (`TRUE` for none). */
  static ran(...parts: Array<BatchPart | undefined>): string {
    const given = parts.filter((p): p is BatchPart => p !== undefined);
    return given.length === 0 ? 'TRUE' : given.map((p) => `EXISTS (SELECT 1 FROM ${p.name})`).join(' AND ');
  }

  get size(): number {
    return this.parts.length;
  }

  get text(): string {
    if (this.parts.length === 0) throw new Error('an empty batch');
    return (
      `WITH ${this.parts.map((p) => `${p.name} AS (${p.sql})`).join(',\n')}\n` +
      `SELECT ${this.parts.map((p) => `EXISTS (SELECT 1 FROM ${p.name}) AS ${p.name}`).join(', ')}`
    );
  }

  /**
   * Runs the batch: on the DataSource, as one prepared statement in its own implicit
   * transaction; with a transaction's EntityManager, as one statement of that transaction.
   */
  async run(target: DataSource | EntityManager): Promise<BatchResult> {
    const text = this.text;
    if ('driver' in target && 'manager' in target) {
      const { rows } = await runStatement(target, text, this.values);
      return new BatchResult(rows[0] ?? {});
    }
    const rows = await target.query<Array<Record<string, unknown>>>(text, this.values);
    return new BatchResult(rows[0] ?? {});
  }
}
