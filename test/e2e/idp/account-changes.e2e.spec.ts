import argon2 from 'argon2';
import { Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import {
  completeStepUp,
  fieldError,
  fieldValue,
  noticeTo,
  postRaw,
  postWithoutCsrf,
  sessionOf,
  userRow,
  type Person,
} from '../../support/account-changes.js';
import {
  api,
  codeMails,
  expectPage,
  nextEmailCode,
  sha256,
  signInByEmail,
  startHarness,
  submitPassword,
  type Harness,
} from '../../support/journeys.js';
import { extractCode } from '../../support/mail.js';
import { WebClient, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * Signed-in credential changes (issue 4, flow 4) and the step-up that guards them
 * (issue 5): real HTTP against the IdP, a real SMTP server, a FixedClock.
 */
describe('signed-in changes: step-up, password and security code', () => {
  let h: Harness;
  let org: string;
  let n = 0;

  beforeAll(async () => {
    h = await startHarness();
    org = await seedOrganization(h.db.dataSource, 'acme');
  });

  afterAll(async () => {
    await h.close();
  });

  const db = () => h.db.dataSource;

  /** A fresh user with email only (codes go straight to the email at sign-in). */
  async function person(options: { securityCode?: string } = {}): Promise<Person & { id: string }> {
    n++;
    const who = { userId: `user.${n}`, password: `the first password ${n}`, email: `user${n}@example.com` };
    const id = await seedUser(db(), org, {
      enterpriseId: who.userId,
      password: who.password,
      email: who.email,
      ...(options.securityCode ? { securityCode: options.securityCode } : {}),
    });
    return { ...who, id };
  }

  it('does not ask for a step-up right after an OTP sign-in, and asks once that OTP is older than 10 minutes', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInByEmail(h, web, who);

    expectPage(await web.get('/account'), 200, 'Change password');
    const form = expectPage(await web.get('/account/password'), 200, 'Current password');
    expect(text(form.html)).not.toContain('Confirm it is you');
    h.clock.advance(Duration.ofMinutes(9));
    expectPage(await web.get('/account/password'), 200, 'Current password');

    h.clock.advance(Duration.ofMinutes(2));
    const asked = expectPage(await web.get('/account/password'), 200, 'Confirm it is you');
    expect(text(asked.html)).toContain('Before you change your password, confirm it is you with a one-time code.');
    expect(asked.html).not.toContain('name="current_password"');

    // Opening the page sent nothing; the button does.
    const seen = codeMails(h.mail, who.email).length;
    expect(await db().query(`SELECT 1 FROM otp_challenges WHERE subject_id = $1 AND purpose = 'step_up'`, [who.id])).toHaveLength(0);
    const sent = expectPage(
      await web.post('/account/step-up', { action: 'send', return_to: fieldValue(asked.html, 'return_to') }),
      200,
      'We sent a 6-digit code by email to u***@example.com',
    );
    expect(text(sent.html)).toContain('One-time code');
    expect(text(sent.html)).not.toContain('Remember this device');
    const code = await nextEmailCode(h.mail, who.email, seen);
    const mail = codeMails(h.mail, who.email)[seen]!;
    expect(mail.subject).toContain('to confirm it is you before a sensitive action');
    expect(containsLink(mail.text)).toBe(false);

    const back = await web.post('/account/step-up', {
      action: 'verify',
      code,
      flow: fieldValue(sent.html, 'flow'),
      return_to: '/account/password',
    });
    expectPage(back, 200, 'Current password');

    const session = await sessionOf(db(), web);
    const verifications = session.verifications as Array<{ method: string; at: string }>;
    expect(verifications.map((v) => v.method)).toEqual(['password', 'otp', 'otp']);
    expect(verifications[2]!.at).toBe(h.clock.now().toISOString());
    expect(session.acr).toBe('urn:gatehouse:loa:2');
    const [challenge] = await db().query(`SELECT purpose, flow_id FROM otp_challenges WHERE subject_id = $1 AND purpose = 'step_up'`, [
      who.id,
    ]);
    expect(challenge).toEqual({ purpose: 'step_up', flow_id: session.id });
    const events = await db().query(`SELECT details FROM audit_events WHERE event_type = 'session.stepped_up' AND subject_id = $1`, [
      who.id,
    ]);
    expect(events).toEqual([{ details: { session_id: session.id, channel: 'email', renewed: true } }]);

    // Fresh again for the next 10 minutes: every sensitive page opens directly.
    h.clock.advance(Duration.ofMinutes(9));
    expectPage(await web.get('/account/security-code'), 200, 'New security code');
    expectPage(await web.get('/account/email'), 200, 'New email');
  });

  it('after a remembered-device sign-in (no OTP), every change asks for a step-up first, and a direct post changes nothing', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInByEmail(h, web, who, { remember: true });
    expect(web.cookie('device')).toBeDefined();
    await web.get('/account');
    expectPage(await web.post('/signout', {}), 200, 'Sign in');
    const mailsBefore = codeMails(h.mail, who.email).length;
    expectPage(await submitPassword(web, who.userId, who.password), 200, 'Your account');
    expect(codeMails(h.mail, who.email)).toHaveLength(mailsBefore);
    expect((await sessionOf(db(), web)).acr).toBe('urn:gatehouse:loa:1');

    for (const path of ['/account/password', '/account/security-code', '/account/mobile', '/account/email']) {
      const page = expectPage(await web.get(path), 200, 'Confirm it is you');
      expect(fieldValue(page.html, 'return_to')).toBe(path);
    }

    // Posting the form anyway (with a valid CSRF token) is answered with the step-up, and nothing changes.
    const before = await userRow(db(), who.id);
    const posted = await web.post('/account/password', {
      current_password: who.password,
      new_password: 'a brand new password 1 vermilion kestrel',
      confirm_password: 'a brand new password 1 vermilion kestrel',
    });
    expect(text(posted.html)).toContain('For your security, confirm it is you with a one-time code first.');
    expect(text(posted.html)).toContain('Confirm it is you');
    const added = await web.post('/account/mobile', { action: 'send', mobile: '+393331112222', channel: 'sms' });
    expectPage(added, 200, 'Confirm it is you');
    expect(h.sms.requests.filter((r) => r.body?.to === '+393331112222')).toHaveLength(0);
    const after = await userRow(db(), who.id);
    expect(after.password_hash).toBe(before.password_hash);
    expect(after.credential_version).toBe(before.credential_version);
    expect(after.mobile).toBeNull();

    // The JSON API says the same.
    const token = web.cookie('session')!;
    const status = await api(h.app.url, 'GET', '/api/v1/account/step-up', { session: token });
    expect(status.body).toMatchObject({
      fresh: false,
      fresh_until: null,
      channels: [{ channel: 'email', destination: 'u***@example.com' }],
    });
    const refused = await api(h.app.url, 'POST', '/api/v1/account/password', {
      session: token,
      body: {
        current_password: who.password,
        new_password: 'a brand new password 1 vermilion kestrel',
        confirm_password: 'a brand new password 1 vermilion kestrel',
      },
    });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ status: 'step_up_required', error: { code: 'step_up_required' } });

    // After the step-up the same page shows the form.
    const stepping = (await sessionOf(db(), web)).id;
    await web.get('/account/password');
    expectPage(await completeStepUp(h, web, who.email), 200, 'Current password');
    expect(await sessionOf(db(), web)).toMatchObject({ id: stepping, acr: 'urn:gatehouse:loa:2' });

    // The rise in assurance renewed the session's token: the browser holds a new one, and the loa:1 token
    // (which may have leaked, or been planted) works neither at the higher level nor at all.
    expect(web.cookie('session')).toMatch(/^[A-Za-z0-9_-]{43}$/u);
    expect(web.cookie('session')).not.toBe(token);
    expect(await db().query(`SELECT id FROM sessions WHERE token_hash = $1`, [sha256(token)])).toEqual([]);
    expect((await api(h.app.url, 'GET', '/api/v1/account/step-up', { session: token })).status).toBe(401);
    const stale = new WebClient(h.app.url);
    stale.cookies.set('gh_session', token);
    const away = await stale.get('/account/password', false);
    expect(away.status).toBe(303);
    expect(away.location).toBe('/signin?return_to=%2Faccount%2Fpassword');
    expect((await stale.get('/account', false)).location).toBe('/signin?return_to=%2Faccount');
  });

  it('changes the password: old one refused, new one works, other sessions end, this one lives, remembered devices need a code, notice sent', async () => {
    const who = await person();
    const a = new WebClient(h.app.url);
    await signInByEmail(h, a, who, { remember: true });
    const b = new WebClient(h.app.url);
    await signInByEmail(h, b, who);
    const sessionB = await sessionOf(db(), b);
    const [device] = await db().query(`SELECT id FROM remembered_devices WHERE user_id = $1`, [who.id]);

    expectPage(await a.get('/account/password'), 200, 'Current password');
    const newPassword = 'correct horse battery staple 42';
    const done = await a.post('/account/password', {
      current_password: who.password,
      new_password: newPassword,
      confirm_password: newPassword,
    });
    expectPage(done, 200, 'Your password was changed.');
    expect(a.last!.headers.get('cache-control')).toBe('no-store');

    const user = await userRow(db(), who.id);
    expect(user.credential_version).toBe(2);
    expect(user.password_hash).toMatch(/^\$argon2id\$/u);
    expect(await argon2.verify(user.password_hash, newPassword)).toBe(true);

    // This session lives on with the new version; the other one ended.
    const sessionA = await sessionOf(db(), a);
    expect(sessionA).toMatchObject({ credential_version: 2, ended_at: null });
    expectPage(await a.get('/account'), 200, 'Your account');
    const [endedB] = await db().query(`SELECT ended_at, end_reason FROM sessions WHERE id = $1`, [sessionB.id]);
    expect(endedB).toEqual({ ended_at: h.clock.now(), end_reason: 'password_changed' });
    const bPage = await b.get('/account');
    expect(text(bPage.html)).toContain('Sign in');
    expect(text(bPage.html)).not.toContain('Your account');

    // The old password fails like any wrong password; the new one signs in.
    const old = await submitPassword(new WebClient(h.app.url), who.userId, who.password);
    expect(old.status).toBe(401);
    expect(text(old.html)).toContain('The User ID or password is not correct.');
    await signInByEmail(h, new WebClient(h.app.url), { ...who, password: newPassword });

    // The remembered device of browser A no longer skips the code.
    const [revoked] = await db().query(`SELECT revoked_at, revoked_reason FROM remembered_devices WHERE id = $1`, [device.id]);
    expect(revoked.revoked_at).not.toBeNull();
    await a.get('/account');
    await a.post('/signout', {});
    expect(a.cookie('device')).toBeDefined();
    expectPage(await submitPassword(a, who.userId, newPassword), 200, 'We sent a 6-digit code by email');

    // One notice, plain and link-free, with no code in it.
    const notice = await noticeTo(h, who.email, 'Your Gatehouse password was changed');
    expect(containsLink(notice.text)).toBe(false);
    expect(containsLink(notice.subject)).toBe(false);
    expect(extractCode(notice.subject)).toBeUndefined();
    expect(notice.text).toContain('The password of your account was changed');
    expect(notice.parsed.html ?? '').not.toMatch(/href/iu);

    const [event] = await db().query(
      `SELECT actor_type, actor_id, details FROM audit_events WHERE event_type = 'credentials.password_changed' AND subject_id = $1`,
      [who.id],
    );
    expect(event).toEqual({
      actor_type: 'user',
      actor_id: who.id,
      details: { session_id: sessionA.id, other_sessions_ended: 1, credential_version: 2 },
    });
    expect(JSON.stringify(event)).not.toContain(newPassword);
  });

  it('refuses a wrong current password (counted by the sign-in throttle) and weak or mismatched new ones, changing nothing', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    web.extraHeaders['X-Forwarded-For'] = '203.0.113.7';
    await signInByEmail(h, web, who);
    await web.get('/account/password');
    const before = await userRow(db(), who.id);

    const attempt = (current: string, next: string, confirm = next) =>
      web.post('/account/password', { current_password: current, new_password: next, confirm_password: confirm });

    const wrong = await attempt('not my password', 'a perfectly good password 1');
    expect(wrong.status).toBe(422);
    expect(fieldError(wrong.html, 'current_password')).toBe('The current password is not correct.');
    const [counter] = await db().query(`SELECT failures FROM throttle_counters WHERE key = $1`, [`signin:acct:${who.userId}`]);
    expect(counter.failures).toBe(1);

    const cases: Array<[string, string, string, RegExp]> = [
      [who.password, 'qwerty123456', 'new_password', /too common/u],
      [who.password, 'short', 'new_password', /at least 12 characters/u],
      [who.password, who.password, 'new_password', /must differ from your old one/u],
      [who.password, who.userId.toUpperCase(), 'new_password', /at least 12|may not be your Enterprise ID/u],
    ];
    for (const [current, next, field, message] of cases) {
      const page = await attempt(current, next);
      expect({ next, status: page.status }).toEqual({ next, status: 422 });
      expect({ next, error: fieldError(page.html, field) }).toEqual({ next, error: expect.stringMatching(message) });
    }
    const mismatch = await attempt(who.password, 'a perfectly good password 1', 'a perfectly good password 2');
    expect(fieldError(mismatch.html, 'confirm_password')).toBe('The passwords do not match.');
    // A right current password resets the account's counter, like a sign-in does.
    expect(await db().query(`SELECT 1 FROM throttle_counters WHERE key = $1`, [`signin:acct:${who.userId}`])).toHaveLength(0);

    // Five more wrong guesses: the sixth in a row sets a delay, for this form and for sign-in alike.
    for (let i = 0; i < 6; i++) expect((await attempt(`wrong guess ${i}`, 'a perfectly good password 1')).status).toBe(422);
    const throttled = await attempt(who.password, 'a perfectly good password 1');
    expect(throttled.status).toBe(429);
    expect(text(throttled.html)).toContain('Too many attempts. Try again in');
    const signIn = await submitPassword(new WebClient(h.app.url), who.userId, who.password);
    expect(signIn.status).toBe(429);

    const after = await userRow(db(), who.id);
    expect(after.password_hash).toBe(before.password_hash);
    expect(after.credential_version).toBe(before.credential_version);
    const refusals = await db().query<Array<{ reason: string }>>(
      `SELECT details->>'reason' AS reason FROM audit_events WHERE event_type = 'credentials.change_refused' AND subject_id = $1`,
      [who.id],
    );
    expect(refusals).toHaveLength(7);
    expect(refusals.every((r) => r.reason === 'wrong_current_password')).toBe(true);
    expect(h.mail.messagesTo(who.email).filter((m) => m.subject.includes('password was changed'))).toHaveLength(0);
    // Let the delay pass so it does not leak into other tests.
    h.clock.advance(Duration.ofSeconds(5));
  });

  it('changes the security code: current password needed, the new code typed twice, credential version bumped, recovery lock state left alone', async () => {
    const who = await person({ securityCode: '27182818' });
    await db().query(`UPDATE users SET recovery_failed_attempts = 2 WHERE id = $1`, [who.id]);
    const web = new WebClient(h.app.url);
    await signInByEmail(h, web, who);
    const other = new WebClient(h.app.url);
    await signInByEmail(h, other, who);
    const form = expectPage(await web.get('/account/security-code'), 200, 'New security code');
    expect(text(form.html)).toContain('6 to 9 digits');
    expect(text(form.html)).toContain('Confirm new security code');

    const attempt = (current: string, code: string, confirm = code) =>
      web.post('/account/security-code', { current_password: current, security_code: code, confirm_security_code: confirm });
    const cases: Array<[string, string, string, string, RegExp]> = [
      ['wrong password!', '31415926', '31415926', 'current_password', /current password is not correct/u],
      [who.password, '123456', '123456', 'security_code', /consecutive digits/u],
      [who.password, '12345', '12345', 'security_code', /6 to 9 digits/u],
      [who.password, '1234567890', '1234567890', 'security_code', /6 to 9 digits/u],
      [who.password, '31415926', '31415927', 'confirm_security_code', /do not match/u],
      [who.password, '27182818', '27182818', 'security_code', /must differ from your current one/u],
    ];
    for (const [current, code, confirm, field, message] of cases) {
      const page = await attempt(current, code, confirm);
      expect({ code, status: page.status }).toEqual({ code, status: 422 });
      expect({ code, error: fieldError(page.html, field) }).toEqual({ code, error: expect.stringMatching(message) });
    }
    expect((await userRow(db(), who.id)).credential_version).toBe(1);

    expectPage(await attempt(who.password, '31415926'), 200, 'Your security code was changed.');
    const user = await userRow(db(), who.id);
    expect(user.credential_version).toBe(2);
    expect(await argon2.verify(user.security_code_hash, '31415926')).toBe(true);
    expect(user.recovery_failed_attempts).toBe(2);
    expectPage(await web.get('/account'), 200, 'Your account');
    expect(text((await other.get('/account')).html)).not.toContain('Your account');
    const notice = await noticeTo(h, who.email, 'Your Gatehouse security code was changed');
    expect(containsLink(notice.text)).toBe(false);
    expect(notice.text).not.toContain('31415926');
    const [event] = await db().query(
      `SELECT details FROM audit_events WHERE event_type = 'credentials.security_code_changed' AND subject_id = $1`,
      [who.id],
    );
    expect(event.details).toMatchObject({ other_sessions_ended: 1, credential_version: 2 });
  });

  it('refuses a form post without the CSRF token or from another origin (403) and changes nothing', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInByEmail(h, web, who);
    const page = expectPage(await web.get('/account/password'), 200, 'Current password');
    const csrf = fieldValue(page.html, 'csrf');
    const before = await userRow(db(), who.id);
    const change = {
      current_password: who.password,
      new_password: 'an attacker password 1 vermilion kestrel',
      confirm_password: 'an attacker password 1 vermilion kestrel',
    };

    const missing = await postWithoutCsrf(web, '/account/password', change);
    expect(missing.status).toBe(403);
    expect(text(missing.html)).toContain('This form has expired or was not sent from this site.');
    const forged = await postWithoutCsrf(web, '/account/password', { ...change, csrf: 'x'.repeat(43) });
    expect(forged.status).toBe(403);
    const foreign = await postRaw(web, '/account/password', { ...change, csrf }, { Origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    const codeChange = await postWithoutCsrf(web, '/account/security-code', {
      current_password: who.password,
      security_code: '31415926',
      confirm_security_code: '31415926',
    });
    expect(codeChange.status).toBe(403);
    expect((await postWithoutCsrf(web, '/account/email', { email: 'attacker@evil.example' })).status).toBe(403);
    expect((await postWithoutCsrf(web, '/account/mobile', { action: 'send', mobile: '+393339990000', channel: 'sms' })).status).toBe(403);
    expect((await postWithoutCsrf(web, '/account/step-up', { action: 'send' })).status).toBe(403);

    const after = await userRow(db(), who.id);
    expect(after).toEqual(before);
    expect(codeMails(h.mail, 'attacker@evil.example')).toHaveLength(0);
    expect(h.sms.requests.filter((r) => r.body?.to === '+393339990000')).toHaveLength(0);
    // The same form with its token goes through (the token was right all along).
    expectPage(await web.request('POST', '/account/password', new URLSearchParams({ ...change, csrf })), 200, 'Your password was changed.');
  });

  it('a step-up code does not sign anyone in, and a sign-in code does not step up', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInByEmail(h, web, who);
    h.clock.advance(Duration.ofMinutes(11));
    const asked = expectPage(await web.get('/account/email'), 200, 'Confirm it is you');

    let seen = codeMails(h.mail, who.email).length;
    const sent = expectPage(
      await web.post('/account/step-up', { action: 'send', return_to: fieldValue(asked.html, 'return_to') }),
      200,
      'We sent a 6-digit code by email',
    );
    const stepUpCode = await nextEmailCode(h.mail, who.email, seen++);
    const other = new WebClient(h.app.url);
    expectPage(await submitPassword(other, who.userId, who.password), 200, 'We sent a 6-digit code by email');
    const loginCode = await nextEmailCode(h.mail, who.email, seen++);
    expect(codeMails(h.mail, who.email).at(-1)!.subject).toContain('to sign in');

    // (Unless both codes happen to be equal: one chance in a million.)
    if (stepUpCode !== loginCode) {
      const asLogin = await other.post('/signin/otp', { action: 'verify', code: stepUpCode });
      expect(text(asLogin.html)).toContain('That code is not correct');
      expect(other.cookie('session')).toBeUndefined();
      const asStepUp = await web.post('/account/step-up', {
        action: 'verify',
        code: loginCode,
        flow: fieldValue(sent.html, 'flow'),
        return_to: '/account/email',
      });
      expect(text(asStepUp.html)).toContain('That code is not correct. 4 attempts left.');
      expect((await sessionOf(db(), web)).acr).toBe('urn:gatehouse:loa:2');
      expect(((await sessionOf(db(), web)).verifications as unknown[]).length).toBe(2);
    }

    // Each works where it belongs.
    expectPage(
      await web.post('/account/step-up', {
        action: 'verify',
        code: stepUpCode,
        flow: fieldValue(sent.html, 'flow'),
        return_to: '/account/email',
      }),
      200,
      'New email',
    );
    expectPage(await other.post('/signin/otp', { action: 'verify', code: loginCode }), 200, 'Your account');

    // A step-up flow belongs to the session that started it.
    h.clock.advance(Duration.ofMinutes(11));
    const again = expectPage(await web.get('/account/email'), 200, 'Confirm it is you');
    const theirs = expectPage(
      await web.post('/account/step-up', { action: 'send', return_to: fieldValue(again.html, 'return_to') }),
      200,
      'We sent a 6-digit code by email',
    );
    const code = await nextEmailCode(h.mail, who.email, seen);
    await other.get('/account');
    const stolen = await other.post('/account/step-up', {
      action: 'verify',
      code,
      flow: fieldValue(theirs.html, 'flow'),
      return_to: '/account/email',
    });
    expect(stolen.status).toBe(410);
    expect(text(stolen.html)).toContain('Please start again');
  });

  it('offers the JSON API: step-up and password change with a session token, which keeps working after the change', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInByEmail(h, web, who);
    let session = web.cookie('session')!;

    const fresh = await api(h.app.url, 'GET', '/api/v1/account/step-up', { session });
    expect(fresh.status).toBe(200);
    expect(fresh.body.fresh).toBe(true);
    h.clock.advance(Duration.ofMinutes(10));
    expect((await api(h.app.url, 'GET', '/api/v1/account/step-up', { session })).body.fresh).toBe(false);

    const change = {
      current_password: who.password,
      new_password: 'api chosen password 123 vermilion kestrel',
      confirm_password: 'api chosen password 123 vermilion kestrel',
    };
    expect((await api(h.app.url, 'POST', '/api/v1/account/password', { session, body: change })).status).toBe(403);
    expect((await api(h.app.url, 'POST', '/api/v1/account/password', { body: change })).status).toBe(401);

    const seen = codeMails(h.mail, who.email).length;
    const started = await api(h.app.url, 'POST', '/api/v1/account/step-up', { session, body: {} });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ step: 'otp', channel: 'email', delivery: 'sent' });
    const flow = { id: started.body.flow_id as string, token: started.body.flow_token as string };
    // Asking again at once hits the resend cooldown; the first code stays valid and no second flow is left behind.
    const flowsBefore = await db().query(`SELECT id FROM auth_flows WHERE kind = 'step_up'`);
    const again = await api(h.app.url, 'POST', '/api/v1/account/step-up', { session, body: {} });
    expect(again.status).toBe(429);
    expect(again.headers.get('retry-after')).toMatch(/^\d+$/u);
    expect(again.body).toMatchObject({ step: 'choose_channel', error: { code: 'otp_cooldown' } });
    expect(again.body.flow_token).toBeUndefined();
    expect(await db().query(`SELECT id FROM auth_flows WHERE kind = 'step_up'`)).toEqual(flowsBefore);
    const code = await nextEmailCode(h.mail, who.email, seen);
    const noToken = await api(h.app.url, 'POST', `/api/v1/account/step-up/${flow.id}/otp`, { session, body: { code } });
    expect(noToken.status).toBe(404);
    const verified = await api(h.app.url, 'POST', `/api/v1/account/step-up/${flow.id}/otp`, {
      session,
      flowToken: flow.token,
      body: { code },
    });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ step: 'done', fresh_until: Duration.ofMinutes(10).after(h.clock.now()).toISOString() });
    // The step-up renewed the session's token: the app carries on with the new one, the old one is refused.
    expect(verified.body.session_token).toEqual(expect.stringMatching(/^[A-Za-z0-9_-]{43}$/u));
    expect(verified.body.session_token).not.toBe(session);
    expect((await api(h.app.url, 'POST', '/api/v1/account/password', { session, body: change })).status).toBe(401);
    session = verified.body.session_token as string;

    const weak = await api(h.app.url, 'POST', '/api/v1/account/password', {
      session,
      body: { ...change, new_password: 'qwerty123456', confirm_password: 'qwerty123456' },
    });
    expect(weak.status).toBe(422);
    expect(weak.body).toMatchObject({ status: 'rejected', field_errors: { new_password: expect.stringMatching(/too common/u) } });

    const changed = await api(h.app.url, 'POST', '/api/v1/account/password', { session, body: change });
    expect(changed.status).toBe(200);
    expect(changed.body).toEqual({ status: 'changed' });
    expect((await api(h.app.url, 'GET', '/api/v1/account/devices', { session })).status).toBe(200);
    await noticeTo(h, who.email, 'Your Gatehouse password was changed');

    const code2 = await api(h.app.url, 'POST', '/api/v1/account/security-code', {
      session,
      body: { current_password: 'api chosen password 123 vermilion kestrel', security_code: '86420975', confirm_security_code: '86420975' },
    });
    expect(code2.status).toBe(200);
    expect((await userRow(db(), who.id)).credential_version).toBe(3);
    expect((await api(h.app.url, 'GET', '/api/v1/account/step-up', { session })).status).toBe(200);
  });

  it('sends a signed-out visitor to sign-in and back to the change page afterwards', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const page = await web.get('/account/security-code', false);
    expect(page.status).toBe(303);
    expect(page.location).toBe('/signin?return_to=%2Faccount%2Fsecurity-code');
    await web.get(page.location!);
    const seen = codeMails(h.mail, who.email).length;
    expectPage(await web.post('/signin', { user_id: who.userId, password: who.password }), 200, 'We sent a 6-digit code by email');
    const code = await nextEmailCode(h.mail, who.email, seen);
    expectPage(await web.post('/signin/otp', { action: 'verify', code }), 200, 'New security code');
  });
});
