import { Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import { expectNoSecrets } from '../../support/admin.js';
import { fieldError } from '../../support/account-changes.js';
import { enroll, expectPage, submitPassword } from '../../support/journeys.js';
import { consoleApi, startConsoleWithIdp, type ConsoleWithIdp } from '../../support/support-services.js';
import { WebClient, seedLegacyAccount, seedOrganization, text } from '../../support/web.js';

/**
 * The correction-request journey across both apps (issue 6, capability 3): a person reports
 * incorrect data in enrollment on the IdP; support finds it in the console's queue, resolves
 * it with the corrected data and a reason; the person signs in again with the legacy
 * credentials and sees the corrected data prefilled, and can finish enrollment with it.
 */
describe('support console: correction requests', () => {
  let c: ConsoleWithIdp;
  let org: string;

  beforeAll(async () => {
    c = await startConsoleWithIdp();
    org = await seedOrganization(c.h.db.dataSource, 'acme');
  });
  afterAll(async () => c.close());
  beforeEach(() => c.h.clock.advance(Duration.ofMinutes(1)));

  const db = () => c.h.db.dataSource;

  async function report(legacyUserId: string, password: string, message: string): Promise<void> {
    const web = new WebClient(c.h.app.url);
    expectPage(await submitPassword(web, legacyUserId, password), 200, 'Confirm your details');
    expectPage(await web.post('/enroll/confirm', { action: 'report', message }), 200, 'Thank you');
  }

  it('report in enrollment -> resolved in the console -> the person re-enters enrollment and sees the corrected data', async () => {
    await seedLegacyAccount(db(), org, {
      legacyUserId: 'L-7001',
      password: 'old-Secret-7001',
      firstName: 'Ada',
      lastName: 'Lovelase',
      email: 'ada.wrong@example.com',
    });
    await report('L-7001', 'old-Secret-7001', 'My last name is Lovelace and my email is ada@example.com');

    const support = await c.as(c.support);
    const [account] = await db().query<Array<{ id: string }>>(`SELECT id FROM legacy_accounts WHERE legacy_user_id = 'L-7001'`);
    const personPage = expectPage(await support.get(`/people/legacy_account/${account!.id}`), 200, 'Handle the correction request');
    const queue = expectPage(await support.get('/correction-requests'), 200, 'Correction requests');
    expect(text(queue.html)).toContain('My last name is Lovelace and my email is ada@example.com');
    const link = /href="\/correction-requests\/([0-9a-f-]{36})"/u.exec(queue.html);
    expect(link).not.toBeNull();
    const requestId = link![1]!;
    expect(personPage.html).toContain(`href="/correction-requests/${requestId}"`);

    const detail = expectPage(await support.get(`/correction-requests/${requestId}`), 200, 'What the person wrote');
    expect(detail.html).toContain('value="Lovelase"');
    for (const label of ['First name', 'Last name', 'Email', 'Mobile number', 'Reason']) expect(detail.html).toContain(`>${label}</label>`);

    // Bad data comes back with field errors and nothing is lost.
    const refused = await support.post(`/correction-requests/${requestId}/resolve`, {
      first_name: 'Ada',
      last_name: 'Lovelace',
      email: 'ada@',
      mobile: '',
      reason: 'As the person wrote (SUP-70)',
    });
    expect(refused.status).toBe(422);
    expect(fieldError(refused.html, 'email')).toBe('Enter a valid email address.');
    expect(refused.html).toContain('value="Lovelace"');

    const resolved = expectPage(
      await support.post(`/correction-requests/${requestId}/resolve`, {
        first_name: 'Ada',
        last_name: 'Lovelace',
        email: 'ada@example.com',
        mobile: '',
        reason: 'As the person wrote (SUP-70)',
      }),
      200,
      'Correction request resolved',
    );
    expect(text(resolved.html)).toContain('Last name Lovelase Lovelace');
    expect(text(resolved.html)).toContain('Email ada.wrong@example.com ada@example.com');
    expectNoSecrets(resolved.html);
    expect(text((await support.get('/correction-requests?status=resolved')).html)).toContain('My last name is Lovelace');
    expect(text((await support.get('/correction-requests')).html)).not.toContain('My last name is Lovelace');

    // The person is told (at the corrected address; the previous one hears of it too), without links.
    const told = await c.h.mail.waitFor(
      (m) => m.envelope.to.includes('ada@example.com') && m.subject === 'Your correction request was handled',
    );
    expect(containsLink(told.text)).toBe(false);
    await c.h.mail.waitFor(
      (m) => m.envelope.to.includes('ada.wrong@example.com') && m.subject === 'Your support team updated your Gatehouse account',
    );

    // Back in enrollment: the corrected data is prefilled, and enrollment completes with it.
    const again = new WebClient(c.h.app.url);
    const confirm = expectPage(await submitPassword(again, 'L-7001', 'old-Secret-7001'), 200, 'Confirm your details');
    expect(confirm.html).toContain('value="Lovelace"');
    expect(confirm.html).toContain('value="ada@example.com"');
    expect(confirm.html).not.toContain('Lovelase');
    await enroll(c.h, new WebClient(c.h.app.url), {
      legacyUserId: 'L-7001',
      legacyPassword: 'old-Secret-7001',
      email: 'ada@example.com',
      enterpriseId: 'ada.lovelace',
      password: 'a brand new long password',
    });
    const [user] = await db().query<Array<{ last_name: string; email: string }>>(
      `SELECT last_name, email FROM users WHERE enterprise_id = 'ada.lovelace'`,
    );
    expect(user).toEqual({ last_name: 'Lovelace', email: 'ada@example.com' });
  });

  it('rejecting needs a reason; the person is told; the JSON queue and detail agree', async () => {
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-7002', password: 'old-Secret-7002', firstName: 'Bo', email: 'bo@example.com' });
    await report('L-7002', 'old-Secret-7002', 'Call me Bob');
    const support = await c.as(c.support);
    const listed = await consoleApi(support, 'GET', '/api/v1/correction-requests?status=open');
    const item = (listed.body.items as Array<{ id: string; message: string; legacy_account: { legacy_user_id: string } }>).find(
      (r) => r.legacy_account.legacy_user_id === 'L-7002',
    )!;
    expect(item.message).toBe('Call me Bob');
    expectNoSecrets(listed.raw);

    await support.get(`/correction-requests/${item.id}`);
    const noReason = await support.post(`/correction-requests/${item.id}/reject`, { reason: '' });
    expect(noReason.status).toBe(422);
    expect(fieldError(noReason.html, 'reason-reject')).toContain('Give a reason');
    const rejected = await support.post(`/correction-requests/${item.id}/reject`, { reason: 'Legal name per the HR record (SUP-71)' });
    expect(text(rejected.html)).toContain('The request was rejected; the person was told by email.');
    const detail = await consoleApi(support, 'GET', `/api/v1/correction-requests/${item.id}`);
    expect(detail.body).toMatchObject({
      status: 'rejected',
      resolved_by: c.support.id,
      resolution: 'Legal name per the HR record (SUP-71)',
    });
    const told = await c.h.mail.waitFor(
      (m) => m.envelope.to.includes('bo@example.com') && m.subject === 'Your correction request was closed',
    );
    expect(told.text).not.toContain('SUP-71');
    // Closed once.
    expect((await consoleApi(support, 'POST', `/api/v1/correction-requests/${item.id}/resolve`, { reason: 'x' })).body).toMatchObject({
      status: 409,
      code: 'already_closed',
    });
  });

  it('resolving over the JSON API', async () => {
    const legacyId = await seedLegacyAccount(db(), org, { legacyUserId: 'L-7003', password: 'old-Secret-7003', email: 'cy@example.com' });
    await report('L-7003', 'old-Secret-7003', 'My mobile is +39 333 700 3000');
    const support = await c.as(c.support);
    const listed = await consoleApi(support, 'GET', '/api/v1/correction-requests');
    const id = (listed.body.items as Array<{ id: string; legacy_account: { id: string } }>).find(
      (r) => r.legacy_account.id === legacyId,
    )!.id;
    const resolved = await consoleApi(support, 'POST', `/api/v1/correction-requests/${id}/resolve`, {
      mobile: '+39 333 700 3000',
      reason: 'SUP-72',
    });
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({
      status: 'resolved',
      request: { id, status: 'resolved' },
      correction: { diff: { mobile: { before: null, after: '+393337003000' } } },
    });
  });
});
