import { Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import {
  api,
  codeMails,
  enroll,
  enrollUntilEmailCode,
  expectPage,
  nextEmailCode,
  errorLines,
  startHarness,
  submitPassword,
  withoutCsrf,
  type Harness,
} from '../../support/journeys.js';
import { WebClient, seedLegacyAccount, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * Enrollment from legacy credentials over the hosted pages, with a real SMTP server and an
 * SMS webhook receiver; codes are read from the messages they received.
 */
describe('enrollment from legacy credentials (hosted pages)', () => {
  let h: Harness;
  let org: string;

  beforeAll(async () => {
    h = await startHarness();
    org = await seedOrganization(h.db.dataSource, 'acme');
  });

  afterEach(() => {
    expect(errorLines(h.app)).toEqual([]);
  });

  afterAll(async () => {
    await h.close();
  });

  const db = () => h.db.dataSource;

  it('walks sign-in with legacy credentials -> confirm -> credentials -> email code -> signed in', async () => {
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-1001', password: 'old-Secret-1', email: 'ada@example.com' });
    const web = new WebClient(h.app.url);
    await web.get('/signin');
    expect(text(web.last!.html)).toContain('User ID');
    const confirm = await web.post('/signin', { user_id: 'l-1001', password: 'old-Secret-1' });
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain('value="Ada"');
    expect(confirm.html).toContain('value="ada@example.com"');
    await web.post('/enroll/confirm', { action: 'confirm' });
    expect(text(web.last!.html)).toContain('Create your Enterprise ID');
    const sent = await web.post('/enroll/credentials', {
      enterprise_id: 'ada.lovelace',
      password: 'analytical engine 1843',
      confirm_password: 'analytical engine 1843',
      security_code: '27182818',
      confirm_security_code: '27182818',
      mobile: '',
    });
    expect(text(sent.html)).toContain('We sent a 6-digit code by email to a***@example.com');
    const code = await h.mail.waitForCode('ada@example.com');
    const done = await web.post('/enroll/otp', { action: 'verify', code });
    expect(done.status).toBe(200);
    expect(text(done.html)).toContain('ada.lovelace');
    expect(web.cookie('session')).toBeDefined();
    const [user] = await db().query(`SELECT * FROM users WHERE enterprise_id_key = 'ada.lovelace'`);
    expect(user.email_verified_at).not.toBeNull();
    const [legacy] = await db().query(`SELECT status, user_id, hash_format FROM legacy_accounts WHERE legacy_user_id = 'L-1001'`);
    expect(legacy).toEqual({ status: 'enrolled', user_id: user.id, hash_format: null });
  });

  it('verifies a mobile number given at enrollment by its own SMS code, which then makes it an OTP channel', async () => {
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-2001', password: 'old-Secret-2', email: 'bob@example.com' });
    const web = new WebClient(h.app.url);
    const seen = codeMails(h.mail, 'bob@example.com').length;
    await enrollUntilEmailCode(web, {
      legacyUserId: 'L-2001',
      legacyPassword: 'old-Secret-2',
      email: 'bob@example.com',
      enterpriseId: 'bob.mobile',
      password: 'a long and new password 2',
      mobile: '+39 333 123 4567',
    });
    const code = await nextEmailCode(h.mail, 'bob@example.com', seen);
    const mobileStep = expectPage(await web.post('/enroll/otp', { action: 'verify', code }), 200, 'Verify your mobile number');
    expect(text(mobileStep.html)).toContain('We sent a 6-digit code by text message to +39 *** *** 4567');
    // The email proved the address: the user exists and is signed in, the mobile is not verified yet.
    expect(web.cookie('session')).toBeDefined();
    const [before] = await db().query(`SELECT id, mobile, mobile_verified_at FROM users WHERE enterprise_id_key = 'bob.mobile'`);
    expect(before).toMatchObject({ mobile: '+393331234567', mobile_verified_at: null });

    const smsCode = await h.sms.waitForCode('+393331234567');
    const done = expectPage(await web.post('/enroll/mobile', { action: 'verify', code: smsCode }), 200, 'Your account');
    expect(text(done.html)).toContain('+393331234567 (verified)');
    const [after] = await db().query(`SELECT mobile_verified_at FROM users WHERE id = $1`, [before.id]);
    expect(after.mobile_verified_at).toEqual(h.clock.now());
    const events = await db().query(
      `SELECT event_type FROM audit_events WHERE subject_id = $1 AND event_type = 'contact.mobile_verified'`,
      [before.id],
    );
    expect(events).toHaveLength(1);

    // The next sign-in offers the verified mobile as a channel.
    const next = await submitPassword(new WebClient(h.app.url), 'bob.mobile', 'a long and new password 2');
    expect(text(next.html)).toContain('Text message');
    expect(text(next.html)).toContain('Voice call');
  });

  it('"Verify later" keeps the mobile unverified, and it is not offered as an OTP channel at the next sign-in', async () => {
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-2002', password: 'old-Secret-3', email: 'cy@example.com' });
    const web = new WebClient(h.app.url);
    const seen = codeMails(h.mail, 'cy@example.com').length;
    await enrollUntilEmailCode(web, {
      legacyUserId: 'L-2002',
      legacyPassword: 'old-Secret-3',
      email: 'cy@example.com',
      enterpriseId: 'cy.later',
      password: 'a long and new password 3',
      mobile: '+393339876543',
    });
    const code = await nextEmailCode(h.mail, 'cy@example.com', seen);
    const mobileStep = expectPage(await web.post('/enroll/otp', { action: 'verify', code }), 200, 'Verify your mobile number');
    expect(text(mobileStep.html)).toContain('Verify later');
    const done = expectPage(await web.post('/enroll/mobile', { action: 'skip' }), 200, 'Your account');
    expect(text(done.html)).toContain('+393339876543 (not verified)');
    const [user] = await db().query(`SELECT mobile, mobile_verified_at FROM users WHERE enterprise_id_key = 'cy.later'`);
    expect(user).toEqual({ mobile: '+393339876543', mobile_verified_at: null });

    // Next sign-in: no choice of channels, the code goes straight to the email.
    const smsBefore = h.sms.requests.length;
    const next = await submitPassword(new WebClient(h.app.url), 'cy.later', 'a long and new password 3');
    expect(text(next.html)).toContain('We sent a 6-digit code by email to c***@example.com');
    expect(text(next.html)).not.toContain('Text message');
    expect(text(next.html)).not.toContain('Voice call');
    expect(next.html).not.toContain('name="channel"');
    expect(h.sms.requests.length).toBe(smsBefore);
  });

  it('"Report incorrect data" records a correction request, audits it, thanks the user, and keeps the account pending', async () => {
    const legacyId = await seedLegacyAccount(db(), org, { legacyUserId: 'L-3001', password: 'old-Secret-4', email: 'dee@example.com' });
    const web = new WebClient(h.app.url);
    expectPage(await submitPassword(web, 'L-3001', 'old-Secret-4'), 200, 'Confirm your details');

    // Empty and too long reports are refused with a field error, and nothing is recorded.
    for (const message of ['', '   ', 'x'.repeat(1001)]) {
      const refused = await web.post('/enroll/confirm', { action: 'report', message });
      expect(refused.status).toBe(422);
      expect(refused.html).toMatch(/id="message-error">Tell us what is wrong, in at most 1000 characters\./u);
      expect(text(refused.html)).toContain('Confirm your details');
    }
    expect(await db().query(`SELECT 1 FROM correction_requests WHERE legacy_account_id = $1`, [legacyId])).toHaveLength(0);

    const thanks = await web.post('/enroll/confirm', { action: 'report', message: 'My last name is  Dee-Smith,\nnot Lovelace.' });
    expect(thanks.status).toBe(200);
    expect(text(thanks.html)).toContain('Thank you');
    expect(text(thanks.html)).toContain('support');
    expect(web.cookie('enroll')).toBeUndefined();

    const requests = await db().query(`SELECT id, message, status, organization_id FROM correction_requests WHERE legacy_account_id = $1`, [
      legacyId,
    ]);
    expect(requests).toEqual([
      { id: expect.any(String), message: 'My last name is Dee-Smith, not Lovelace.', status: 'open', organization_id: org },
    ]);
    const [event] = await db().query(
      `SELECT actor_type, subject_type, subject_id, details FROM audit_events WHERE event_type = 'enrollment.correction_requested' AND subject_id = $1`,
      [legacyId],
    );
    expect(event).toEqual({
      actor_type: 'anonymous',
      subject_type: 'legacy_account',
      subject_id: legacyId,
      details: { correction_request_id: requests[0].id },
    });
    const [account] = await db().query(`SELECT status, user_id FROM legacy_accounts WHERE id = $1`, [legacyId]);
    expect(account).toEqual({ status: 'pending', user_id: null });
    expect(await db().query(`SELECT 1 FROM users WHERE email_key = 'dee@example.com'`)).toHaveLength(0);
    // The user gets an acknowledgement without links.
    const ack = await h.mail.waitFor((m) => m.envelope.to.includes('dee@example.com') && m.subject.includes('correction'));
    expect(containsLink(ack.text)).toBe(false);

    // Still pending: the legacy credentials start enrollment again.
    expectPage(await submitPassword(new WebClient(h.app.url), 'L-3001', 'old-Secret-4'), 200, 'Confirm your details');
  });

  it('starts enrollment again at the next sign-in when the user abandoned it at any step', async () => {
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-4001', password: 'old-Secret-5', email: 'eve@example.com' });
    const e = {
      legacyUserId: 'L-4001',
      legacyPassword: 'old-Secret-5',
      email: 'eve@example.com',
      enterpriseId: 'eve.returns',
      password: 'a long and new password 5',
    };
    // Abandoned on the confirmation page.
    expectPage(await submitPassword(new WebClient(h.app.url), e.legacyUserId, e.legacyPassword), 200, 'Confirm your details');
    // Abandoned on the credentials page.
    const second = new WebClient(h.app.url);
    expectPage(await submitPassword(second, e.legacyUserId, e.legacyPassword), 200, 'Confirm your details');
    expectPage(await second.post('/enroll/confirm', { action: 'confirm' }), 200, 'Create your Enterprise ID');
    // Abandoned once the email code was sent; the same browser comes back to the sign-in page later.
    const third = new WebClient(h.app.url);
    const seen = codeMails(h.mail, e.email).length;
    await enrollUntilEmailCode(third, e);
    const abandonedCode = await nextEmailCode(h.mail, e.email, seen);
    h.clock.advance(Duration.ofMinutes(1));

    expectPage(await submitPassword(third, e.legacyUserId, e.legacyPassword), 200, 'Confirm your details');
    const [account] = await db().query(`SELECT status FROM legacy_accounts WHERE legacy_user_id = 'L-4001'`);
    expect(account.status).toBe('pending');
    expect(await db().query(`SELECT 1 FROM users WHERE email_key = 'eve@example.com'`)).toHaveLength(0);

    // The new flow goes through; the abandoned flow's code is not valid in it.
    expectPage(await third.post('/enroll/confirm', { action: 'confirm' }), 200, 'Create your Enterprise ID');
    await third.post('/enroll/credentials', {
      enterprise_id: e.enterpriseId,
      password: e.password,
      confirm_password: e.password,
      security_code: '27182818',
      confirm_security_code: '27182818',
      mobile: '',
    });
    const freshCode = await nextEmailCode(h.mail, e.email, seen + 1);
    // (Unless both codes happen to be equal: one chance in a million.)
    if (abandonedCode !== freshCode) {
      const refused = await third.post('/enroll/otp', { action: 'verify', code: abandonedCode });
      expect(text(refused.html)).toContain('That code is not correct');
    }
    expectPage(await third.post('/enroll/otp', { action: 'verify', code: freshCode }), 200, 'eve.returns');
  });

  it('after enrollment, the legacy ID with the old password points to the Enterprise ID; with a wrong one, the generic failure', async () => {
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-5001', password: 'old-Secret-6', email: 'fay@example.com' });
    await enroll(h, new WebClient(h.app.url), {
      legacyUserId: 'L-5001',
      legacyPassword: 'old-Secret-6',
      email: 'fay@example.com',
      enterpriseId: 'fay.enrolled',
      password: 'a long and new password 6',
    });

    const web = new WebClient(h.app.url);
    const retired = await submitPassword(web, 'L-5001', 'old-Secret-6');
    expect(retired.status).toBe(200);
    expect(text(retired.html)).toContain('This user ID has been replaced by your Enterprise ID');
    expect(text(retired.html)).not.toContain('Confirm your details');
    expect(web.cookie('session')).toBeUndefined();
    expect(web.cookie('enroll')).toBeUndefined();

    const wrong = await submitPassword(new WebClient(h.app.url), 'L-5001', 'not-the-password');
    const unknown = await submitPassword(new WebClient(h.app.url), 'L-9999', 'not-the-password');
    expect(wrong.status).toBe(401);
    expect(text(wrong.html)).toContain('The User ID or password is not correct.');
    expect(text(wrong.html)).not.toContain('Enterprise ID and new password');
    expect(withoutCsrf(wrong.html)).toBe(withoutCsrf(unknown.html));
    expect(await db().query(`SELECT 1 FROM users WHERE email_key = 'fay@example.com'`)).toHaveLength(1);
  });

  it.each([
    ['different Enterprise IDs', 'gus.one', 'gus.two'],
    ['the same Enterprise ID', 'gus.same', 'gus.same'],
  ])('two racing enrollments of one legacy account (%s): exactly one wins, the other is told clearly', async (_, firstId, secondId) => {
    const legacyUserId = `L-6${firstId.length}${secondId.length}`;
    const email = `${firstId.replace('.', '-')}@example.com`;
    const legacyId = await seedLegacyAccount(db(), org, { legacyUserId, password: 'old-Secret-7', email });
    const a = new WebClient(h.app.url);
    const b = new WebClient(h.app.url);
    const common = { legacyUserId, legacyPassword: 'old-Secret-7', email, password: 'a long and new password 7' };
    const seen = codeMails(h.mail, email).length;
    await enrollUntilEmailCode(a, { ...common, enterpriseId: firstId });
    const codeA = await nextEmailCode(h.mail, email, seen);
    await enrollUntilEmailCode(b, { ...common, enterpriseId: secondId });
    const codeB = await nextEmailCode(h.mail, email, seen + 1);

    const [pageA, pageB] = await Promise.all([
      a.post('/enroll/otp', { action: 'verify', code: codeA }),
      b.post('/enroll/otp', { action: 'verify', code: codeB }),
    ]);
    const won = [pageA, pageB].filter((p) => text(p.html).includes('Your account'));
    const lost = [pageA, pageB].filter((p) => !text(p.html).includes('Your account'));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(text(lost[0]!.html)).toContain('This account has already been set up. Sign in with your Enterprise ID.');

    const users = await db().query(`SELECT id, enterprise_id FROM users WHERE email_key = $1`, [email]);
    expect(users).toHaveLength(1);
    const [account] = await db().query(`SELECT status, user_id FROM legacy_accounts WHERE id = $1`, [legacyId]);
    expect(account).toEqual({ status: 'enrolled', user_id: users[0].id });
    const winner = won[0] === pageA ? a : b;
    const loser = won[0] === pageA ? b : a;
    expect(winner.cookie('session')).toBeDefined();
    expect(loser.cookie('session')).toBeUndefined();
  });

  it('enrolls through the JSON API, with field errors keyed like the request', async () => {
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-9001', password: 'old-Secret-9', email: 'ida@example.com', firstName: 'Ida' });
    const started = await api(h.app.url, 'POST', '/api/v1/signin', { body: {} });
    const signin = { id: started.body.flow_id as string, token: started.body.flow_token as string };
    const legacy = await api(h.app.url, 'POST', `/api/v1/signin/${signin.id}/credentials`, {
      flowToken: signin.token,
      body: { user_id: 'L-9001', password: 'old-Secret-9' },
    });
    expect(legacy.body).toMatchObject({ step: 'enrollment', enrollment: { flow_id: expect.any(String), flow_token: expect.any(String) } });
    const flow = legacy.body.enrollment as { flow_id: string; flow_token: string };
    const step = (action: string, body: Record<string, unknown> = {}) =>
      api(h.app.url, 'POST', `/api/v1/enrollment/${flow.flow_id}/${action}`, { flowToken: flow.flow_token, body });

    const shown = await api(h.app.url, 'GET', `/api/v1/enrollment/${flow.flow_id}`, { flowToken: flow.flow_token });
    expect(shown.body).toMatchObject({ step: 'confirm', prefill: { first_name: 'Ida', last_name: 'Lovelace', email: 'ida@example.com' } });
    expect((await step('confirm')).body).toMatchObject({ step: 'credentials' });
    const choice = {
      enterprise_id: 'ida!',
      password: 'a long and new password 9',
      confirm_password: 'a long and new password 9',
      security_code: '1111111',
      confirm_security_code: '1111111',
      mobile: 'not a number',
    };
    const refused = await step('credentials', choice);
    expect(refused.status).toBe(422);
    expect(Object.keys(refused.body.field_errors as object).sort()).toEqual(['enterprise_id', 'mobile', 'security_code']);
    const sent = await step('credentials', {
      ...choice,
      enterprise_id: 'ida.api',
      security_code: '27182818',
      confirm_security_code: '27182818',
      mobile: '',
    });
    expect(sent.body).toMatchObject({ step: 'email_otp', delivery: 'sent' });
    const code = await nextEmailCode(h.mail, 'ida@example.com', 0);
    const done = await step('email-otp', { code });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ step: 'done', session_token: expect.any(String) });
    expect((await api(h.app.url, 'GET', '/api/v1/account/devices', { session: done.body.session_token as string })).status).toBe(200);
  });

  it('refuses taken, look-alike and malformed Enterprise IDs and weak passwords with field errors', async () => {
    const other = await seedOrganization(db(), 'other');
    await seedUser(db(), other, { enterpriseId: 'grace.hopper', password: 'whatever password 1', email: 'grace@other.example' });
    await seedLegacyAccount(db(), other, { legacyUserId: 'L-OTHER', password: 'old-Secret-x', email: 'otto@other.example' });
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-7001', password: 'old-Secret-Pass-8', email: 'hal@example.com' });
    const web = new WebClient(h.app.url);
    expectPage(await submitPassword(web, 'L-7001', 'old-Secret-Pass-8'), 200, 'Confirm your details');
    expectPage(await web.post('/enroll/confirm', { action: 'confirm' }), 200, 'Create your Enterprise ID');

    const good = { enterprise_id: 'hal.ninethousand', password: 'a long and new password 8', security_code: '27182818', mobile: '' };
    const attempt = async (changes: Partial<typeof good>) => {
      const fields = { ...good, ...changes };
      return await web.post('/enroll/credentials', {
        ...fields,
        confirm_password: fields.password,
        confirm_security_code: fields.security_code,
      });
    };
    const fieldError = (html: string, field: string) => new RegExp(`id="${field}-error">([^<]*)<`, 'u').exec(html)?.[1];

    const cases: Array<[Partial<typeof good>, string, RegExp]> = [
      [{ enterprise_id: 'Grace.Hopper' }, 'enterprise_id', /taken or too similar/u],
      [{ enterprise_id: 'grace_hopper' }, 'enterprise_id', /taken or too similar/u],
      [{ enterprise_id: 'grace.hoppér' }, 'enterprise_id', /taken or too similar/u],
      [{ enterprise_id: 'l-other' }, 'enterprise_id', /taken or too similar/u],
      [{ enterprise_id: 'hal 9000!' }, 'enterprise_id', /only letters, digits, dots, underscores and hyphens/u],
      [{ password: 'qwerty123456' }, 'password', /too common/u],
      [{ enterprise_id: 'hal.ninethousand', password: 'HAL.NineThousand' }, 'password', /may not be your Enterprise ID/u],
      [{ password: 'old-Secret-Pass-8' }, 'password', /must differ from your old one/u],
      [{ security_code: '123456' }, 'security_code', /consecutive digits/u],
    ];
    for (const [changes, field, message] of cases) {
      const page = await attempt(changes);
      expect({ changes, status: page.status }).toEqual({ changes, status: 422 });
      expect({ changes, error: fieldError(page.html, field) }).toEqual({ changes, error: expect.stringMatching(message) });
      expect(page.html).toMatch(new RegExp(`name="${field}"[^>]*aria-invalid="true"`, 'u'));
    }
    // Nothing was sent or created along the way; the valid choice then goes through.
    expect(codeMails(h.mail, 'hal@example.com')).toHaveLength(0);
    expectPage(await attempt({}), 200, 'We sent a 6-digit code by email to h***@example.com');
  });
});
