import { DomainError, Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import { expectPage, startHarness, submitPassword, type Harness } from '../../support/journeys.js';
import { SUPERVISOR, SUPPORT, auditEvents, supportServicesOn, type SupportServices } from '../../support/support-services.js';
import { WebClient, seedLegacyAccount, seedOrganization, seedUser } from '../../support/web.js';

/**
 * Correction requests raised in enrollment ("Report incorrect data"), handled by
 * libs/support: the queue, resolving (the correction applies; the user's next enrollment
 * shows it), rejecting with a reason; the user is told either way. The IdP runs for real.
 */
describe('support: correction requests', () => {
  let h: Harness;
  let s: SupportServices;
  let org: string;

  beforeAll(async () => {
    h = await startHarness();
    s = await supportServicesOn({ db: h.db, mail: h.mail, sms: h.sms, clock: h.clock });
    org = await seedOrganization(h.db.dataSource, 'acme');
  });
  afterAll(async () => {
    await s.close();
    await h.close();
  });
  beforeEach(() => h.clock.advance(Duration.ofMinutes(5)));

  const db = () => h.db.dataSource;
  const fails = async (promise: Promise<unknown>, code: string): Promise<void> => {
    const error = await promise.then(
      () => new Error('expected a failure'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe(code);
  };

  /** Signs in with legacy credentials and reports incorrect data; returns the request's id. */
  async function report(legacyUserId: string, password: string, message: string): Promise<string> {
    const web = new WebClient(h.app.url);
    expectPage(await submitPassword(web, legacyUserId, password), 200, 'Confirm your details');
    expectPage(await web.post('/enroll/confirm', { action: 'report', message }), 200, 'Thank you');
    const [row] = await db().query<Array<{ id: string }>>(
      `SELECT r.id FROM correction_requests r JOIN legacy_accounts l ON l.id = r.legacy_account_id
        WHERE l.legacy_user_id = $1 ORDER BY r.created_at DESC LIMIT 1`,
      [legacyUserId],
    );
    return row!.id;
  }

  it('report in enrollment -> resolved by support -> the next sign-in with legacy credentials shows the corrected data', async () => {
    const legacyId = await seedLegacyAccount(db(), org, {
      legacyUserId: 'L-500',
      password: 'old-Secret-500',
      firstName: 'Ada',
      lastName: 'Lovelase',
      email: 'ada@example.com',
    });
    const requestId = await report('L-500', 'old-Secret-500', 'My last name is Lovelace, with a c.');

    const queue = await s.requests.list();
    const listed = queue.items.find((r) => r.id === requestId)!;
    expect(listed).toMatchObject({
      status: 'open',
      message: 'My last name is Lovelace, with a c.',
      organizationId: org,
      legacyAccount: { id: legacyId, legacyUserId: 'L-500', status: 'pending', lastName: 'Lovelase' },
      user: null,
      pendingChangeId: null,
    });
    expect(await s.requests.openForLegacyAccount(legacyId)).toHaveLength(1);

    const outcome = await s.requests.resolve(SUPPORT, requestId, { last_name: 'Lovelace' }, 'As the user wrote (SUP-20)');
    expect(outcome.status).toBe('resolved');
    expect(outcome.correction.diff).toEqual({ last_name: { before: 'Lovelase', after: 'Lovelace' } });
    expect(outcome.request).toMatchObject({ status: 'resolved', resolvedBy: SUPPORT.id, resolution: 'As the user wrote (SUP-20)' });
    expect((await s.requests.list()).items.map((r) => r.id)).not.toContain(requestId);
    expect((await s.requests.list({ status: 'resolved' })).items.map((r) => r.id)).toContain(requestId);

    const [resolved] = (await auditEvents(db(), 'support.correction_resolved')).filter(
      (e) => (e.details as { correction_request_id: string }).correction_request_id === requestId,
    );
    expect(resolved).toMatchObject({ actor_type: 'staff', actor_id: SUPPORT.id, subject_type: 'legacy_account', subject_id: legacyId });
    const [corrected] = (await auditEvents(db(), 'support.legacy_account_corrected')).filter((e) => e.subject_id === legacyId);
    expect(corrected!.details).toMatchObject({ correction_request_id: requestId });

    const notice = await h.mail.waitFor(
      (m) => m.envelope.to.includes('ada@example.com') && m.subject === 'Your correction request was handled',
    );
    expect(notice.text).toContain('corrected the last name of your account');
    expect(notice.text).toContain('sign in again with your previous user ID and password');
    expect(containsLink(notice.text)).toBe(false);

    // The user comes back: the corrected data is prefilled.
    const page = expectPage(await submitPassword(new WebClient(h.app.url), 'L-500', 'old-Secret-500'), 200, 'Confirm your details');
    expect(page.html).toContain('value="Lovelace"');
    expect(page.html).not.toContain('Lovelase');

    await fails(s.requests.resolve(SUPPORT, requestId, {}, 'again'), 'already_closed');
    await fails(s.requests.reject(SUPPORT, requestId, 'again'), 'already_closed');
  });

  it('a resolution needs a reason and valid data, and may change nothing', async () => {
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-501', password: 'old-Secret-501', email: 'bea@example.com' });
    const requestId = await report('L-501', 'old-Secret-501', 'Wrong email?');
    await fails(s.requests.resolve(SUPPORT, requestId, { email: 'bea@example.com' }, ''), 'invalid_input');
    await fails(s.requests.resolve(SUPPORT, requestId, { email: 'not-an-email' }, 'fix'), 'invalid_input');
    expect((await s.requests.get(requestId))!.status).toBe('open');
    const outcome = await s.requests.resolve(SUPPORT, requestId, { email: 'BEA@example.com' }, 'The address on file is right');
    expect(outcome).toMatchObject({ status: 'resolved', correction: { diff: {} } });
    const notice = await h.mail.waitFor(
      (m) => m.envelope.to.includes('bea@example.com') && m.subject === 'Your correction request was handled',
    );
    expect(notice.text).toContain('handled your request to correct the details of your account');
  });

  it('rejecting needs a reason (kept for staff, not mailed) and tells the user; the data stays', async () => {
    const legacyId = await seedLegacyAccount(db(), org, {
      legacyUserId: 'L-502',
      password: 'old-Secret-502',
      firstName: 'Cy',
      email: 'cy@example.com',
    });
    const requestId = await report('L-502', 'old-Secret-502', 'Please call me Cyrus');
    await fails(s.requests.reject(SUPPORT, requestId, '   '), 'invalid_input');
    const rejected = await s.requests.reject(SUPERVISOR, requestId, 'Legal name per HR record (SUP-21)');
    expect(rejected).toMatchObject({ status: 'rejected', resolvedBy: SUPERVISOR.id, resolution: 'Legal name per HR record (SUP-21)' });
    const [row] = await db().query<Array<{ first_name: string }>>(`SELECT first_name FROM legacy_accounts WHERE id = $1`, [legacyId]);
    expect(row!.first_name).toBe('Cy');
    expect((await auditEvents(db(), 'support.correction_rejected')).at(-1)).toMatchObject({
      actor_id: SUPERVISOR.id,
      subject_id: legacyId,
      details: { correction_request_id: requestId, reason: 'Legal name per HR record (SUP-21)', actor_role: 'supervisor' },
    });
    const notice = await h.mail.waitFor(
      (m) => m.envelope.to.includes('cy@example.com') && m.subject === 'Your correction request was closed',
    );
    expect(notice.text).not.toContain('SUP-21');
    expect(containsLink(notice.text)).toBe(false);
  });

  it('on an account enrolled since: names at once, the email after a supervisor approves, which resolves the request', async () => {
    const userId = await seedUser(db(), org, { enterpriseId: 'dana.enrolled', password: 'a long password 9', email: 'dana@example.com' });
    const legacyId = await seedLegacyAccount(db(), org, { legacyUserId: 'L-503', password: 'old-Secret-503', email: 'dana@example.com' });
    const requestId = await report('L-503', 'old-Secret-503', 'Name is Dana, email dana@work.example');
    await db().query(`UPDATE legacy_accounts SET status = 'enrolled', user_id = $2, enrolled_at = now() WHERE id = $1`, [legacyId, userId]);

    const outcome = await s.requests.resolve(
      SUPPORT,
      requestId,
      { first_name: 'Dana', email: 'dana@work.example' },
      'Per the user (SUP-22)',
    );
    expect(outcome.status).toBe('awaiting_approval');
    expect(outcome.correction.applied).toEqual({ first_name: { before: 'Grace', after: 'Dana' } });
    expect(outcome.request).toMatchObject({
      status: 'open',
      user: { id: userId, enterpriseId: 'dana.enrolled' },
      pendingChangeId: outcome.correction.pending!.id,
    });
    expect(outcome.correction.pending!.correctionRequestId).toBe(requestId);
    await fails(s.requests.resolve(SUPPORT, requestId, {}, 'again'), 'awaiting_approval');

    await s.approvals.approve(SUPERVISOR, outcome.correction.pending!.id);
    const after = (await s.requests.get(requestId))!;
    expect(after).toMatchObject({
      status: 'resolved',
      resolvedBy: SUPERVISOR.id,
      resolution: 'Per the user (SUP-22)',
      pendingChangeId: null,
    });
    const [user] = await db().query<Array<{ first_name: string; email: string; email_verified_at: Date | null }>>(
      `SELECT first_name, email, email_verified_at FROM users WHERE id = $1`,
      [userId],
    );
    expect(user).toEqual({ first_name: 'Dana', email: 'dana@work.example', email_verified_at: null });
    // The previous address hears of the contact change.
    await h.mail.waitFor((m) => m.envelope.to.includes('dana@example.com') && m.subject.includes('changed the contact details'));
  });

  it('the queue pages and narrows by status; unknown ids are not found', async () => {
    const open = await s.requests.list({ status: 'open', limit: 1 });
    expect(open.items.length).toBeLessThanOrEqual(1);
    expect(open.total).toBeGreaterThanOrEqual(open.items.length);
    expect((await s.requests.list({ status: 'rejected' })).items.every((r) => r.status === 'rejected')).toBe(true);
    expect(await s.requests.get('6f1c7f4e-0000-4000-8000-000000000000')).toBeNull();
    await fails(s.requests.resolve(SUPPORT, 'nope', {}, 'x'), 'not_found');
  });
});
