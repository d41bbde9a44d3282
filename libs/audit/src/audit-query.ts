import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { encodeCursor, searchAuditRows } from './audit-search.queries.js';

export interface AuditSearch {
  /** Events about this subject. */
  subject?: { type: string; id: string };
  /** Events about a subject with this id, whatever its type. Not together with `subject`. */
  subjectId?: string;
  /** Events by this actor; without `id`, by every actor of that type. */
  actor?: { type: string; id?: string | null };
  /** An exact event type (`recovery.locked`), or a prefix ending in a dot (`recovery.`). */
  eventType?: string;
  /** occurred_at >= from */
  from?: Date;
  /** occurred_at < to */
  to?: Date;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
  /** 1 to 100; 50 when not given. */
  limit?: number;
}

export interface AuditEntry {
  id: string;
  /** Position in the hash chain. */
  seq: string;
  occurredAt: Date;
  type: string;
  actor: { type: string; id: string | null };
  subject: { type: string; id: string } | null;
  organizationId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
}

export interface AuditPage {
  /** Newest first. */
  entries: AuditEntry[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export { AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX, auditSearchQuery } from './audit-search.queries.js';

/**
 * Reads the audit log for the support console's viewer: filters on subject, actor, event
 * type and time, newest first, with keyset paging (an opaque cursor, stable while rows are
 * appended). Never returns the chain hashes. Bad filters throw DomainError
 * `invalid_audit_search` with `details.field`.
 */
@Injectable()
export class AuditQuery {
  constructor(private readonly dataSource: DataSource) {}

  async search(search: AuditSearch = {}): Promise<AuditPage> {
    const { rows, limit } = await searchAuditRows(this.dataSource, search);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      entries: page.map((r) => ({
        id: r.id,
        seq: r.seq,
        occurredAt: r.occurred_at,
        type: r.event_type,
        actor: { type: r.actor_type, id: r.actor_id },
        subject: r.subject_type !== null && r.subject_id !== null ? { type: r.subject_type, id: r.subject_id } : null,
        organizationId: r.organization_id,
        ip: r.ip,
        userAgent: r.user_agent,
        requestId: r.request_id,
        details: r.details,
      })),
      nextCursor: rows.length > limit && last ? encodeCursor({ t: last.cursor_time, i: last.id }) : null,
    };
  }
}
