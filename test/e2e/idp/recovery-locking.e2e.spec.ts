import { Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import { SecurityCodeGuard } from '#libs/recovery';
import { expectPage, startHarness, withoutCsrf, type Harness } from '../../support/journeys.js';
import {
  GENERIC_TEXT,
  apiRecoveryStart,
  apiRecoveryStep,
  forgotEnterpriseId,
  forgotPassword,
  nextRecoveryCode,
  recoveryCodeMails,
  userRow,
} from '../../support/recovery.js';
import { WebClient, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * Locking: wrong security codes counted per user across flows, the blocked notice, support's
 * unlock, and throttling per address and per target (all state in PostgreSQL).
 */
describe('recovery locking and throttling', () => {
  let h: Harness;
  let org: string;

  beforeAll(async () => {
    h = await startHarness();
    org = await seedOrganization(h.db.dataSource, 'acme');
  });

  afterAll(async () => {
    await h.close();
  });

  beforeEach(() => {
    h.clock.advance(Duration.ofHours(2));
  });

  const db = () => h.db.dataSource;
  /** A browser at its own address, so the per-address throttle of one test does not reach the next. */
  let lastIp = 0;
  const browser = () => {
    const web = new WebClient(h.app.url);
    web.extraHeaders['X-Forwarded-For'] = `198.51.100.${++lastIp}`;
    return web;
  };
  const blockedMails = (address: string) =>
    h.mail.messagesTo(address).filter((m) => m.subject === 'Recovery of your Gatehouse account is blocked');
  const settle = () => new Promise((resolve) => setTimeout(resolve, 500));

  it('5 wrong security codes lock recovery: the same generic answers, one blocked email, a sixth correct code does not recover; unlock() re-enables', async () => {
    const email = 'lin@example.com';
    await seedUser(db(), org, { enterpriseId: 'lin.locked', password: 'a password for lin 1', email, securityCode: '40817263' });
    const web = browser();
    const first = await forgotPassword(web, 'lin.locked', '11111119');
    const pages = [first];
    for (let i = 2; i <= 5; i++) pages.push(await forgotPassword(web, 'lin.locked', '11111119'));
    for (const page of pages) {
      expect(page.status).toBe(200);
      expect(withoutCsrf(page.html)).toBe(withoutCsrf(first.html));
    }
    expect(text(first.html)).toContain(GENERIC_TEXT);

    const user = await userRow(db(), 'lin.locked');
    expect(user.recovery_failed_attempts).toBe(5);
    expect(user.recovery_locked_at).toEqual(h.clock.now());
    const notice = await h.mail.waitFor(
      (m) => m.envelope.to.includes(email) && m.subject === 'Recovery of your Gatehouse account is blocked',
    );
    expect(notice.text).toContain('only they can unlock it');
    expect(containsLink(notice.text)).toBe(false);

    // The sixth attempt, with the correct code, sees the same generic step and gets no code.
    h.clock.advance(Duration.ofMinutes(1));
    const sixth = await forgotPassword(web, 'lin.locked', '40817263');
    expect(sixth.status).toBe(200);
    expect(withoutCsrf(sixth.html)).toBe(withoutCsrf(first.html));
    // By email (forgot Enterprise ID) it is blocked just the same.
    expect(withoutCsrf((await forgotEnterpriseId(browser(), email, '40817263')).html)).toContain(GENERIC_TEXT);
    await settle();
    expect(recoveryCodeMails(h.mail, email)).toHaveLength(0);
    expect(blockedMails(email)).toHaveLength(1);
    expect(text((await web.post('/recover/otp', { action: 'verify', code: '123456' })).html)).toContain('That code is not correct');
    expect((await userRow(db(), 'lin.locked')).recovery_failed_attempts).toBe(5);

    // Support unlocks (the support console calls this); the correct code now recovers.
    const guard = h.app.app.get(SecurityCodeGuard, { strict: false });
    expect(await guard.unlock(user.id, { type: 'staff', id: 'staff-1' }, 'Identity checked by phone')).toEqual({
      wasLocked: true,
      failedAttempts: 5,
    });
    h.clock.advance(Duration.ofMinutes(20));
    await forgotPassword(web, 'lin.locked', '40817263');
    const code = await nextRecoveryCode(h.mail, email, 0);
    expectPage(await web.post('/recover/otp', { action: 'verify', code }), 200, 'Choose a new password');
    expectPage(
      await web.post('/recover/new-password', { password: 'a new password for lin', confirm_password: 'a new password for lin' }),
      200,
      'Your password was changed.',
    );
    expect(blockedMails(email)).toHaveLength(1);
  });

  it('counts wrong codes per user across flows (by email, by Enterprise ID, pages and API); a correct one resets the count', async () => {
    const email = 'mixed@example.com';
    await seedUser(db(), org, { enterpriseId: 'mixed.user', password: 'a password for mixed 1', email, securityCode: '40817263' });
    await forgotEnterpriseId(browser(), email, '22222228');
    await forgotPassword(browser(), 'mixed.user', '22222228');
    expect((await userRow(db(), 'mixed.user')).recovery_failed_attempts).toBe(2);
    // A correct code resets the count.
    await forgotPassword(browser(), 'mixed.user', '40817263');
    expect((await userRow(db(), 'mixed.user')).recovery_failed_attempts).toBe(0);

    await forgotEnterpriseId(browser(), email, '22222228');
    await forgotEnterpriseId(browser(), email, '22222228');
    await forgotPassword(browser(), 'mixed.user', '22222228');
    const flow = await apiRecoveryStart(h.app.url, 'password', { 'X-Forwarded-For': '203.0.113.7' });
    await apiRecoveryStep(
      h.app.url,
      flow,
      'identify',
      { enterprise_id: 'mixed.user', security_code: '22222228' },
      { 'X-Forwarded-For': '203.0.113.7' },
    );
    expect((await userRow(db(), 'mixed.user')).recovery_failed_attempts).toBe(4);
    expect((await userRow(db(), 'mixed.user')).recovery_locked_at).toBeNull();
    const apiFlow = await apiRecoveryStart(h.app.url, 'enterprise_id');
    const last = await apiRecoveryStep(
      h.app.url,
      apiFlow,
      'identify',
      { email, security_code: '22222228' },
      { 'X-Forwarded-For': '203.0.113.8' },
    );
    expect(last.body).toEqual({ flow_id: apiFlow.id, goal: 'enterprise_id', step: 'code_sent', message: GENERIC_TEXT });
    expect((await userRow(db(), 'mixed.user')).recovery_locked_at).not.toBeNull();
    await h.mail.waitFor((m) => m.envelope.to.includes(email) && m.subject === 'Recovery of your Gatehouse account is blocked');
  });

  it("follows the organization's limit (3)", async () => {
    const strict = await seedOrganization(db(), 'strict', { recovery_max_failures: 3 });
    await seedUser(db(), strict, {
      enterpriseId: 'three.strikes',
      password: 'a password for three 1',
      email: 'three@example.com',
      securityCode: '40817263',
    });
    for (let i = 0; i < 2; i++) await forgotPassword(browser(), 'three.strikes', '33333337');
    expect((await userRow(db(), 'three.strikes')).recovery_locked_at).toBeNull();
    await forgotPassword(browser(), 'three.strikes', '33333337');
    expect((await userRow(db(), 'three.strikes')).recovery_locked_at).not.toBeNull();
    await forgotPassword(browser(), 'three.strikes', '40817263');
    await settle();
    expect(recoveryCodeMails(h.mail, 'three@example.com')).toHaveLength(0);
    expect(blockedMails('three@example.com')).toHaveLength(1);
  });

  it('throttles per target, alike for known and unknown targets, and lets go once the delay passed', async () => {
    await seedUser(db(), org, {
      enterpriseId: 'known.target',
      password: 'a password for known 1',
      email: 'kt@example.com',
      securityCode: '40817263',
    });
    const policy = await db().query(`SELECT organization_id FROM users WHERE enterprise_id_key = 'known.target'`);
    await db().query(`UPDATE organization_policies SET recovery_max_failures = 10 WHERE organization_id = $1`, [policy[0].organization_id]);
    for (const target of ['known.target', 'nobody.at.all']) {
      for (let i = 0; i < 6; i++) expect((await forgotPassword(browser(), target, '55555553')).status).toBe(200);
      const throttled = await forgotPassword(browser(), target, '55555553');
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('retry-after')).toBe('2');
      expect(text(throttled.html)).toContain('Too many attempts. Try again in 2 seconds.');
    }
    await db().query(`UPDATE organization_policies SET recovery_max_failures = 5 WHERE organization_id = $1`, [policy[0].organization_id]);
    await db().query(`UPDATE users SET recovery_failed_attempts = 0, recovery_locked_at = NULL WHERE enterprise_id_key = 'known.target'`);
    h.clock.advance(Duration.ofSeconds(3));
    expect(text((await forgotPassword(browser(), 'known.target', '40817263')).html)).toContain(GENERIC_TEXT);
    await nextRecoveryCode(h.mail, 'kt@example.com', 0);
  });

  it('throttles per client address across targets', async () => {
    const headers = { 'X-Forwarded-For': '192.0.2.99' };
    for (let i = 0; i < 21; i++) {
      const flow = await apiRecoveryStart(h.app.url, 'password', headers);
      const r = await apiRecoveryStep(h.app.url, flow, 'identify', { enterprise_id: `sprayed.${i}`, security_code: '40817263' }, headers);
      expect(r.status).toBe(200);
    }
    const flow = await apiRecoveryStart(h.app.url, 'password', headers);
    const throttled = await apiRecoveryStep(
      h.app.url,
      flow,
      'identify',
      { enterprise_id: 'sprayed.last', security_code: '40817263' },
      headers,
    );
    expect(throttled.status).toBe(429);
    expect(throttled.body.error).toMatchObject({ code: 'throttled', retry_after: 1 });
    // Another address is not affected.
    const other = await apiRecoveryStart(h.app.url, 'password');
    expect(
      (
        await apiRecoveryStep(
          h.app.url,
          other,
          'identify',
          { enterprise_id: 'sprayed.last', security_code: '40817263' },
          { 'X-Forwarded-For': '192.0.2.100' },
        )
      ).status,
    ).toBe(200);
    const rows = await db().query(`SELECT key, failures FROM throttle_counters WHERE key = 'recovery:ip:192.0.2.99'`);
    expect(rows).toEqual([{ key: 'recovery:ip:192.0.2.99', failures: 21 }]);
  });
});
