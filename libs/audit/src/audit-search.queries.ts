import type { DataSource, EntityManager } from 'typeorm';
import { DomainError } from '#libs/core';
import type { AuditSearch } from './audit-query.js';

/** The audit viewer's search: filters to one keyset-paged statement (the audit aggregate's read side). */

export const AUDIT_PAGE_MAX = 100;
export const AUDIT_PAGE_DEFAULT = 50;

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/u;
const EVENT_TYPE = /^[a-z_]+(?:\.[a-z_]+)*\.?$/u;
const MAX_TEXT = 200;

function invalid(field: string, message: string): DomainError {
  return new DomainError('invalid_audit_search', message, { field });
}

function text(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT) {
    throw invalid(field, `${field} must be a non-empty text of at most ${MAX_TEXT} characters.`);
  }
  return value;
}

function date(field: string, value: unknown): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(field, `${field} must be a valid date.`);
  return value;
}

interface CursorKey {
  /** occurred_at, UTC, microseconds */
  t: string;
  /** id */
  i: string;
}

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): CursorKey {
  const bad = () => invalid('cursor', 'The cursor is not valid; start again from the first page.');
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/u.test(cursor)) throw bad();
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const { t, i } = (key ?? {}) as Partial<CursorKey>;
  if (typeof t !== 'string' || !TIMESTAMP.test(t) || Number.isNaN(Date.parse(t)) || typeof i !== 'string' || !/^[1-9]\d{0,18}$/u.test(i)) {
    throw bad();
  }
  return { t, i };
}

/** The SQL for one page (limit + 1 rows, to know whether another page follows). Exported for query-plan tests. */
export function auditSearchQuery(search: AuditSearch): { sql: string; params: unknown[]; limit: number } {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };

  const limit = search.limit ?? AUDIT_PAGE_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_PAGE_MAX) {
    throw invalid('limit', `limit must be a whole number from 1 to ${AUDIT_PAGE_MAX}.`);
  }
  if (search.subject && search.subjectId !== undefined) throw invalid('subject', 'Give either subject or subjectId, not both.');
  if (search.subject) {
    where.push(`subject_id = ${param(text('subject.id', search.subject.id))}`);
    where.push(`subject_type = ${param(text('subject.type', search.subject.type))}`);
  } else if (search.subjectId !== undefined) {
    where.push(`subject_id = ${param(text('subjectId', search.subjectId))}`);
  }
  if (search.actor) {
    if (search.actor.id !== undefined && search.actor.id !== null) where.push(`actor_id = ${param(text('actor.id', search.actor.id))}`);
    where.push(`actor_type = ${param(text('actor.type', search.actor.type))}`);
  }
  if (search.eventType !== undefined) {
    const type = text('eventType', search.eventType);
    if (!EVENT_TYPE.test(type)) {
      throw invalid(
        'eventType',
        'eventType must be an event type such as "recovery.locked", or a prefix ending in a dot such as "recovery.".',
      );
    }
    if (type.endsWith('.')) {
      // Byte-order range: every type that starts with the prefix ('/' follows '.').
      where.push(`event_type COLLATE "C" >= ${param(type)}`);
      where.push(`event_type COLLATE "C" < ${param(`${type.slice(0, -1)}/`)}`);
    } else {
      where.push(`event_type COLLATE "C" = ${param(type)}`);
    }
  }
  const from = search.from === undefined ? undefined : date('from', search.from);
  const to = search.to === undefined ? undefined : date('to', search.to);
  if (from && to && from.getTime() > to.getTime()) throw invalid('from', 'from must not be later than to.');
  if (from) where.push(`occurred_at >= ${param(from.toISOString())}`);
  if (to) where.push(`occurred_at < ${param(to.toISOString())}`);
  if (search.cursor !== undefined && search.cursor !== null) {
    const key = decodeCursor(text('cursor', search.cursor));
    where.push(`(e.occurred_at, e.id) < (${param(key.t)}::timestamptz, ${param(key.i)}::bigint)`);
  }

  const sql = `
    SELECT id::text AS id, seq::text AS seq, occurred_at,
           to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_time,
           event_type, actor_type, actor_id, subject_type, subject_id, organization_id,
           host(ip) AS ip, user_agent, request_id, details
    FROM audit_events e
    ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY e.occurred_at DESC, e.id DESC
    LIMIT ${param(limit + 1)}`;
  return { sql, params, limit };
}

export interface AuditSearchRow {
  id: string;
  seq: string;
  occurred_at: Date;
  cursor_time: string;
  event_type: string;
  actor_type: string;
  actor_id: string | null;
  subject_type: string | null;
  subject_id: string | null;
  organization_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
}

/** One page of the search, newest first: `limit + 1` rows at most (the extra one says another page follows). */
export async function searchAuditRows(
  db: DataSource | EntityManager,
  search: AuditSearch,
): Promise<{ rows: AuditSearchRow[]; limit: number }> {
  const { sql, params, limit } = auditSearchQuery(search);
  return { rows: await db.query<AuditSearchRow[]>(sql, params), limit };
}
