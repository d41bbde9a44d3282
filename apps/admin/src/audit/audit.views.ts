import type { AuditEntry, AuditPage } from '#libs/audit';
import { alertBox, dataTable, field, html, type SafeHtml } from '#libs/web';
import { when } from '../views/layout.js';
import { filterQuery, type AuditFilterInput } from './audit-filters.js';

const PERSON_KINDS = new Set(['user', 'legacy_account']);

function party(p: { type: string; id: string | null } | null): SafeHtml {
  if (!p) return html`<span class="hint">—</span>`;
  if (p.id && PERSON_KINDS.has(p.type)) return html`${p.type} <a href="/people/${p.type}/${p.id}">${p.id}</a>`;
  return html`${p.type}${p.id ? html` <span class="hint">${p.id}</span>` : ''}`;
}

function details(entry: AuditEntry): string {
  const text = JSON.stringify(entry.details);
  return text === '{}' ? '' : text.length > 600 ? `${text.slice(0, 599)}…` : text;
}

export function auditBody(o: {
  filters: AuditFilterInput;
  page: AuditPage | null;
  error?: string | undefined;
  fieldErrors?: Record<string, string>;
}): SafeHtml {
  const f = o.filters;
  const form = html`${alertBox(o.error)}
    <form method="get" action="/audit" aria-label="Filter the audit log">
      ${field('Subject', 'subject', { value: f.subject, hint: 'user:<id>, staff:<id>, legacy_account:<id>, or just an id.', errors: o.fieldErrors })}
      ${field('Actor', 'actor', { value: f.actor, hint: 'staff:<id>, operator:<name>, or a type alone: staff, user, system, anonymous.', errors: o.fieldErrors })}
      ${field('Event type', 'type', { value: f.type, hint: 'e.g. staff.disabled, or a prefix ending in a dot: staff.', errors: o.fieldErrors })}
      ${field('From (UTC)', 'from', { type: 'datetime-local', value: f.from, errors: o.fieldErrors })}
      ${field('To (UTC)', 'to', { type: 'datetime-local', value: f.to, errors: o.fieldErrors })}
      <button type="submit">Filter</button>
    </form>`;
  if (!o.page) return form;
  if (o.page.entries.length === 0)
    return html`${form}
      <p role="status">No audit entries match.</p>`;
  return html`${form}
    ${dataTable(['Time', 'Event', 'Actor', 'Subject', 'From', 'Details'], o.page.entries, (e) => [
      when(e.occurredAt),
      e.type,
      party(e.actor),
      party(e.subject),
      e.ip ?? '',
      html`<code>${details(e)}</code>`,
    ])}
    <nav class="pager" aria-label="Pages">
      ${f.cursor ? html`<a href="/audit?${filterQuery(f)}">Newest entries</a>` : ''}
      ${o.page.nextCursor ? html`<a href="/audit?${filterQuery(f, o.page.nextCursor)}" rel="next">Older entries</a>` : ''}
    </nav>`;
}
