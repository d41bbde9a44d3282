import type { StaffPrincipal, StaffRecord } from '#libs/staff';
import { alertBox, csrfField, dataTable, field, html, selectField, type SafeHtml } from '#libs/web';
import { when } from '../views/layout.js';

const STATUS: Record<StaffRecord['status'], string> = { pending: 'Setup pending', active: 'Active', disabled: 'Disabled' };

export function staffBody(o: {
  me: StaffPrincipal;
  staff: readonly StaffRecord[];
  csrf: string;
  error?: string | undefined;
  fieldErrors?: Record<string, string> | undefined;
  values?: { email?: string; name?: string; role?: string };
}): SafeHtml {
  const action = (s: StaffRecord, path: string, label: string) =>
    html`<form class="inline" method="post" action="/staff/${s.id}/${path}">
      ${csrfField(o.csrf)}<button type="submit" class="secondary" aria-label="${label} ${s.email}">${label}</button>
    </form>`;
  const rows = dataTable(['Name', 'Email', 'Role', 'Status', 'Actions'], o.staff, (s) => [
    s.name,
    s.email,
    s.role,
    html`${STATUS[s.status]}${s.status === 'pending' && s.setupExpiresAt ? html` <span class="hint">(code valid until ${when(s.setupExpiresAt)})</span>` : ''}`,
    s.id === o.me.id
      ? html`<span class="hint">you</span>`
      : html`${s.status === 'disabled' ? action(s, 'enable', 'Enable') : action(s, 'disable', 'Disable')}
        ${s.status === 'pending' ? action(s, 'setup-code', 'Send a new setup code') : ''}`,
  ]);
  return html`${rows}
    <h2>Create a staff member</h2>
    ${alertBox(o.error)}
    <form method="post" action="/staff">
      ${csrfField(o.csrf)} ${field('Email', 'email', { type: 'email', value: o.values?.email, errors: o.fieldErrors })}
      ${field('Name', 'name', { value: o.values?.name, errors: o.fieldErrors })}
      ${selectField(
        'Role',
        'role',
        [
          { value: 'support', label: 'Support' },
          { value: 'supervisor', label: 'Supervisor' },
        ],
        { selected: o.values?.role ?? 'support', errors: o.fieldErrors },
      )}
      <p class="hint">The new staff member gets an email with a one-time setup code.</p>
      <button type="submit">Create staff member</button>
    </form>`;
}
