import { consoleRoutes } from '../../../apps/admin/src/auth/index.js';
import { SUPPORT_CONTROLLERS } from '../../../apps/admin/src/support-console.js';
import { Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import { expectNoSecrets } from '../../support/admin.js';
import { fieldError, userRow } from '../../support/account-changes.js';
import { codeMails, expectPage, signInByEmail } from '../../support/journeys.js';
import { auditEvents, consoleApi, startConsoleWithIdp, type ConsoleWithIdp } from '../../support/support-services.js';
import { WebClient, seedLegacyAccount, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * The support console's correction pages and JSON API over HTTP (issue 6, capability 2):
 * `First name`, `Last name`, `Email`, `Mobile number`, `Reason`, `Save`; a before/after diff
 * on confirmation; four-eyes on an enrolled user's email (support cannot approve, the requester
 * cannot approve, another supervisor does); role boundaries; CSRF on every form and API call.
 */
describe('support console: corrections and four-eyes', () => {
  let c: ConsoleWithIdp;
  let org: string;
  let n = 0;

  beforeAll(async () => {
    c = await startConsoleWithIdp();
    org = await seedOrganization(c.h.db.dataSource, 'acme');
  });
  afterAll(async () => c.close());
  beforeEach(() => c.h.clock.advance(Duration.ofMinutes(1)));

  const db = () => c.h.db.dataSource;
  async function person(extra: { mobile?: string; email?: string } = {}) {
    n++;
    const who = { userId: `person.${n}`, password: `a person password ${n}`, email: extra.email ?? `person${n}@example.com` };
    const id = await seedUser(db(), org, {
      enterpriseId: who.userId,
      password: who.password,
      email: who.email,
      mobile: extra.mobile ?? null,
    });
    return { ...who, id };
  }

  it('edit form: the contract labels, prefilled; Save shows the before/after diff; a pending legacy account changes at once', async () => {
    const legacyId = await seedLegacyAccount(db(), org, {
      legacyUserId: 'L-900',
      password: 'old-Secret-900',
      firstName: 'Ada',
      lastName: 'Lovelase',
      email: 'ada900@example.com',
    });
    const web = await c.as(c.support);
    const personPage = expectPage(await web.get(`/people/legacy_account/${legacyId}`), 200, 'Correct prefilled data');
    expect(personPage.html).toContain(`href="/people/legacy_account/${legacyId}/edit"`);
    const form = expectPage(await web.get(`/people/legacy_account/${legacyId}/edit`), 200, 'Edit prefilled data');
    for (const label of ['First name', 'Last name', 'Email', 'Mobile number', 'Reason'])
      expect(form.html).toMatch(new RegExp(`<label for="f-[a-z_]+">${label}</label>`, 'u'));
    expect(form.html).toContain('<button type="submit">Save</button>');
    expect(form.html).toContain('value="Lovelase"');
    expect(form.html).not.toContain('supervisor'); // no four-eyes for prefilled data

    const refused = await web.post(`/people/legacy_account/${legacyId}/edit`, {
      first_name: 'Ada',
      last_name: 'Lovelace',
      email: 'ada900@example.com',
      mobile: '333 123',
      reason: '',
    });
    expect(refused.status).toBe(422);
    expect(fieldError(refused.html, 'mobile')).toContain('E.164');
    expect(fieldError(refused.html, 'reason')).toContain('Give a reason');
    // What was typed comes back, nothing is lost.
    expect(refused.html).toContain('value="Lovelace"');
    expect(refused.html).toContain('value="333 123"');

    const saved = expectPage(
      await web.post(`/people/legacy_account/${legacyId}/edit`, {
        first_name: 'Ada',
        last_name: 'Lovelace',
        email: 'ada900@example.com',
        mobile: '+39 333 123 4567',
        reason: 'Ticket SUP-900',
      }),
      200,
      'Changes saved',
    );
    const visible = text(saved.html);
    expect(visible).toContain('Last name Lovelase Lovelace');
    expect(visible).toContain('Mobile number (none) +393331234567');
    expect(saved.html).toContain('<del>Lovelase</del>');
    expect(saved.html).toContain('<ins>Lovelace</ins>');
    expectNoSecrets(saved.html);
    const [row] = await db().query<Array<{ last_name: string; mobile: string }>>(
      `SELECT last_name, mobile FROM legacy_accounts WHERE id = $1`,
      [legacyId],
    );
    expect(row).toEqual({ last_name: 'Lovelace', mobile: '+393331234567' });
    const [event] = (await auditEvents(db(), 'support.legacy_account_corrected')).filter((e) => e.subject_id === legacyId);
    expect(event).toMatchObject({ actor_type: 'staff', actor_id: c.support.id });
    expect(event!.details).toMatchObject({ reason: 'Ticket SUP-900', changes: { last_name: { before: 'Lovelase', after: 'Lovelace' } } });
    await c.h.mail.waitFor(
      (m) => m.envelope.to.includes('ada900@example.com') && m.subject === 'Your support team updated your Gatehouse account',
    );
  });

  it('Preview changes shows the before/after diff before saving (at once / for approval) and writes, tells and audits nothing', async () => {
    const who = await person({ mobile: '+393331110000' });
    const support = await c.as(c.support);
    const form = expectPage(await support.get(`/people/user/${who.id}/edit`), 200, 'Edit profile');
    expect(form.html).toContain('<button type="submit" name="action" value="preview" class="secondary">Preview changes</button>');
    const mailsBefore = c.h.mail.messages.length;
    const auditBefore = (await db().query<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM audit_events`))[0]!.n;
    const typed = {
      first_name: 'Grace',
      last_name: 'Hopper-Murray',
      email: 'grace.preview@example.org',
      mobile: '+393331110000',
      reason: '',
      action: 'preview',
    };
    const preview = expectPage(await support.post(`/people/user/${who.id}/edit`, typed), 200, 'Edit profile');
    const visible = text(preview.html);
    expect(visible).toContain('Preview: nothing is saved yet');
    expect(visible).toContain('Save changes this at once');
    expect(visible).toMatch(/Last name \S+ Hopper-Murray/u);
    expect(visible).toContain("Save asks a supervisor's approval for this");
    expect(visible).toContain(`Email ${who.email} grace.preview@example.org`);
    expect(visible).not.toContain('Mobile number +393331110000'); // unchanged, not in the diff
    // The form comes back with what was typed, ready for a reason and Save.
    expect(preview.html).toContain('value="Hopper-Murray"');
    expect(preview.html).toContain('value="grace.preview@example.org"');
    expect(fieldError(preview.html, 'reason')).toBeUndefined();
    // Nothing happened.
    expect((await userRow(db(), who.id)).email).toBe(who.email);
    expect(await db().query(`SELECT 1 FROM support_contact_changes WHERE user_id = $1`, [who.id])).toEqual([]);
    expect((await db().query<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM audit_events`))[0]!.n).toBe(auditBefore);
    expect(c.h.mail.messages.length).toBe(mailsBefore);

    // Bad values: the same field errors as Save; the current values: nothing would change.
    const bad = await support.post(`/people/user/${who.id}/edit`, { ...typed, mobile: '333 123' });
    expect(bad.status).toBe(422);
    expect(fieldError(bad.html, 'mobile')).toContain('E.164');
    const stored = await userRow(db(), who.id);
    const same = await support.post(`/people/user/${who.id}/edit`, {
      first_name: stored.first_name as string,
      last_name: stored.last_name as string,
      email: who.email.toUpperCase(),
      mobile: '+39 333 111 0000',
      action: 'preview',
    });
    expect(text(same.html)).toContain('Save would change nothing');
  });

  it('four-eyes on an email change: support asks; support cannot approve; the requesting supervisor cannot; another supervisor approves; the old address is told; the new one is unverified until a code proves it', async () => {
    const who = await person();
    const support = await c.as(c.support);
    const page = expectPage(
      await support.post(`/people/user/${who.id}/edit`, {
        first_name: 'Grace',
        last_name: 'Hopper',
        email: 'grace.moved@example.org',
        mobile: '',
        reason: 'User lost the old mailbox (SUP-901)',
      }),
      200,
      'Changes saved',
    );
    expect(text(page.html)).toContain('waits for a supervisor');
    expect(text(page.html)).toContain(`Email ${who.email} grace.moved@example.org`);
    expect((await userRow(db(), who.id)).email).toBe(who.email);
    const [pending] = await db().query<Array<{ id: string }>>(
      `SELECT id FROM support_contact_changes WHERE user_id = $1 AND status = 'pending'`,
      [who.id],
    );
    const changeId = pending!.id;
    // The person page tells about the pending change, and the requester can cancel it.
    expect(text((await support.get(`/people/user/${who.id}`)).html)).toContain('waiting for a supervisor');

    // Support cannot see or use the approvals.
    expect((await support.get('/approvals')).status).toBe(403);
    await support.get('/search');
    const supportTry = await support.post(`/approvals/${changeId}/approve`, {});
    expect(supportTry.status).toBe(403);
    expect((await consoleApi(support, 'POST', `/api/v1/contact-changes/${changeId}/approve`)).status).toBe(403);

    // A supervisor asks for a second user's change; they cannot approve their own request.
    const other = await person();
    const vera = await c.as(c.supervisor);
    expectPage(
      await vera.post(`/people/user/${other.id}/edit`, {
        first_name: 'Grace',
        last_name: 'Hopper',
        email: 'other.moved@example.org',
        mobile: '',
        reason: 'SUP-902',
      }),
      200,
      'Changes saved',
    );
    const [own] = await db().query<Array<{ id: string }>>(
      `SELECT id FROM support_contact_changes WHERE user_id = $1 AND status = 'pending'`,
      [other.id],
    );
    const approvals = expectPage(await vera.get('/approvals'), 200, 'Approvals');
    expect(text(approvals.html)).toContain('You asked for this change: another supervisor must approve it.');
    expect(approvals.html).not.toContain(`action="/approvals/${own!.id}/approve"`);
    const selfApproval = await vera.post(`/approvals/${own!.id}/approve`, {});
    expect(selfApproval.status).toBe(403);
    expect(text(selfApproval.html)).toContain('another supervisor must approve it');
    expect((await consoleApi(vera, 'POST', `/api/v1/contact-changes/${own!.id}/approve`)).body).toMatchObject({
      status: 403,
      code: 'four_eyes',
    });

    // Vera approves support's request: it takes effect.
    expectPage(await vera.get('/approvals'), 200, 'Approvals');
    const approved = expectPage(await vera.post(`/approvals/${changeId}/approve`, {}), 200, 'The change was approved and took effect.');
    expectNoSecrets(approved.html);
    expect(await userRow(db(), who.id)).toMatchObject({ email: 'grace.moved@example.org', email_verified_at: null });
    const notice = await c.h.mail.waitFor(
      (m) => m.envelope.to.includes(who.email) && m.subject === 'Your support team changed the contact details of your Gatehouse account',
    );
    expect(containsLink(notice.text)).toBe(false);
    expect((await auditEvents(db(), 'support.contact_change_approved')).filter((e) => e.subject_id === who.id)).toMatchObject([
      {
        actor_type: 'staff',
        actor_id: c.supervisor.id,
        details: { requested_by: c.support.id, reason: 'User lost the old mailbox (SUP-901)' },
      },
    ]);

    // The person signs in: the code goes to the new address, and using it verifies the address.
    const seen = codeMails(c.h.mail, who.email).length;
    await signInByEmail(c.h, new WebClient(c.h.app.url), { ...who, email: 'grace.moved@example.org' });
    expect(codeMails(c.h.mail, who.email)).toHaveLength(seen);
    expect((await userRow(db(), who.id)).email_verified_at).toEqual(c.h.clock.now());

    // Otto, the second supervisor, approves Vera's request over the JSON API.
    const otto = await c.as(c.supervisor2);
    const viaApi = await consoleApi(otto, 'POST', `/api/v1/contact-changes/${own!.id}/approve`);
    expect(viaApi.status).toBe(200);
    expect(viaApi.body).toMatchObject({ id: own!.id, status: 'approved', decided_by: c.supervisor2.id });
    expectNoSecrets(viaApi.raw);
    // Decided once.
    expect((await consoleApi(otto, 'POST', `/api/v1/contact-changes/${own!.id}/approve`)).body).toMatchObject({
      status: 409,
      code: 'already_decided',
    });
  });

  it('a supervisor rejects with a reason; the requester cancels their own; reasons are required', async () => {
    const who = await person({ mobile: '+393335550001' });
    const support = await c.as(c.support);
    const vera = await c.as(c.supervisor);
    const asked = await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/profile`, {
      mobile: '+393335550002',
      reason: 'new phone SUP-903',
    });
    expect(asked.status).toBe(200);
    expect(asked.body).toMatchObject({
      diff: { mobile: { before: '+393335550001', after: '+393335550002' } },
      applied: {},
      pending_change: { status: 'pending', requested_by: c.support.id },
    });
    const changeId = (asked.body.pending_change as { id: string }).id;
    // A second request for the same user waits for the first.
    const second = await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/profile`, { email: 'x@example.org', reason: 'x' });
    expect(second).toMatchObject({ status: 409, body: { code: 'change_pending', change_id: changeId } });
    expect(second.type).toContain('application/problem+json');

    expectPage(await vera.get('/approvals'), 200, 'Approvals');
    const noReason = await vera.post(`/approvals/${changeId}/reject`, { reason: '' });
    expect(noReason.status).toBe(422);
    expect(text(noReason.html)).toContain('Give a reason');
    expectPage(await vera.post(`/approvals/${changeId}/reject`, { reason: 'Caller failed the ID check' }), 200, 'The change was rejected');
    expect(await userRow(db(), who.id)).toMatchObject({ mobile: '+393335550001' });

    const again = await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/profile`, { mobile: '+393335550003', reason: 'retry' });
    const againId = (again.body.pending_change as { id: string }).id;
    // Only the requester cancels (Vera can reject instead).
    expect((await consoleApi(vera, 'POST', `/api/v1/contact-changes/${againId}/cancel`, { reason: 'no' })).body).toMatchObject({
      code: 'forbidden',
    });
    const personPage = expectPage(await support.get(`/people/user/${who.id}`), 200, 'waiting for a supervisor');
    expect(personPage.html).toContain(`action="/approvals/${againId}/cancel"`);
    expectPage(
      await support.post(`/approvals/${againId}/cancel`, { reason: 'Typo in the number' }),
      200,
      'The contact change was cancelled.',
    );
    expect(await db().query(`SELECT status FROM support_contact_changes WHERE id = $1`, [againId])).toEqual([{ status: 'cancelled' }]);
  });

  it('the JSON API: problem details with errors by field for bad input; no hash, code or token in any answer', async () => {
    const who = await person();
    const support = await c.as(c.support);
    const bad = await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/profile`, { first_name: '', email: 'nope', reason: 'x' });
    expect(bad.status).toBe(422);
    expect(bad.type).toContain('application/problem+json');
    expect(bad.body).toMatchObject({
      type: 'urn:gatehouse:problem:invalid_input',
      status: 422,
      code: 'invalid_input',
      errors: { first_name: 'First name is empty.', email: 'Enter a valid email address.' },
    });
    expect(
      (await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/profile`, { first_name: 'Grace', reason: 'same' })).body,
    ).toMatchObject({
      status: 422,
      code: 'no_changes',
    });
    expect((await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/profile`, { last_name: 'H.' })).body).toMatchObject({
      code: 'invalid_input',
      errors: { reason: expect.stringContaining('Give a reason') as unknown },
    });
    const ok = await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/profile`, {
      last_name: 'Hopper-Murray',
      reason: 'Marriage (SUP-904)',
    });
    expect(ok.body).toMatchObject({ applied: { last_name: { before: 'Hopper', after: 'Hopper-Murray' } }, pending_change: null });
    for (const response of [bad, ok]) expectNoSecrets(response.raw);
    expect(
      (
        await consoleApi(support, 'POST', `/api/v1/people/user/00000000-0000-4000-8000-000000000000/profile`, {
          last_name: 'X',
          reason: 'x',
        })
      ).status,
    ).toBe(404);
  });

  it('nobody acts on their own account; staff accounts are not people of this console', async () => {
    // An end-user account with the support agent's own address.
    const mine = await person({ email: c.support.email });
    const support = await c.as(c.support);
    await support.get('/search');
    const refused = await support.post(`/people/user/${mine.id}/edit`, {
      first_name: 'Me',
      last_name: 'Myself',
      email: c.support.email,
      mobile: '',
      reason: 'me',
    });
    expect(refused.status).toBe(403);
    expect((await consoleApi(support, 'POST', `/api/v1/people/user/${mine.id}/disable`, { reason: 'me' })).status).toBe(403);
    await support.get('/search');
    expect((await support.post(`/people/user/${mine.id}/disable`, { reason: 'me' })).status).toBe(403);
    expect((await userRow(db(), mine.id)).status).toBe('active');
    // Nor moves someone else's account onto their own address.
    const other = await person();
    const takeover = await consoleApi(support, 'POST', `/api/v1/people/user/${other.id}/profile`, {
      email: c.support.email,
      reason: 'mine now',
    });
    expect(takeover.status).toBe(403);
    // Staff are not edited here (and support never acts on staff).
    expect((await support.get(`/people/staff/${c.supervisor.id}/edit`)).status).toBe(404);
    expect(
      (await consoleApi(support, 'POST', `/api/v1/people/staff/${c.supervisor.id}/profile`, { first_name: 'X', reason: 'x' })).status,
    ).toBe(404);
  });

  it('CSRF: every support form and API call without the token (or with a forged one, or from another origin) is refused and changes nothing', async () => {
    const who = await person({ mobile: '+393335550009' });
    const legacyId = await seedLegacyAccount(db(), org, { legacyUserId: 'L-905', password: 'old-Secret-905', email: 'l905@example.com' });
    const vera = await c.as(c.supervisor);
    const asked = await consoleApi(vera, 'POST', `/api/v1/people/user/${who.id}/profile`, {
      email: 'csrf.moved@example.org',
      reason: 'SUP-905',
    });
    const changeId = (asked.body.pending_change as { id: string }).id;
    const [request] = await db().query<Array<{ id: string }>>(
      `INSERT INTO correction_requests (legacy_account_id, organization_id, message, created_at) VALUES ($1, $2, 'wrong name', now()) RETURNING id`,
      [legacyId, org],
    );
    const before = JSON.stringify(await db().query(`SELECT * FROM users WHERE id = $1`, [who.id]));
    const auditBefore = (await db().query<unknown[]>(`SELECT 1 FROM audit_events WHERE actor_type = 'staff'`)).length;

    const names = new Set<string>(SUPPORT_CONTROLLERS.map((k) => k.name));
    const routes = consoleRoutes(c.admin.app).filter((r) => names.has(r.controller) && r.method === 'POST');
    expect(routes.length).toBeGreaterThanOrEqual(20);
    const fill = (path: string) =>
      path
        .replace(':kind', 'user')
        .replace(/people\/user\/:id/u, `people/user/${who.id}`)
        .replace(/(contact-changes|approvals)\/:id/u, `$1/${changeId}`)
        .replace(/correction-requests\/:id/u, `correction-requests/${request!.id}`);
    /** A post with a valid token but from another site's page. */
    const crossOrigin = async (path: string, fields: Record<string, string>) => {
      await vera.get('/search');
      const response = await fetch(new URL(path, vera.base), {
        method: 'POST',
        redirect: 'manual',
        headers: {
          Cookie: [...vera.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
          'Content-Type': 'application/x-www-form-urlencoded',
          Origin: 'http://evil.example',
        },
        body: new URLSearchParams({ ...fields, csrf: vera.csrf() }),
      });
      return { status: response.status };
    };
    const form = { reason: 'forged', first_name: 'Forged', last_name: 'Forged', email: 'forged@evil.example', mobile: '', device: 'all' };
    for (const route of routes) {
      const path = fill(route.path);
      expect(path).not.toContain(':');
      if (path.startsWith('/api/')) {
        const none = await consoleApi(vera, 'POST', path, form, { csrf: null });
        const forged = await consoleApi(vera, 'POST', path, form, { csrf: 'forged-token' });
        for (const r of [none, forged])
          expect({ path, status: r.status, code: r.body.code }).toEqual({ path, status: 403, code: 'csrf_failed' });
      } else {
        const none = await vera.request('POST', path, new URLSearchParams(form), false);
        const forged = await vera.request('POST', path, new URLSearchParams({ ...form, csrf: 'forged-token' }), false);
        const foreign = await crossOrigin(path, form);
        for (const r of [none, forged, foreign]) expect({ path, status: r.status }).toEqual({ path, status: 403 });
      }
    }
    expect(JSON.stringify(await db().query(`SELECT * FROM users WHERE id = $1`, [who.id]))).toBe(before);
    expect(await db().query(`SELECT status FROM support_contact_changes WHERE id = $1`, [changeId])).toEqual([{ status: 'pending' }]);
    expect(await db().query(`SELECT status FROM correction_requests WHERE id = $1`, [request!.id])).toEqual([{ status: 'open' }]);
    expect((await db().query<unknown[]>(`SELECT 1 FROM audit_events WHERE actor_type = 'staff'`)).length).toBe(auditBefore);
  });

  it('every page of the support actions is free of hashes, codes and tokens', async () => {
    const who = await person();
    await signInByEmail(c.h, new WebClient(c.h.app.url), who, { remember: true });
    const vera = await c.as(c.supervisor);
    const codes = c.h.mail.messages.map((m) => /\b\d{6}\b/u.exec(m.subject)?.[0]).filter((x): x is string => Boolean(x));
    for (const path of [`/people/user/${who.id}`, `/people/user/${who.id}/edit`, '/approvals', '/correction-requests']) {
      const page = expectPage(await vera.get(path), 200, '');
      expectNoSecrets(page.html, codes);
    }
    expect(text((await vera.get(`/people/user/${who.id}`)).html)).toContain('Revoke remembered devices');
  });
});
