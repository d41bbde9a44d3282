import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Clock } from '#libs/core';
import type { BatchPart, WriteBatch } from '#libs/database';
import { addAuditEventsPart, appendAuditEvent, appendAuditEventIn } from './audit.queries.js';

export type ActorType = 'user' | 'staff' | 'operator' | 'client' | 'system' | 'anonymous';

export interface AuditEventInput {
  /** Dotted lower-case name, e.g. `legacy_import.completed`. */
  type: string;
  actor: { type: ActorType; id?: string | null };
  subject?: { type: string; id: string } | null;
  organizationId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  /** Never a password, hash, OTP, security code or token: keys naming one are refused. */
  details?: Record<string, unknown>;
}

const SECRET_KEY = /pass(word)?|hash|otp|secret|token|security_?code|cookie/iu;

function assertNoSecrets(value: unknown, path = 'details'): void {
  if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      if (SECRET_KEY.test(key)) throw new Error(`Audit ${path}.${key} looks like a secret and is not recorded`);
      assertNoSecrets(inner, `${path}.${key}`);
    }
  }
}

/** An event whose append depends on a part of the same batch (it is written only if that part wrote a row). */
/** Where a request came from, as an audit event records it (absent fields recorded as null). */
export function auditMeta(meta: { ip?: string | null; userAgent?: string | null; requestId?: string | null }): {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
} {
  return { ip: meta.ip ?? null, userAgent: meta.userAgent ?? null, requestId: meta.requestId ?? null };
}

export interface BatchedAuditEvent {
  event: AuditEventInput;
  when?: BatchPart | undefined;
}

/** Append-only audit log. The database refuses UPDATE, DELETE and TRUNCATE on it. */
@Injectable()
export class AuditService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  /** Records one event; pass the transaction's manager to commit it with the change it describes. */
  async record(event: AuditEventInput, manager: EntityManager = this.dataSource.manager): Promise<void> {
    const values = this.row(event);
    // Outside a transaction: a prepared statement straight on the pool (the hot sign-in paths record here).
    if (manager === this.dataSource.manager) await appendAuditEvent(this.dataSource, values);
    else await appendAuditEventIn(manager, values);
  }

  /**
   * Appends events to a batch (one part, added last): they are written in the given order, each
   * only if the part it depends on wrote a row, and commit with the batch's other writes. The
   * hash-chain trigger chains them like any other rows.
   */
  appendTo(batch: WriteBatch, events: ReadonlyArray<BatchedAuditEvent | undefined>): BatchPart | undefined {
    const given = events.filter((e): e is BatchedAuditEvent => e !== undefined);
    if (given.length === 0) return undefined;
    return addAuditEventsPart(
      batch,
      given.map(({ event, when }) => ({ values: this.row(event), when })),
    );
  }

  /** The column values of an event, in AUDIT_COLUMNS order; refuses details that look like secrets. */
  private row(event: AuditEventInput): unknown[] {
    const details = event.details ?? {};
    assertNoSecrets(details);
    return [
      this.clock.now(),
      event.type,
      event.actor.type,
      event.actor.id ?? null,
      event.subject?.type ?? null,
      event.subject?.id ?? null,
      event.organizationId ?? null,
      event.ip ?? null,
      event.userAgent?.slice(0, 512) ?? null,
      event.requestId ?? null,
      JSON.stringify(details),
    ];
  }
}
