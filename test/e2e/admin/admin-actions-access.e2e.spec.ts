import { Duration } from '#libs/core';
import { userRow } from '../../support/account-changes.js';
import { GENERIC_FAILURE } from '#libs/signin';
import { expectNoSecrets } from '../../support/admin.js';
import { expectPage, signInByEmail, submitPassword } from '../../support/journeys.js';
import { GENERIC_TEXT, forgotPassword, recoveryCodeMails } from '../../support/recovery.js';
import { auditEvents, consoleApi, startConsoleWithIdp, type ConsoleWithIdp } from '../../support/support-services.js';
import { WebClient, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * The support console's access actions over HTTP (issue 6, capabilities 4-6): unlock
 * recovery, revoke remembered devices (one or all), end sessions, disable and enable, each
 * from the person page with a `Reason`, with the effect checked on the IdP.
 */
describe('support console: access actions', () => {
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
  async function person() {
    n++;
    const who = { userId: `member.${n}`, password: `a member password ${n}`, email: `member${n}@example.com` };
    const id = await seedUser(db(), org, { enterpriseId: who.userId, password: who.password, email: who.email, securityCode: '40817263' });
    return { ...who, id };
  }
  /** The person page's notice after an action (the redirect's target). */
  const noticeOf = (html: string) => /<p class="notice" role="status">([^<]*)<\/p>/u.exec(html)?.[1];

  it('unlock recovery: the form needs a reason; then the person can recover again and is told', async () => {
    const who = await person();
    await db().query(`UPDATE users SET recovery_locked_at = $2, recovery_failed_attempts = 5 WHERE id = $1`, [who.id, c.h.clock.now()]);
    const support = await c.as(c.support);
    const page = expectPage(await support.get(`/people/user/${who.id}`), 200, 'Unlock recovery');
    expect(page.html).toContain(`action="/people/user/${who.id}/recovery/unlock"`);

    const refused = await support.post(`/people/user/${who.id}/recovery/unlock`, { reason: '  ' });
    expect(refused.status).toBe(422);
    expect(text(refused.html)).toContain('Give a reason');
    expect(refused.html).toMatch(/<label for="f-reason">Reason<\/label>/u);
    expect((await userRow(db(), who.id)).recovery_locked_at).not.toBeNull();

    const done = await support.post(`/people/user/${who.id}/recovery/unlock`, { reason: 'Identity checked by video call (SUP-40)' });
    expect(done.status).toBe(200);
    expect(noticeOf(done.html)).toBe('Recovery was unlocked; the person was told by email.');
    expect(await userRow(db(), who.id)).toMatchObject({ recovery_locked_at: null, recovery_failed_attempts: 0 });
    expect((await auditEvents(db(), 'recovery.unlocked')).at(-1)).toMatchObject({
      actor_type: 'staff',
      actor_id: c.support.id,
      subject_id: who.id,
    });
    await c.h.mail.waitFor((m) => m.envelope.to.includes(who.email) && m.subject === 'Recovery of your Gatehouse account is unlocked');
    // Recovery works again: the right security code leads to the code step for the real account.
    const recovery = await forgotPassword(new WebClient(c.h.app.url), who.userId, '40817263');
    expect(text(recovery.html)).toContain(GENERIC_TEXT);
    await c.h.mail.waitFor((m) => m.envelope.to.includes(who.email) && m.subject.includes('to recover your account'));
  });

  it('revoke one remembered device, then all: the next sign-in there asks for a code; the person is told', async () => {
    const who = await person();
    const laptop = new WebClient(c.h.app.url);
    const phone = new WebClient(c.h.app.url);
    await signInByEmail(c.h, laptop, who, { remember: true });
    await signInByEmail(c.h, phone, who, { remember: true });
    const devices = await db().query<Array<{ id: string }>>(`SELECT id FROM remembered_devices WHERE user_id = $1 ORDER BY created_at`, [
      who.id,
    ]);
    expect(devices).toHaveLength(2);

    const support = await c.as(c.support);
    const page = expectPage(await support.get(`/people/user/${who.id}`), 200, 'Revoke remembered devices');
    expect(page.html).toContain(`value="${devices[0]!.id}"`);
    expectNoSecrets(page.html);
    const one = await support.post(`/people/user/${who.id}/devices/revoke`, { device: devices[0]!.id, reason: 'Laptop stolen (SUP-41)' });
    expect(noticeOf(one.html)).toBe('1 remembered device was revoked; the person was told by email.');
    const [first] = await db().query<Array<{ revoked_by: string }>>(`SELECT revoked_by FROM remembered_devices WHERE id = $1`, [
      devices[0]!.id,
    ]);
    expect(first!.revoked_by).toBe(`staff:${c.support.id}`);

    // The laptop's cookie no longer skips the code; the phone's still does.
    const fresh = (from: WebClient) => {
      const web = new WebClient(c.h.app.url);
      web.cookies.set('gh_device', from.cookie('device')!);
      return web;
    };
    expectPage(await submitPassword(fresh(laptop), who.userId, who.password), 200, 'We sent a 6-digit code by email');
    expectPage(await submitPassword(fresh(phone), who.userId, who.password), 200, 'Your account');

    const all = await support.post(`/people/user/${who.id}/devices/revoke`, { device: 'all', reason: 'Lost phone (SUP-42)' });
    expect(noticeOf(all.html)).toBe('1 remembered device was revoked; the person was told by email.');
    expectPage(await submitPassword(fresh(phone), who.userId, who.password), 200, 'We sent a 6-digit code by email');
    const none = await support.post(`/people/user/${who.id}/devices/revoke`, { device: 'all', reason: 'again' });
    expect(none.status).toBe(409);
    expect(text(none.html)).toContain('This user has no remembered devices.');
    const notices = c.h.mail
      .messagesTo(who.email)
      .filter((m) => m.subject === 'Remembered devices of your Gatehouse account were signed out');
    expect(notices.length).toBeGreaterThanOrEqual(1);
  });

  it('end sessions: the person is signed out of the IdP at once', async () => {
    const who = await person();
    const browser = new WebClient(c.h.app.url);
    await signInByEmail(c.h, browser, who);
    expectPage(await browser.get('/account'), 200, 'Your account');
    const vera = await c.as(c.supervisor);
    const done = await vera.post(`/people/user/${who.id}/sessions/end`, { reason: 'Account shared (SUP-43)' });
    expect(noticeOf(done.html)).toBe('1 session was ended; the person was told by email.');
    const after = await browser.get('/account');
    expect(text(after.html)).toContain('Sign in');
    expect(text(after.html)).not.toContain('Your account');
    expect((await auditEvents(db(), 'support.sessions_ended')).at(-1)).toMatchObject({ actor_id: c.supervisor.id, subject_id: who.id });
  });

  it('disable: sessions end and the person cannot sign in or recover (the usual answers); enable lets them back', async () => {
    const who = await person();
    const browser = new WebClient(c.h.app.url);
    await signInByEmail(c.h, browser, who);
    const support = await c.as(c.support);
    expectPage(await support.get(`/people/user/${who.id}`), 200, 'Disable user');
    const refused = await support.post(`/people/user/${who.id}/disable`, { reason: '' });
    expect(refused.status).toBe(422);
    expect((await userRow(db(), who.id)).status).toBe('active');

    const done = await support.post(`/people/user/${who.id}/disable`, { reason: 'Left the program (HR-7)' });
    expect(noticeOf(done.html)).toContain('The user was disabled');
    expect((await userRow(db(), who.id)).status).toBe('disabled');
    expect(text((await browser.get('/account')).html)).not.toContain('Your account');
    const signIn = await submitPassword(new WebClient(c.h.app.url), who.userId, who.password);
    expect(text(signIn.html)).toContain(GENERIC_FAILURE);
    const recoveryCodes = recoveryCodeMails(c.h.mail, who.email).length;
    const recovery = await forgotPassword(new WebClient(c.h.app.url), who.userId, '40817263');
    expect(text(recovery.html)).toContain(GENERIC_TEXT);
    await c.h.mail.waitFor((m) => m.envelope.to.includes(who.email) && m.subject === 'Your Gatehouse account was disabled');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(recoveryCodeMails(c.h.mail, who.email)).toHaveLength(recoveryCodes);

    // The person page now offers Enable.
    expectPage(await support.get(`/people/user/${who.id}`), 200, 'Enable user');
    const enabled = await support.post(`/people/user/${who.id}/enable`, { reason: 'Back in the program (HR-8)' });
    expect(noticeOf(enabled.html)).toBe('The user was enabled; the person was told by email.');
    await signInByEmail(c.h, new WebClient(c.h.app.url), who);
    expect((await auditEvents(db(), 'support.user_enabled')).at(-1)).toMatchObject({
      actor_id: c.support.id,
      details: { reason: 'Back in the program (HR-8)' },
    });
  });

  it('the same actions over the JSON API, with problem details', async () => {
    const who = await person();
    await signInByEmail(c.h, new WebClient(c.h.app.url), who, { remember: true });
    const support = await c.as(c.support);
    const noReason = await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/sessions/end`, {});
    expect(noReason).toMatchObject({ status: 422, body: { code: 'invalid_input', errors: { reason: expect.any(String) as unknown } } });
    expect((await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/recovery/unlock`, { reason: 'x' })).body).toMatchObject({
      status: 409,
      code: 'not_locked',
    });
    expect(
      (await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/devices/revoke`, { device: 'all', reason: 'SUP-44' })).body,
    ).toEqual({
      revoked: 1,
    });
    expect((await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/sessions/end`, { reason: 'SUP-44' })).body).toEqual({
      ended: 1,
      oidc_grants_revoked: 0,
    });
    const disabled = await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/disable`, { reason: 'SUP-44' });
    expect(disabled.body).toEqual({ status: 'disabled', sessions_ended: 0, devices_revoked: 0 });
    expect((await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/disable`, { reason: 'SUP-44' })).body).toMatchObject({
      status: 409,
      code: 'already_disabled',
    });
    expect((await consoleApi(support, 'POST', `/api/v1/people/user/${who.id}/enable`, { reason: 'SUP-44' })).body).toEqual({
      status: 'active',
    });
    expect((await consoleApi(support, 'POST', `/api/v1/people/user/not-a-user/enable`, { reason: 'x' })).status).toBe(404);
  });
});
