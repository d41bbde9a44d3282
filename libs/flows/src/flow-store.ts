import { Injectable } from '@nestjs/common';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { Clock, DomainError, Duration, isUuid } from '#libs/core';
import type { BatchPart, WriteBatch } from '#libs/database';
import { addEndFlowPart, deleteExpiredFlows, deleteFlow, flowById, insertFlow, saveFlowState } from './flows.queries.js';

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
const NOT_FOUND = 'This sign-in step is no longer valid. Please start again.';

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
    const id = await insertFlow(this.dataSource, { kind, bindingHash: sha256(token), state: JSON.stringify(state), now, expiresAt });
    return { handle: { id, token }, flow: { id, kind, state, version: 1, expiresAt } };
  }

  /** Loads a live flow of this kind for its owner; anything else is `flow_not_found` or `flow_expired`. */
  async load<S>(kind: FlowKind, handle: FlowHandle): Promise<Flow<S>> {
    if (!isUuid(handle.id) || typeof handle.token !== 'string' || handle.token.length > 100) {
      throw new DomainError('flow_not_found', NOT_FOUND);
    }
    const row = await flowById<S>(this.dataSource, handle.id);
    const expected = sha256(handle.token);
    if (!row || row.kind !== kind || row.binding_hash.length !== expected.length || !timingSafeEqual(row.binding_hash, expected)) {
      throw new DomainError('flow_not_found', NOT_FOUND);
    }
    if (row.expires_at.getTime() <= this.clock.now().getTime()) {
      throw new DomainError('flow_expired', 'This step took too long and has expired. Please start again.');
    }
    return { id: row.id, kind: row.kind, state: row.state, version: row.version, expiresAt: row.expires_at };
  }

  /** Saves the next state if nobody else moved the flow since it was loaded. */
  async save<S>(flow: Flow<S>, next: S, manager: EntityManager = this.dataSource.manager): Promise<Flow<S>> {
    const version = await saveFlowState(this.dataSource, manager, [flow.id, flow.version, JSON.stringify(next), this.clock.now()]);
    if (version === null) throw FlowStore.changed();
    return { ...flow, state: next, version };
  }

  async end(flowId: string, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await deleteFlow(manager, flowId);
  }

  /**
   * Ends the flow as part of a batch, only if nobody moved it since it was loaded (its version)
   * and the given parts wrote: of two concurrent finishes of one flow, one ends it and the
   * other's dependent parts (its session) do not run. Check `result.ran(part)` and answer
   * `flow_changed` when it did not.
   */
  endIn(batch: WriteBatch, flow: Flow<unknown>, after: ReadonlyArray<BatchPart | undefined> = []): BatchPart {
    return addEndFlowPart(batch, flow, after);
  }

  /** The error for a flow that another request moved on meanwhile. */
  static changed(): DomainError {
    return new DomainError('flow_changed', 'This step was already submitted. Please continue from the current page.');
  }

  /**
   * Removes flows expired by the injected clock, in batches (each a short lock on few rows; the
   * index on expires_at finds them); returns how many. Expired flows are refused on load already:
   * this reclaims the space. The IdP's periodic purge runs it; safe on several nodes at once.
   */
  async purgeExpired(batch = 5000): Promise<number> {
    const now = this.clock.now();
    let total = 0;
    for (;;) {
      const count = await deleteExpiredFlows(this.dataSource, now, batch);
      total += count;
      if (count < batch) return total;
    }
  }
}
