import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Clock } from '../../core/src/index.js';
import { AuditEventEntity } from './audit-event.entity.js';

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

/** Append-only audit log. The database refuses UPDATE, DELETE and TRUNCATE on it. */
@Injectable()
export class AuditService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  /** Records one event; pass the transaction's manager to commit it with the change it describes. */
  async record(event: AuditEventInput, manager: EntityManager = this.dataSource.manager): Promise<void> {
    const details = event.details ?? {};
    assertNoSecrets(details);
    await manager.insert(AuditEventEntity, {
      occurredAt: this.clock.now(),
      eventType: event.type,
      actorType: event.actor.type,
      actorId: event.actor.id ?? null,
      subjectType: event.subject?.type ?? null,
      subjectId: event.subject?.id ?? null,
      organizationId: event.organizationId ?? null,
      ip: event.ip ?? null,
      userAgent: event.userAgent?.slice(0, 512) ?? null,
      requestId: event.requestId ?? null,
      details,
    } as never);
  }
}
