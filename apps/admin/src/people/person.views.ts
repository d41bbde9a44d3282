import type { PersonDetails, PersonSummary, SearchPage } from '#libs/people';
import { alertBox, dataTable, html, type SafeHtml } from '#libs/web';
import { when, yesNoBadge } from '../views/layout.js';
import type { PersonSection } from './sections.js';

/** The identifier a person is known by: Enterprise ID for users, else the legacy user ID. */
export const identifierOf = (p: Pick<PersonSummary, 'enterpriseId' | 'legacyUserId'>): string => p.enterpriseId ?? p.legacyUserId ?? '';

export const personPath = (p: Pick<PersonSummary, 'kind' | 'id'>): string => `/people/${p.kind}/${p.id}`;

const STATUS_LABEL: Record<PersonSummary['status'], string> = { active: 'Active', disabled: 'Disabled', pending: 'Pending enrollment' };

function statusBadge(status: PersonSummary['status']): SafeHtml {
  return html`<span class="badge${status === 'disabled' ? ' bad' : status === 'active' ? ' good' : ''}">${STATUS_LABEL[status]}</span>`;
}

function contactsCell(p: PersonSummary): SafeHtml {
  const verified = [p.emailVerified ? p.email : null, p.mobileVerified ? p.mobile : null].filter((c): c is string => c !== null);
  return verified.length
    ? html`${verified.map((c, i) => html`${i ? html`<br />` : ''}${c}`)}`
    : html`<span class="hint">none verified</span>`;
}

/** The search form and, when there was a query, its results with paging. */
export function searchBody(result: SearchPage | null, error?: string): SafeHtml {
  const form = html`${alertBox(error)}
    <form method="get" action="/search" role="search">
      <label for="f-q">Search</label>
      <input id="f-q" name="q" type="search" value="${result?.query ?? ''}" aria-describedby="q-hint" />
      <p class="hint" id="q-hint">Enterprise ID, legacy user ID, name, email or mobile number. Accents and case do not matter.</p>
      <button type="submit">Search</button>
    </form>`;
  if (!result || result.query === '') return form;
  if (result.total === 0)
    return html`${form}
      <p role="status">No one matches “${result.query}”.</p>`;
  const first = (result.page - 1) * result.pageSize + 1;
  const last = first + result.items.length - 1;
  const link = (page: number) => `/search?q=${encodeURIComponent(result.query)}&page=${page}`;
  return html`${form}
    <p role="status">
      ${result.total} ${result.total === 1 ? 'person matches' : 'people match'}${result.items.length ? ` (showing ${first}–${last})` : ''}.
    </p>
    ${dataTable(
      ['Person', 'Status', 'Organization', 'Verified contacts', 'Remembered devices', 'Recovery', 'Open correction requests'],
      result.items,
      (p) => [
        html`<a href="${personPath(p)}">${identifierOf(p)} · ${p.firstName} ${p.lastName}</a>`,
        statusBadge(p.status),
        p.organization.name,
        contactsCell(p),
        p.kind === 'user' ? String(p.rememberedDevices) : '—',
        p.kind === 'user' ? yesNoBadge(!p.recoveryLocked, 'Unlocked', 'Locked') : '—',
        String(p.openCorrectionRequests),
      ],
    )}
    <nav class="pager" aria-label="Pages">
      ${result.page > 1 ? html`<a href="${link(result.page - 1)}" rel="prev">Previous page</a>` : ''}
      ${last < result.total ? html`<a href="${link(result.page + 1)}" rel="next">Next page</a>` : ''}
    </nav>`;
}

/** One titled section of the person page (read-only here, support actions' forms in support-views). */
export const section = (id: string, title: string, body: SafeHtml): SafeHtml =>
  html`<section class="person" id="${id}" aria-labelledby="${id}-h">
    <h2 id="${id}-h">${title}</h2>
    ${body}
  </section>`;

const facts = (rows: Array<[string, SafeHtml | string]>): SafeHtml =>
  html`<dl class="facts">
    ${rows.map(
      ([k, v]) =>
        html`<dt>${k}</dt>
          <dd>${v}</dd>`,
    )}
  </dl>`;

const verifiedBadge = (at: Date | null): SafeHtml =>
  at ? html`<span class="badge good">verified ${when(at)}</span>` : html`<span class="badge bad">not verified</span>`;

const DEVICE_STATE: Record<PersonDetails['devices'][number]['state'], string> = {
  active: 'Active',
  expired: 'Expired',
  revoked: 'Revoked',
  outdated: 'Needs a code again (credentials changed)',
};

