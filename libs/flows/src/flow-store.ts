import { Injectable } from '@nestjs/common';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { Clock, DomainError, Duration } from '../../core/src/index.js';

export type FlowKind = 'signin' | 'enrollment' | 'recovery' | 'step_up' | 'verification' | 'staff_signin';

export interface Flow<S> {
  id: string;
  kind: FlowKind;
  state: S;
  version: number;
  expiresAt: Date;
}

/** A flow id plus the secret that binds it to one browser (cookie) or API client. */
export interface FlowHandle {
  id: string;
  token: string;
}

export const FLOW_TTL = Duration.ofMinutes(15);

const sha256 = (value: string) => createHash('sha256').update(value).digest();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u;

/**
 * Flow state in PostgreSQL, so any app node can continue a flow. A flow is bound to the
 * browser or client that started it (only the token's SHA-256 is stored), expires after
 * 15 minutes, and is updated with optimistic concurrency: of two concurrent submits of
 * the same step, one wins and the other gets `flow_changed`.
 */
@Injectable()
export class FlowStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  async create<S>(kind: FlowKind, state: S, ttl: Duration = FLOW_TTL): Promise<{ handle: FlowHandle; flow: Flow<S> }> {
    const token = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    const expiresAt = ttl.after(now);
    const rows = await this.dataSource.query<Array<{ id: string }>>(
      `INSERT INTO auth_flows (kind, binding_hash, state, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5) RETURNING id`,
      [kind, sha256(token), JSON.stringify(state), now, expiresAt],
    );
    const id = rows[0]!.id;
    return { handle: { id, token }, flow: { id, kind, state, version: 1, expiresAt } };
  }

  /** Loads a live flow of this kind for its owner; anything else is `flow_not_found` or `flow_expired`. */
  async load<S>(kind: FlowKind, handle: FlowHandle): Promise<Flow<S>> {
    if (!UUID.test(handle.id) || typeof handle.token !== 'string' || handle.token.length > 100) {
      throw new DomainError('flow_not_found', 'This sign-in step is no longer valid. Please start again.');
    }
    const rows = await this.dataSource.query<
      Array<{ id: string; kind: FlowKind; binding_hash: Buffer; state: S; version: number; expires_at: Date }>
    >(`SELECT id, kind, binding_hash, state, version, expires_at FROM auth_flows WHERE id = $1`, [handle.id]);
    const row = rows[0];
    const expected = sha256(handle.token);
    if (!row || row.kind !== kind || row.binding_hash.length !== expected.length || !timingSafeEqual(row.binding_hash, expected)) {
      throw new DomainError('flow_not_found', 'This sign-in step is no longer valid. Please start again.');
    }
    if (row.expires_at.getTime() <= this.clock.now().getTime()) {
      throw new DomainError('flow_expired', 'This step took too long and has expired. Please start again.');
    }
    return { id: row.id, kind: row.kind, state: row.state, version: row.version, expiresAt: row.expires_at };
  }

  /** Saves the next state if nobody else moved the flow since it was loaded. */
  async save<S>(flow: Flow<S>, next: S, manager: EntityManager = this.dataSource.manager): Promise<Flow<S>> {
    // On PostgreSQL, TypeORM answers UPDATE ... RETURNING with [rows, rowCount].
    const [updated] = await manager.query<[Array<{ version: number }>, number]>(
      `UPDATE auth_flows SET state = $3, version = version + 1, updated_at = $4 WHERE id = $1 AND version = $2 RETURNING version`,
      [flow.id, flow.version, JSON.stringify(next), this.clock.now()],
    );
    if (updated.length === 0)
      throw new DomainError('flow_changed', 'This step was already submitted. Please continue from the current page.');
    return { ...flow, state: next, version: updated[0]!.version };
  }

  async end(flowId: string, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await manager.query(`DELETE FROM auth_flows WHERE id = $1`, [flowId]);
  }

  /** Removes expired flows; returns how many. */
  async purgeExpired(): Promise<number> {
    const result = await this.dataSource.query<[unknown[], number]>(`DELETE FROM auth_flows WHERE expires_at <= $1`, [this.clock.now()]);
    return result[1];
  }
}
