import type { PersonDetails } from '#libs/people';
import {
  PROFILE_FIELDS,
  REASON_MAX,
  isEmpty,
  type CorrectionRequest,
  type PendingChange,
  type PendingChangeListing,
  type ProfileDiff,
  type ProfileField,
} from '#libs/support';
import { alertBox, csrfField, dataTable, field, html, type SafeHtml } from '#libs/web';
import { section } from './people/person.views.js';
import { when } from './views/layout.js';

/** Pages and person-page sections of the support actions (libs/support). No hash, code or token ever reaches them. */

export type Kind = 'user' | 'legacy_account';
export type Values = Record<ProfileField, string>;

export const FIELD_LABEL: Record<ProfileField, string> = {
  first_name: 'First name',
  last_name: 'Last name',
  email: 'Email',
  mobile: 'Mobile number',
};

const REASON_HINT = `Free text or a ticket reference, at most ${REASON_MAX} characters. Kept in the audit log; never sent to the person.`;

export const personLink = (kind: Kind, id: string): string => `/people/${kind}/${id}`;

/** The `Reason` field every support action needs. `suffix` keeps ids unique when a page has several forms. */
export function reasonField(errors?: Record<string, string>, suffix = ''): SafeHtml {
  const id = `f-reason${suffix}`;
  const error = errors?.reason;
  const described = [`reason${suffix}-hint`, error ? `reason${suffix}-error` : ''].filter(Boolean).join(' ');
  return html`<label for="${id}">Reason</label>
    <input
      id="${id}"
      name="reason"
      type="text"
      maxlength="${String(REASON_MAX)}"
      required
      aria-describedby="${described}"
      ${error ? html` aria-invalid="true"` : ''}
    />
    <p class="hint" id="reason${suffix}-hint">${REASON_HINT}</p>
    ${error ? html`<p class="field-error" id="reason${suffix}-error">${error}</p>` : ''}`;
}

const show = (value: string | null | undefined): SafeHtml | string =>
  value === null || value === undefined || value === '' ? html`<span class="hint">(none)</span>` : value;

/** Before and after, field by field. */
export function diffTable(diff: ProfileDiff | PendingChange['changes'], caption: string): SafeHtml {
  const rows = PROFILE_FIELDS.filter((f) => (diff as ProfileDiff)[f]);
  if (rows.length === 0) return html`<p class="hint">${caption}: nothing changed.</p>`;
  return dataTable(
    ['Field', 'Before', 'After'],
    rows,
    (f) => {
      const change = (diff as ProfileDiff)[f]!;
      return [FIELD_LABEL[f], html`<del>${show(change.before)}</del>`, html`<ins>${show(change.after)}</ins>`];
    },
    { className: 'diff', caption, scope: true, rowHeader: true },
  );
}

/** First name, Last name, Email, Mobile number, Reason and `Save` (or another button), with field errors. */
export function profileForm(o: {
  action: string;
  csrf: string;
  values: Values;
  errors?: Record<string, string> | undefined;
  button: string;
  /** An enrolled user's email and mobile wait for a supervisor. */
  fourEyes: boolean;
  /** A second button, `Preview changes`, that shows the diff before saving. */
  preview?: boolean;
}): SafeHtml {
  const e = o.errors;
  return html`<form method="post" action="${o.action}" novalidate>
    ${csrfField(o.csrf)} ${field('First name', 'first_name', { value: o.values.first_name, errors: e, autocomplete: 'off' })}
    ${field('Last name', 'last_name', { value: o.values.last_name, errors: e, autocomplete: 'off' })}
    ${field('Email', 'email', { type: 'email', value: o.values.email, errors: e, autocomplete: 'off' })}
    ${field('Mobile number', 'mobile', {
      type: 'tel',
      value: o.values.mobile,
      errors: e,
      autocomplete: 'off',
      hint: 'International E.164 format, e.g. +393331234567. Leave empty to remove it.',
    })}
    ${
      o.fourEyes
        ? html`<p class="hint" id="four-eyes-hint">
            A new email or mobile number takes effect only when another staff member with the supervisor role approves it. It is then
            unverified until the person confirms it with a one-time code.
          </p>`
        : ''
    }
    ${reasonField(e)}
    <button type="submit">${o.button}</button>
    ${o.preview ? html`<button type="submit" name="action" value="preview" class="secondary">Preview changes</button>` : ''}
  </form>`;
}