/** The built-in, read-only sections of the person page. */
export const READ_ONLY_SECTIONS: PersonSection[] = [
  {
    id: 'profile',
    order: 10,
    render: ({ person: p }) =>
      section(
        'profile',
        'Profile',
        html`${facts([
            ...(p.enterpriseId ? ([['Enterprise ID', p.enterpriseId]] as Array<[string, string]>) : []),
            ...(p.legacyUserId ? ([['Legacy user ID', p.legacyUserId]] as Array<[string, string]>) : []),
            ['First name', p.firstName],
            ['Last name', p.lastName],
            ['Organization', `${p.organization.name} (${p.organization.slug})`],
            ['Status', statusBadge(p.status)],
            [p.kind === 'user' ? 'Enrolled' : 'Imported', when(p.createdAt)],
          ])}
          <p><a href="/audit?subject=${`${p.kind}:${p.id}`}">Audit log of this person</a></p>`,
      ),
  },
  {
    id: 'contacts',
    order: 20,
    render: ({ person: p }) =>
      section(
        'contacts',
        'Contacts',
        facts([
          [
            'Email',
            p.kind === 'user'
              ? html`${p.email} ${verifiedBadge(p.emailVerifiedAt)}`
              : html`${p.email} <span class="hint">(imported, not verified)</span>`,
          ],
          [
            'Mobile number',
            p.mobile
              ? p.kind === 'user'
                ? html`${p.mobile} ${verifiedBadge(p.mobileVerifiedAt)}`
                : html`${p.mobile} <span class="hint">(imported, not verified)</span>`
              : html`<span class="hint">none</span>`,
          ],
        ]),
      ),
  },
  {
    id: 'devices',
    order: 30,
    applies: (p) => p.kind === 'user',
    render: ({ person: p }) =>
      section(
        'devices',
        'Remembered devices',
        p.devices.length === 0
          ? html`<p class="hint">No remembered devices.</p>`
          : dataTable(['Device', 'State', 'Remembered', 'Last used', 'Expires'], p.devices, (d) => [
              d.name,
              html`${DEVICE_STATE[d.state]}${d.revokedReason ? html` <span class="hint">(${d.revokedReason})</span>` : ''}`,
              when(d.createdAt),
              when(d.lastUsedAt),
              when(d.expiresAt),
            ]),
      ),
  },
  {
    id: 'sessions',
    order: 40,
    applies: (p) => p.kind === 'user',
    render: ({ person: p }) =>
      section(
        'sessions',
        'Active sessions',
        p.sessions.length === 0
          ? html`<p class="hint">No active sessions.</p>`
          : dataTable(['Started', 'Last seen', 'Level', 'From'], p.sessions, (s) => [
              when(s.createdAt),
              when(s.lastSeenAt),
              s.acr.replace('urn:gatehouse:', ''),
              html`${s.ip ?? ''} <span class="hint">${(s.userAgent ?? '').slice(0, 80)}</span>`,
            ]),
      ),
  },
  {
    id: 'recovery',
    order: 50,
    applies: (p) => p.kind === 'user',
    render: ({ person: p }) =>
      section(
        'recovery',
        'Recovery',
        facts([
          [
            'Self-service recovery',
            p.recoveryLocked
              ? html`<span class="badge bad">Locked since ${when(p.recoveryLockedAt)}</span>`
              : html`<span class="badge good">Unlocked</span>`,
          ],
          ['Wrong security codes in a row', String(p.recoveryFailedAttempts)],
        ]),
      ),
  },
  {
    id: 'correction-requests',
    order: 60,
    render: ({ person: p }) =>
      section(
        'correction-requests',
        'Correction requests',
        p.correctionRequests.length === 0
          ? html`<p class="hint">No correction requests.</p>`
          : dataTable(['Raised', 'Status', 'What the person wrote', 'Resolution'], p.correctionRequests, (c) => [
              when(c.createdAt),
              c.status,
              c.message,
              html`${c.resolution ?? ''}${c.resolvedAt ? html` <span class="hint">${when(c.resolvedAt)}</span>` : ''}`,
            ]),
      ),
  },
];

/** The person page's body: heading facts, then every section. */
export function personBody(p: PersonDetails, sections: SafeHtml[]): SafeHtml {
  return html`<p><a href="/search">← Search</a></p>
    <p class="lead"><strong>${identifierOf(p)}</strong> · ${p.firstName} ${p.lastName} · ${p.organization.name} ${statusBadge(p.status)}</p>
    ${sections}`;
}
