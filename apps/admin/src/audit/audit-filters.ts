import type { AuditSearch } from '#libs/audit';
import { DomainError } from '#libs/core';

/** The viewer's filters as typed in its form (and as query parameters of the page and the API). */
export interface AuditFilterInput {
  /** `user:<id>`, `staff:<id>`, `legacy_account:<id>`…, or a bare id of any subject type. */
  subject?: string;
  /** `staff:<id>`, `operator:<name>`, or a type alone (`staff`, `system`, `anonymous`…). */
  actor?: string;
  /** An event type (`staff.disabled`) or a prefix ending in a dot (`staff.`). */
  type?: string;
  /** UTC, `YYYY-MM-DDTHH:MM` (a datetime-local field) or any ISO 8601 instant. */
  from?: string;
  to?: string;
  cursor?: string;
}

const FIELDS = ['subject', 'actor', 'type', 'from', 'to', 'cursor'] as const;

/** Only the known, non-empty, string-valued parameters. */
export function readFilters(query: Record<string, unknown>): AuditFilterInput {
  const out: AuditFilterInput = {};
  for (const key of FIELDS) {
    const value = query[key];
    if (typeof value === 'string' && value.trim() !== '') out[key] = value.trim().slice(0, 300);
  }
  return out;
}

function instant(field: 'from' | 'to', value: string): Date {
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$/u.test(value) ? `${value}Z` : value;
  const date = /^\d{4}-\d{2}-\d{2}(T.*)?$/u.test(iso) ? new Date(iso.length === 10 ? `${iso}T00:00:00Z` : iso) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new DomainError(
      'invalid_audit_search',
      `${field === 'from' ? 'From' : 'To'} must be a date and time (UTC), e.g. 2026-06-01T09:00.`,
      {
        field,
      },
    );
  }
  return date;
}

/** The AuditQuery search for these filters; bad input is DomainError `invalid_audit_search` naming the field. */
export function toAuditSearch(f: AuditFilterInput, limit?: number): AuditSearch {
  const search: AuditSearch = {};
  if (f.subject) {
    const colon = f.subject.indexOf(':');
    if (colon > 0) search.subject = { type: f.subject.slice(0, colon), id: f.subject.slice(colon + 1) };
    else search.subjectId = f.subject;
  }
  if (f.actor) {
    const colon = f.actor.indexOf(':');
    search.actor = colon > 0 ? { type: f.actor.slice(0, colon), id: f.actor.slice(colon + 1) } : { type: f.actor };
  }
  if (f.type) search.eventType = f.type;
  if (f.from) search.from = instant('from', f.from);
  if (f.to) search.to = instant('to', f.to);
  if (f.cursor) search.cursor = f.cursor;
  if (limit !== undefined) search.limit = limit;
  return search;
}

/** The query string of the same filters (for the next page's link). */
export function filterQuery(f: AuditFilterInput, cursor?: string | null): string {
  const params = new URLSearchParams();
  for (const key of FIELDS) {
    if (key === 'cursor') continue;
    const value = f[key];
    if (value) params.set(key, value);
  }
  if (cursor) params.set('cursor', cursor);
  return params.toString();
}