/** What `Save` would change (Preview changes): at once, and after a supervisor's approval. */
export interface EditPreview {
  now: ProfileDiff;
  fourEyes: ProfileDiff;
}

export function editBody(o: {
  kind: Kind;
  id: string;
  csrf: string;
  values: Values;
  error?: string | undefined;
  errors?: Record<string, string> | undefined;
  pending: PendingChange | null;
  preview?: EditPreview | undefined;
}): SafeHtml {
  return html`<p><a href="${personLink(o.kind, o.id)}">← Back to the person</a></p>
    ${alertBox(o.error)} ${o.pending ? pendingNote(o.pending) : ''} ${o.preview ? previewNote(o.preview) : ''}
    ${profileForm({
      action: `${personLink(o.kind, o.id)}/edit`,
      csrf: o.csrf,
      values: o.values,
      errors: o.errors,
      button: 'Save',
      fourEyes: o.kind === 'user',
      preview: true,
    })}`;
}

function previewNote(p: EditPreview): SafeHtml {
  const nothing = isEmpty(p.now) && isEmpty(p.fourEyes);
  return html`<section class="notice" role="status" aria-labelledby="preview-h">
    <h2 id="preview-h">Preview: nothing is saved yet</h2>
    ${
      nothing
        ? html`<p>These values are the current ones: Save would change nothing.</p>`
        : html`${isEmpty(p.now) ? '' : diffTable(p.now, 'Save changes this at once')}
            ${isEmpty(p.fourEyes) ? '' : diffTable(p.fourEyes, "Save asks a supervisor's approval for this")}
            <p>Check the changes, give a reason and choose Save below.</p>`
    }
  </section>`;
}

function pendingNote(change: PendingChange): SafeHtml {
  return html`<div class="notice" role="status">
    <p>A contact change is waiting for a supervisor's approval (asked ${when(change.requestedAt)}).</p>
    ${diffTable(change.changes, 'Waiting for approval')}
  </div>`;
}

/** After saving: what changed now, and what waits for a supervisor. */
export function savedBody(o: { kind: Kind; id: string; applied: ProfileDiff; pending: PendingChange | null; heading: string }): SafeHtml {
  return html`<p role="status" class="notice">${o.heading}</p>
    ${diffTable(o.applied, 'Changed now')}
    ${
      o.pending
        ? html`<p>The email or mobile change waits for a supervisor's approval.</p>
            ${diffTable(o.pending.changes, 'Waiting for approval')}`
        : ''
    }
    <p><a href="${personLink(o.kind, o.id)}">Back to the person</a></p>`;
}

