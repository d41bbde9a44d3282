import type { DataSource, EntityManager } from 'typeorm';
import { WriteBatch, runStatement, type BatchPart } from '#libs/database';
import type { FlowKind } from './flow-store.js';

/**
 * The statements on auth_flows (the flows aggregate). The hot ones run as prepared statements
 * on the pool (`runStatement`): their texts are fixed, and their names are hashes of the text.
 */

const CREATE = `INSERT INTO auth_flows (kind, binding_hash, state, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5) RETURNING id`;
const LOAD = `SELECT id, kind, binding_hash, state, version, expires_at FROM auth_flows WHERE id = $1`;
const SAVE = `UPDATE auth_flows SET state = $3, version = version + 1, updated_at = $4 WHERE id = $1 AND version = $2 RETURNING version`;

export interface FlowRow<S> {
  id: string;
  kind: FlowKind;
  binding_hash: Buffer;
  state: S;
  version: number;
  expires_at: Date;
}

/** Inserts a flow; answers its id. */
export async function insertFlow(
  dataSource: DataSource,
  flow: { kind: FlowKind; bindingHash: Buffer; state: string; now: Date; expiresAt: Date },
): Promise<string> {
  const { rows } = await runStatement<{ id: string }>(dataSource, CREATE, [
    flow.kind,
    flow.bindingHash,
    flow.state,
    flow.now,
    flow.expiresAt,
  ]);
  return rows[0]!.id;
}

export async function flowById<S>(dataSource: DataSource, id: string): Promise<FlowRow<S> | undefined> {
  const { rows } = await runStatement<FlowRow<S>>(dataSource, LOAD, [id]);
  return rows[0];
}

/**
 * Saves the next state if the flow is still at `version`; answers the new version, or null when
 * another request moved it. On the DataSource as a prepared statement; with a transaction's
 * manager, in that transaction.
 */
export async function saveFlowState(
  dataSource: DataSource,
  manager: EntityManager,
  values: [id: string, version: number, state: string, now: Date],
): Promise<number | null> {
  // On PostgreSQL, TypeORM answers UPDATE ... RETURNING with [rows, rowCount].
  const [updated] =
    manager === dataSource.manager
      ? [(await runStatement<{ version: number }>(dataSource, SAVE, values)).rows]
      : await manager.query<[Array<{ version: number }>, number]>(SAVE, values);
  return updated[0]?.version ?? null;
}

export async function deleteFlow(manager: EntityManager, id: string): Promise<void> {
  await manager.query(`DELETE FROM auth_flows WHERE id = $1`, [id]);
}

/** The batch part deleting the flow if it is still at `version` and the `after` parts wrote. */
export function addEndFlowPart(
  batch: WriteBatch,
  flow: { id: string; version: number },
  after: ReadonlyArray<BatchPart | undefined>,
): BatchPart {
  return batch.add(
    'flow_end',
    `DELETE FROM auth_flows WHERE id = ${batch.param(flow.id, 'uuid')} AND version = ${batch.param(flow.version, 'int')}
         AND ${WriteBatch.ran(...after)} RETURNING id`,
  );
}

/** Deletes up to `limit` flows expired at `now`; answers how many. */
export async function deleteExpiredFlows(dataSource: DataSource, now: Date, limit: number): Promise<number> {
  const [, count] = await dataSource.query<[unknown[], number]>(
    `DELETE FROM auth_flows WHERE id IN (SELECT id FROM auth_flows WHERE expires_at <= $1 LIMIT $2)`,
    [now, limit],
  );
  return count;
}
