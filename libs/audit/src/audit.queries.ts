import type { DataSource, EntityManager } from 'typeorm';
import { WriteBatch, runStatement, type BatchPart } from '#libs/database';
import type { ChainAnchor, ChainRow } from './chain.js';

/** The statements on the audit log (the audit aggregate): appending events, and reading the hash chain to verify it. */

export const AUDIT_COLUMNS = `occurred_at, event_type, actor_type, actor_id, subject_type, subject_id, organization_id, ip, user_agent, request_id, details`;
const INSERT = `INSERT INTO audit_events (${AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`;
/** Column types, in AUDIT_COLUMNS order, for the INSERT ... SELECT of a batch. */
const TYPES = ['timestamptz', 'text', 'text', 'text', 'text', 'text', 'uuid', 'inet', 'text', 'text', 'jsonb'];

/** Appends one event outside a transaction: a prepared statement straight on the pool (the hot sign-in paths record here). */
export async function appendAuditEvent(dataSource: DataSource, values: unknown[]): Promise<void> {
  await runStatement(dataSource, INSERT, values);
}

/** Appends one event in the transaction of `manager`. */
export async function appendAuditEventIn(manager: EntityManager, values: unknown[]): Promise<void> {
  await manager.query(INSERT, values);
}

/**
 * Adds one part to the batch appending these events (their column values in AUDIT_COLUMNS
 * order), in the given order, each only if the part it depends on wrote a row.
 */
export function addAuditEventsPart(
  batch: WriteBatch,
  events: ReadonlyArray<{ values: unknown[]; when?: BatchPart | undefined }>,
): BatchPart {
  const selects = events.map(({ values, when }, i) => {
    const params = values.map((v, c) => batch.param(v, TYPES[c]!));
    return `SELECT ${i + 1} AS ord, ${params.join(', ')} WHERE ${WriteBatch.ran(when)}`;
  });
  return batch.add(
    'audit',
    `INSERT INTO audit_events (${AUDIT_COLUMNS})
       SELECT ${AUDIT_COLUMNS} FROM (${selects.join(' UNION ALL ')}) AS e(ord, ${AUDIT_COLUMNS}) ORDER BY ord RETURNING 1`,
  );
}

const ROW_COLUMNS = `
  id::text AS "id", seq::text AS "seq",
  to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "occurredAt",
  event_type AS "eventType", actor_type AS "actorType", actor_id AS "actorId",
  subject_type AS "subjectType", subject_id AS "subjectId", organization_id::text AS "organizationId",
  ip::text AS "ip", user_agent AS "userAgent", request_id AS "requestId", details::text AS "details",
  prev_hash AS "prevHash", hash AS "hash"`;

/** Reads of the chain inside one snapshot. */
export interface ChainReader {
  /** `audit_chain_head`: the seq and hash of the last row, as the trigger wrote them. */
  head(): Promise<ChainAnchor | undefined>;
  /** Up to `limit` rows after `afterSeq`, in seq order. */
  page(afterSeq: bigint, limit: number): Promise<ChainRow[]>;
}

/** Runs `read` inside one read-only REPEATABLE READ snapshot (rows appended meanwhile neither break nor join it). */
export async function inChainSnapshot<T>(dataSource: DataSource, read: (chain: ChainReader) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return await read({
        head: async () => ((await runner.query(`SELECT seq::text AS seq, hash FROM audit_chain_head`, [])) as ChainAnchor[])[0],
        page: async (afterSeq, limit) =>
          (await runner.query(`SELECT ${ROW_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY audit_events.seq LIMIT $2`, [
            afterSeq.toString(),
            limit,
          ])) as ChainRow[],
      });
    } finally {
      await runner.query('ROLLBACK');
    }
  } finally {
    await runner.release();
  }
}