/** A one-button form that needs a reason (unlock, revoke, end sessions, disable, enable, reject, cancel). */
export function reasonForm(o: {
  action: string;
  csrf: string;
  button: string;
  suffix: string;
  hidden?: Record<string, string>;
  errors?: Record<string, string> | undefined;
  secondary?: boolean;
}): SafeHtml {
  return html`<form method="post" action="${o.action}">
    ${csrfField(o.csrf)}
    ${Object.entries(o.hidden ?? {}).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`)}
    ${reasonField(o.errors, o.suffix)}
    <button type="submit" ${o.secondary ? html` class="secondary"` : ''}>${o.button}</button>
  </form>`;
}

/** A standalone page with one action's form again (after a refused submission). */
export function actionBody(o: { kind: Kind; id: string; error: string; form: SafeHtml }): SafeHtml {
  return html`<p><a href="${personLink(o.kind, o.id)}">← Back to the person</a></p>
    ${alertBox(o.error)} ${o.form}`;
}

/** Person page: correct the data (and the pending change, if any). */
export function editSection(p: PersonDetails, csrf: string, pending: PendingChange | null, mine: boolean, supervisor: boolean): SafeHtml {
  const kind = p.kind;
  return section(
    'support-edit',
    kind === 'user' ? 'Correct profile' : 'Correct prefilled data',
    html`<p><a href="${personLink(kind, p.id)}/edit">Edit ${kind === 'user' ? 'profile' : 'prefilled data'}</a></p>
      ${p.correctionRequests
        .filter((r) => r.status === 'open')
        .map((r) => html`<p><a href="/correction-requests/${r.id}">Handle the correction request of ${when(r.createdAt)}</a></p>`)}
      ${
        pending
          ? html`${pendingNote(pending)} ${supervisor && !mine ? html`<p><a href="/approvals">Decide on the approvals page</a></p>` : ''}
            ${
              mine
                ? reasonForm({
                    action: `/approvals/${pending.id}/cancel`,
                    csrf,
                    button: 'Cancel this change',
                    suffix: '-cancel',
                    secondary: true,
                  })
                : ''
            }`
          : ''
      }`,
  );
}

/** Person page: revoke remembered devices, one or all. */
export function devicesSection(p: PersonDetails, csrf: string): SafeHtml {
  const active = p.devices.filter((d) => d.state === 'active' || d.state === 'outdated');
  return section(
    'support-devices',
    'Revoke remembered devices',
    active.length === 0
      ? html`<p class="hint">No remembered device to revoke.</p>`
      : html`<form method="post" action="/people/user/${p.id}/devices/revoke">
          ${csrfField(csrf)}
          <fieldset>
            <legend>Device</legend>
            <input type="radio" id="device-all" name="device" value="all" checked /><label class="inline" for="device-all"
              >All remembered devices (${String(active.length)})</label
            >
            ${active.map(
              (d) =>
                html`<br /><input type="radio" id="device-${d.id}" name="device" value="${d.id}" /><label
                    class="inline"
                    for="device-${d.id}"
                    >${d.name}, last used ${when(d.lastUsedAt)}</label
                  >`,
            )}
          </fieldset>
          ${reasonField(undefined, '-devices')}
          <button type="submit">Revoke</button>
        </form>`,
  );
}

export function sessionsSection(p: PersonDetails, csrf: string): SafeHtml {
  return section(
    'support-sessions',
    'End sessions',
    p.sessions.length === 0
      ? html`<p class="hint">No active session to end.</p>`
      : reasonForm({ action: `/people/user/${p.id}/sessions/end`, csrf, button: 'End all sessions', suffix: '-sessions' }),
  );
}

export function recoverySection(p: PersonDetails, csrf: string): SafeHtml {
  return section(
    'support-recovery',
    'Unlock recovery',
    p.recoveryLocked || p.recoveryFailedAttempts > 0
      ? reasonForm({ action: `/people/user/${p.id}/recovery/unlock`, csrf, button: 'Unlock recovery', suffix: '-unlock' })
      : html`<p class="hint">Recovery is not locked.</p>`,
  );
}

export function statusSection(p: PersonDetails, csrf: string): SafeHtml {
  return section(
    'support-status',
    p.status === 'disabled' ? 'Enable user' : 'Disable user',
    p.status === 'disabled'
      ? reasonForm({ action: `/people/user/${p.id}/enable`, csrf, button: 'Enable user', suffix: '-enable' })
      : html`<p class="hint">A disabled user cannot sign in or recover; their sessions end and remembered devices are revoked.</p>
          ${reasonForm({ action: `/people/user/${p.id}/disable`, csrf, button: 'Disable user', suffix: '-disable' })}`,
  );
}

/** Supervisors: the changes waiting for a decision. */
export function approvalsBody(o: {
  items: PendingChangeListing[];
  total: number;
  me: string;
  csrf: string;
  error?: string | undefined;
  errorFor?: string | undefined;
  errors?: Record<string, string> | undefined;
}): SafeHtml {
  if (o.items.length === 0)
    return html`${alertBox(o.error)}
      <p role="status">No change is waiting for approval.</p>`;
  return html`${alertBox(o.error)}
    <p role="status">${String(o.total)} ${o.total === 1 ? 'change is' : 'changes are'} waiting for approval.</p>
    ${o.items.map((c) => {
      const mine = c.requestedBy === o.me;
      const errors = o.errorFor === c.id ? o.errors : undefined;
      return html`<section class="person" id="change-${c.id}" aria-labelledby="change-${c.id}-h">
        <h2 id="change-${c.id}-h">
          <a href="${personLink('user', c.userId)}">${c.user.enterpriseId} · ${c.user.firstName} ${c.user.lastName}</a>
        </h2>
        <p>Asked ${when(c.requestedAt)}${mine ? ' by you' : ''}. Reason: ${c.reason}</p>
        ${diffTable(c.changes, 'Requested change')}
        ${
          mine
            ? html`<p class="hint">You asked for this change: another supervisor must approve it.</p>`
            : html`<form method="post" action="/approvals/${c.id}/approve">
                ${csrfField(o.csrf)}
                <button type="submit">Approve</button>
              </form>`
        }
        ${reasonForm({ action: `/approvals/${c.id}/reject`, csrf: o.csrf, button: 'Reject', suffix: `-${c.id}`, errors, secondary: true })}
      </section>`;
    })}`;
}

const REQUEST_STATUS_LABEL: Record<CorrectionRequest['status'], string> = { open: 'Open', resolved: 'Resolved', rejected: 'Rejected' };

export function requestsBody(o: {
  status: CorrectionRequest['status'];
  items: CorrectionRequest[];
  total: number;
  page: number;
  pageSize: number;
}): SafeHtml {
  const link = (status: string, page = 1) => `/correction-requests?status=${status}${page > 1 ? `&page=${page}` : ''}`;
  return html`<nav class="pager" aria-label="Status">
      ${(['open', 'resolved', 'rejected'] as const).map((s) =>
        s === o.status ? html`<strong>${REQUEST_STATUS_LABEL[s]}</strong>` : html`<a href="${link(s)}">${REQUEST_STATUS_LABEL[s]}</a>`,
      )}
    </nav>
    ${
      o.items.length === 0
        ? html`<p role="status">No ${o.status} correction requests.</p>`
        : html`<p role="status">${String(o.total)} ${o.status} correction ${o.total === 1 ? 'request' : 'requests'}.</p>
            ${dataTable(['Raised', 'Person', 'What the person wrote', 'Status'], o.items, (r) => [
              html`<a href="/correction-requests/${r.id}">${when(r.createdAt)}</a>`,
              html`${r.user ? r.user.enterpriseId : r.legacyAccount.legacyUserId} · ${r.legacyAccount.firstName} ${r.legacyAccount.lastName}`,
              r.message,
              `${REQUEST_STATUS_LABEL[r.status]}${r.pendingChangeId ? ' (change waiting for approval)' : ''}`,
            ])}`
    }
    <nav class="pager" aria-label="Pages">
      ${o.page > 1 ? html`<a href="${link(o.status, o.page - 1)}" rel="prev">Previous page</a>` : ''}
      ${o.page * o.pageSize < o.total ? html`<a href="${link(o.status, o.page + 1)}" rel="next">Next page</a>` : ''}
    </nav>`;
}

/** One correction request: the person's text, the data on file, and resolve / reject. */
export function requestBody(o: {
  request: CorrectionRequest;
  current: Values;
  csrf: string;
  values?: Values | undefined;
  error?: string | undefined;
  errors?: Record<string, string> | undefined;
  rejectErrors?: Record<string, string> | undefined;
}): SafeHtml {
  const r = o.request;
  const who = r.user ? personLink('user', r.user.id) : personLink('legacy_account', r.legacyAccount.id);
  return html`<p><a href="/correction-requests">← Correction requests</a></p>
    ${alertBox(o.error)}
    <dl class="facts">
      <dt>Person</dt>
      <dd>
        <a href="${who}">${r.user ? r.user.enterpriseId : r.legacyAccount.legacyUserId}</a>
        ${r.user ? '(enrolled since)' : '(pending enrollment)'}
      </dd>
      <dt>Raised</dt>
      <dd>${when(r.createdAt)}</dd>
      <dt>Status</dt>
      <dd>${REQUEST_STATUS_LABEL[r.status]}${r.resolvedAt ? ` ${when(r.resolvedAt)}` : ''}</dd>
      <dt>What the person wrote</dt>
      <dd><blockquote>${r.message}</blockquote></dd>
      ${
        r.resolution
          ? html`<dt>Resolution</dt>
              <dd>${r.resolution}</dd>`
          : ''
      }
    </dl>
    ${
      r.status !== 'open'
        ? ''
        : r.pendingChangeId
          ? html`<p class="notice" role="status">The email or mobile change from this request is waiting for a supervisor's approval.</p>`
          : html`<section class="person" aria-labelledby="resolve-h">
                <h2 id="resolve-h">Resolve with the corrected data</h2>
                ${profileForm({
                  action: `/correction-requests/${r.id}/resolve`,
                  csrf: o.csrf,
                  values: o.values ?? o.current,
                  errors: o.errors,
                  button: 'Resolve',
                  fourEyes: r.user !== null,
                })}
              </section>
              <section class="person" aria-labelledby="reject-h">
                <h2 id="reject-h">Reject</h2>
                ${reasonForm({ action: `/correction-requests/${r.id}/reject`, csrf: o.csrf, button: 'Reject', suffix: '-reject', errors: o.rejectErrors, secondary: true })}
              </section>`
    }`;
}
