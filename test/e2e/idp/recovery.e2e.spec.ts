import argon2 from 'argon2';
import { Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import { OtpService } from '#libs/otp';
import {
  api,
  codeMails,
  expectPage,
  nextEmailCode,
  signInByEmail,
  startHarness,
  submitPassword,
  type Harness,
} from '../../support/journeys.js';
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
 * Self-service recovery end to end over HTTP: hosted pages and JSON API, a real SMTP server
 * and SMS/voice webhook receivers, and a FixedClock for expiries.
 */
describe('account recovery with the security code', () => {
  let h: Harness;
  let org: string;

  beforeAll(async () => {
    h = await startHarness();
    org = await seedOrganization(h.db.dataSource, 'acme');
  });

  afterAll(async () => {
    await h.close();
  });

  // Each test starts in a fresh hour: throttle windows and hourly code caps of earlier tests are behind it.
  beforeEach(() => {
    h.clock.advance(Duration.ofHours(2));
  });

  const db = () => h.db.dataSource;
  const browser = () => new WebClient(h.app.url);

  it('forgot Enterprise ID: Email + Security code -> code by email -> the Enterprise ID is shown and emailed', async () => {
    await seedUser(db(), org, { enterpriseId: 'ada.lovelace', password: 'analytical engine 1843', email: 'ada@example.com' });
    const web = browser();
    const start = await web.get('/recover/enterprise-id');
    expect(start.status).toBe(200);
    expect(start.html).toContain('<label for="f-email">Email</label>');
    expect(start.html).toContain('<label for="f-security_code">Security code</label>');
    expect(start.html).not.toContain('<script');
    expect(start.headers.get('content-security-policy')).toContain("form-action 'self'");

    const step = await web.post('/recover/enterprise-id', { email: ' Ada@EXAMPLE.com ', security_code: '27182818' });
    expect(step.status).toBe(200);
    expect(text(step.html)).toContain(GENERIC_TEXT);
    expect(step.html).toContain('<label for="f-code">One-time code</label>');

    const code = await nextRecoveryCode(h.mail, 'ada@example.com', 0);
    const [codeMail] = recoveryCodeMails(h.mail, 'ada@example.com');
    expect(codeMail!.text).toContain('to recover your account');
    expect(codeMail!.text).toContain('valid for 10 minutes');
    expect(containsLink(codeMail!.text)).toBe(false);

    const shown = await web.post('/recover/otp', { action: 'verify', code });
    expect(shown.status).toBe(200);
    expect(text(shown.html)).toContain('Your Enterprise ID is ada.lovelace');
    const reminder = await h.mail.waitFor((m) => m.envelope.to.includes('ada@example.com') && m.subject === 'Your Gatehouse Enterprise ID');
    expect(reminder.text).toContain('ada (dot) lovelace');
    expect(containsLink(reminder.text)).toBe(false);

    // Nothing about the credentials changed; the flow was audited.
    const user = await userRow(db(), 'ada.lovelace');
    expect(user.credential_version).toBe(1);
    const events = await db().query<Array<{ event_type: string; details: Record<string, unknown> }>>(
      `SELECT event_type FROM audit_events WHERE subject_id = $1 AND event_type LIKE 'recovery.%' ORDER BY id`,
      [user.id],
    );
    expect(events.map((e) => e.event_type)).toEqual(['recovery.security_code_accepted', 'recovery.verified']);
  });

  it('forgot password: channels appear only after the security code is accepted; SMS code -> new password -> done', async () => {
    await seedUser(db(), org, {
      enterpriseId: 'grace.hopper',
      password: 'cobol compiler 1959',
      email: 'grace@example.com',
      mobile: '+393331234567',
    });
    const web = browser();
    const start = await web.get('/recover/password');
    expect(start.html).toContain('<label for="f-enterprise_id">Enterprise ID</label>');
    expect(start.html).toContain('<label for="f-security_code">Security code</label>');

    const choose = await web.post('/recover/password', { enterprise_id: 'Grace.Hopper', security_code: '27182818' });
    expect(choose.status).toBe(200);
    const visible = text(choose.html);
    expect(visible).toContain('Email');
    expect(visible).toContain('Text message');
    expect(visible).toContain('Voice call');
    expect(visible).toContain('+39 *** *** 4567');
    expect(visible).not.toContain(GENERIC_TEXT);
    expect(codeMails(h.mail, 'grace@example.com')).toHaveLength(0);

    const sent = await web.post('/recover/otp', { channel: 'sms', action: 'resend' });
    expect(text(sent.html)).toContain('We sent a 6-digit code by text message to +39 *** *** 4567');
    const smsCode = await h.sms.waitForCode('+393331234567');
    const sms = h.sms.accepted.at(-1)!.body!;
    expect(sms.text).toContain('to recover your account');
    expect(sms.text).toContain('Valid for 10 minutes');
    expect(containsLink(String(sms.text))).toBe(false);

    const form = await web.post('/recover/otp', { action: 'verify', code: smsCode });
    expect(form.html).toContain('<label for="f-password">New password</label>');
    expect(form.html).toContain('<label for="f-confirm_password">Confirm new password</label>');

    const fieldError = (html: string, field: string) => new RegExp(`id="${field}-error">([^<]*)<`, 'u').exec(html)?.[1];
    const weak = await web.post('/recover/new-password', { password: 'qwerty123456', confirm_password: 'qwerty123456' });
    expect(weak.status).toBe(422);
    expect(fieldError(weak.html, 'password')).toMatch(/too common/u);
    const mismatch = await web.post('/recover/new-password', {
      password: 'a brand new passphrase',
      confirm_password: 'a brand new passphrasE',
    });
    expect(fieldError(mismatch.html, 'confirm_password')).toBe('The passwords do not match.');
    const same = await web.post('/recover/new-password', { password: 'cobol compiler 1959', confirm_password: 'cobol compiler 1959' });
    expect(fieldError(same.html, 'password')).toBe('The new password must differ from your current one.');
    const named = await web.post('/recover/new-password', { password: 'Grace.Hopper', confirm_password: 'Grace.Hopper' });
    expect(fieldError(named.html, 'password')).toMatch(/at least 12|may not be your Enterprise ID/u);

    const done = await web.post('/recover/new-password', {
      password: 'a brand new passphrase',
      confirm_password: 'a brand new passphrase',
    });
    expect(done.status).toBe(200);
    expect(text(done.html)).toContain('Your password was changed.');
    expect(web.cookie('recover')).toBeUndefined();

    const user = await userRow(db(), 'grace.hopper');
    expect(user.credential_version).toBe(2);
    expect(user.password_hash.startsWith('$argon2id$')).toBe(true);
    expect(await argon2.verify(user.password_hash, 'a brand new passphrase')).toBe(true);
    const notice = await h.mail.waitFor(
      (m) => m.envelope.to.includes('grace@example.com') && m.subject === 'Your Gatehouse password was changed',
    );
    expect(containsLink(notice.text)).toBe(false);
    const [event] = await db().query(
      `SELECT actor_type, details FROM audit_events WHERE subject_id = $1 AND event_type = 'recovery.password_reset'`,
      [user.id],
    );
    expect(event).toEqual({
      actor_type: 'user',
      details: expect.objectContaining({ flow: 'forgot_password', credential_version: 2, methods: ['security_code', 'otp:sms'] }),
    });
    expect(JSON.stringify(event.details)).not.toContain('passphrase');

    // The new password signs in; the old one does not.
    expect(text((await submitPassword(browser(), 'grace.hopper', 'a brand new passphrase')).html)).toContain(
      'How should we send your code?',
    );
    expect((await submitPassword(browser(), 'grace.hopper', 'cobol compiler 1959')).status).toBe(401);
  });

  it('forgot password over the JSON API (email only: the generic step, then the code)', async () => {
    await seedUser(db(), org, {
      enterpriseId: 'alan.turing',
      password: 'enigma machine 1939 vermilion kestrel',
      email: 'alan@example.com',
    });
    const flow = await apiRecoveryStart(h.app.url, 'password');
    const current = await api(h.app.url, 'GET', `/api/v1/recovery/${flow.id}`, { flowToken: flow.token });
    expect(current.body).toEqual({ flow_id: flow.id, goal: 'password', step: 'identify' });

    const invalid = await apiRecoveryStep(h.app.url, flow, 'identify', { enterprise_id: 'alan.turing', security_code: '12ab' });
    expect(invalid.status).toBe(422);
    expect(invalid.body.field_errors).toEqual({ security_code: expect.stringContaining('6 to 9 digits') });

    const identified = await apiRecoveryStep(h.app.url, flow, 'identify', { enterprise_id: 'alan.turing', security_code: '27182818' });
    expect(identified.status).toBe(200);
    expect(identified.body).toEqual({ flow_id: flow.id, goal: 'password', step: 'code_sent', message: GENERIC_TEXT });
    const code = await nextRecoveryCode(h.mail, 'alan@example.com', 0);

    const wrong = await apiRecoveryStep(h.app.url, flow, 'otp', { code: code === '000000' ? '000001' : '000000' });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error).toMatchObject({ code: 'otp_invalid', attempts_left: 4 });
    const verified = await apiRecoveryStep(h.app.url, flow, 'otp', { code });
    expect(verified.body).toEqual({ flow_id: flow.id, goal: 'password', step: 'new_password' });
    // A second recovery of the same user reaches the same step meanwhile.
    const rival = await apiRecoveryStart(h.app.url, 'password');
    await apiRecoveryStep(h.app.url, rival, 'identify', { enterprise_id: 'alan.turing', security_code: '27182818' });
    const rivalCode = await nextRecoveryCode(h.mail, 'alan@example.com', 1);
    expect((await apiRecoveryStep(h.app.url, rival, 'otp', { code: rivalCode })).body.step).toBe('new_password');
    // A weak password is refused with the reason (issue 13: zxcvbn with the person's context).
    const weak = await apiRecoveryStep(h.app.url, flow, 'password', { password: 'alan turing 1912', confirm_password: 'alan turing 1912' });
    expect(weak.status).toBe(422);
    expect(weak.body.field_errors).toEqual({ password: expect.stringContaining('too easy to guess') });
    // The sign-in was locked by 100 failures in a row on the Enterprise ID: the reset ends the lock.
    await db().query(
      `INSERT INTO throttle_counters (key, failures, consecutive_failures, window_started_at, updated_at, lock_after)
       VALUES ('signin:acct:alan.turing', 0, 100, $1, $1, 100)`,
      [h.clock.now()],
    );
    const done = await apiRecoveryStep(h.app.url, flow, 'password', {
      password: 'bombe at bletchley vermilion kestrel',
      confirm_password: 'bombe at bletchley vermilion kestrel',
    });
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ flow_id: flow.id, goal: 'password', step: 'done' });
    expect((await userRow(db(), 'alan.turing')).credential_version).toBe(2);
    expect(await db().query(`SELECT key FROM throttle_counters WHERE key = 'signin:acct:alan.turing'`)).toEqual([]);
    const late = await apiRecoveryStep(h.app.url, rival, 'password', {
      password: 'another new password vermilion kestrel',
      confirm_password: 'another new password vermilion kestrel',
    });
    expect(late.status).toBe(409);
    expect(late.headers.get('content-type')).toContain('application/problem+json');
    expect(late.body).toMatchObject({ code: 'recovery_superseded', status: 409 });
    expect((await userRow(db(), 'alan.turing')).credential_version).toBe(2);
    // The finished flow is gone.
    expect((await api(h.app.url, 'GET', `/api/v1/recovery/${flow.id}`, { flowToken: flow.token })).status).toBe(404);
  });

  it('forgot both: Enterprise ID shown, then a new password in the same flow without typing the security code again', async () => {
    const id = await seedUser(db(), org, { enterpriseId: 'hedy_lamarr', password: 'frequency hopping 1942', email: 'hedy@example.com' });
    const web = browser();
    expect(text((await forgotEnterpriseId(web, 'hedy@example.com', '27182818')).html)).toContain(GENERIC_TEXT);
    const code = await nextRecoveryCode(h.mail, 'hedy@example.com', 0);
    const shown = await web.post('/recover/otp', { action: 'verify', code });
    expect(text(shown.html)).toContain('Your Enterprise ID is hedy_lamarr');
    const form = expectPage(await web.post('/recover/continue', {}), 200, 'Choose a new password');
    expect(form.html).not.toContain('security_code');
    expectPage(
      await web.post('/recover/new-password', {
        password: 'torpedo guidance 1942 vermilion kestrel',
        confirm_password: 'torpedo guidance 1942 vermilion kestrel',
      }),
      200,
      'Your password was changed.',
    );
    // One security code, one one-time code, for both.
    expect(recoveryCodeMails(h.mail, 'hedy@example.com')).toHaveLength(1);
    const events = await db().query<Array<{ event_type: string; details: Record<string, unknown> }>>(
      `SELECT event_type, details FROM audit_events WHERE subject_id = $1 AND event_type LIKE 'recovery.%' ORDER BY id`,
      [id],
    );
    expect(events.map((e) => e.event_type)).toEqual(['recovery.security_code_accepted', 'recovery.verified', 'recovery.password_reset']);
    expect(events[2]!.details).toMatchObject({ flow: 'forgot_both', methods: ['security_code', 'otp:email'] });
    expect(await argon2.verify((await userRow(db(), 'hedy_lamarr')).password_hash, 'torpedo guidance 1942 vermilion kestrel')).toBe(true);
  });

  it('a password reset invalidates every remembered device and ends every session', async () => {
    const who = { userId: 'katherine.j', password: 'orbital mechanics 1962 vermilion kestrel', email: 'kj@example.com' };
    const userId = await seedUser(db(), org, { enterpriseId: who.userId, password: who.password, email: who.email });
    // A real sign-in with "Remember this device": a session cookie and a device cookie.
    const laptop = browser();
    expectPage(await signInByEmail(h, laptop, who, { remember: true }), 200, 'Your account');
    const deviceToken = laptop.cookie('device')!;
    expect(deviceToken).toBeDefined();
    // The remembered device skips the code on another sign-in (in a second browser holding only that cookie).
    const tablet = browser();
    tablet.cookies.set('gh_device', deviceToken);
    expectPage(await submitPassword(tablet, who.userId, who.password), 200, 'Your account');
    expectPage(await laptop.get('/account'), 200, 'Your account');
    expect(await db().query(`SELECT 1 FROM sessions WHERE user_id = $1 AND ended_at IS NULL`, [userId])).toHaveLength(2);

    const web = browser();
    await forgotPassword(web, who.userId, '27182818');
    const code = await nextRecoveryCode(h.mail, who.email, 0);
    await web.post('/recover/otp', { action: 'verify', code });
    expectPage(
      await web.post('/recover/new-password', {
        password: 'hidden figures 2016 vermilion kestrel',
        confirm_password: 'hidden figures 2016 vermilion kestrel',
      }),
      200,
      'Your password was changed.',
    );

    // Both sessions are over.
    for (const client of [laptop, tablet]) expectPage(await client.get('/account'), 200, 'Sign in');
    const ended = await db().query<Array<{ end_reason: string }>>(`SELECT end_reason FROM sessions WHERE user_id = $1`, [userId]);
    expect(ended.map((s) => s.end_reason)).toEqual(['password_reset', 'password_reset']);
    const [reset] = await db().query(`SELECT details FROM audit_events WHERE subject_id = $1 AND event_type = 'recovery.password_reset'`, [
      userId,
    ]);
    expect(reset.details.sessions_ended).toBe(2);
    const devices = await db().query(`SELECT revoked_reason FROM remembered_devices WHERE user_id = $1`, [userId]);
    expect(devices).toEqual([{ revoked_reason: 'password reset by recovery' }]);
    // The remembered device no longer skips the code, even with the new password.
    const seen = codeMails(h.mail, who.email).length;
    const again = await submitPassword(tablet, who.userId, 'hidden figures 2016 vermilion kestrel');
    expect(text(again.html)).toContain('We sent a 6-digit code by email');
    expect(text(again.html)).not.toContain('Your account');
    const login = await nextEmailCode(h.mail, who.email, seen);
    expectPage(await tablet.post('/signin/otp', { action: 'verify', code: login }), 200, 'Your account');
  });

  it('a login code never works for recovery, and a recovery code never signs in', async () => {
    const who = { userId: 'margaret.h', password: 'apollo guidance 1969 vermilion kestrel', email: 'mh@example.com' };
    const userId = await seedUser(db(), org, { enterpriseId: who.userId, password: who.password, email: who.email });
    const signin = browser();
    const seenLogin = codeMails(h.mail, who.email).length;
    expectPage(await submitPassword(signin, who.userId, who.password), 200, 'We sent a 6-digit code by email');
    const loginCode = await nextEmailCode(h.mail, who.email, seenLogin);

    const recover = browser();
    await forgotPassword(recover, who.userId, '27182818');
    const recoveryCode = await nextRecoveryCode(h.mail, who.email, 0);

    // Bound by purpose: the login challenge, offered as a recovery code for this flow, is not found (and nothing is counted).
    const [login] = await db().query(`SELECT id, attempts FROM otp_challenges WHERE subject_id = $1 AND purpose = 'login'`, [userId]);
    const [rec] = await db().query(`SELECT flow_id FROM otp_challenges WHERE subject_id = $1 AND purpose = 'recovery'`, [userId]);
    const otp = h.app.app.get(OtpService, { strict: false });
    expect(
      await otp.verify({
        challengeId: login.id,
        purpose: 'recovery',
        subject: { type: 'user', id: userId },
        flowId: rec.flow_id,
        code: loginCode,
      }),
    ).toEqual({ ok: false, reason: 'not_found', attemptsLeft: 0 });
    expect((await db().query(`SELECT attempts FROM otp_challenges WHERE id = $1`, [login.id]))[0].attempts).toBe(0);

    // Over HTTP: each code typed into the other flow is refused (unless both happen to be equal: one in a million).
    if (loginCode !== recoveryCode) {
      const refused = await recover.post('/recover/otp', { action: 'verify', code: loginCode });
      expect(text(refused.html)).toContain('That code is not correct');
      expect(text(refused.html)).not.toContain('Choose a new password');
      const refusedLogin = await signin.post('/signin/otp', { action: 'verify', code: recoveryCode });
      expect(text(refusedLogin.html)).toContain('That code is not correct');
      expect(signin.cookies.has('gh_session')).toBe(false);
    }
    // Each still works where it belongs.
    expectPage(await recover.post('/recover/otp', { action: 'verify', code: recoveryCode }), 200, 'Choose a new password');
    expectPage(await signin.post('/signin/otp', { action: 'verify', code: loginCode }), 200, 'Your account');
  });

  it.each([
    ['one after the other', false],
    ['at the same time', true],
  ])('of two recoveries of the same user at the new-password step, only one completes (%s)', async (_, parallel) => {
    const eid = parallel ? 'dorothy.v' : 'mary.j';
    const email = `${eid}@example.com`;
    await seedUser(db(), org, { enterpriseId: eid, password: 'fortran programming 1961 vermilion kestrel', email });
    const a = browser();
    const b = browser();
    await forgotPassword(a, eid, '27182818');
    await a.post('/recover/otp', { action: 'verify', code: await nextRecoveryCode(h.mail, email, 0) });
    await forgotPassword(b, eid, '27182818');
    expectPage(
      await b.post('/recover/otp', { action: 'verify', code: await nextRecoveryCode(h.mail, email, 1) }),
      200,
      'Choose a new password',
    );
    expectPage(await a.get('/recover'), 200, 'Choose a new password');

    const submit = (web: WebClient, password: string) => web.post('/recover/new-password', { password, confirm_password: password });
    let pages;
    if (parallel)
      pages = await Promise.all([
        submit(a, 'first new password A vermilion kestrel'),
        submit(b, 'second new password B vermilion kestrel'),
      ]);
    else pages = [await submit(a, 'first new password A vermilion kestrel'), await submit(b, 'second new password B vermilion kestrel')];
    const won = pages.filter((p) => text(p.html).includes('Your password was changed.'));
    const lost = pages.filter((p) => !text(p.html).includes('Your password was changed.'));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.status).toBe(409);
    expect(text(lost[0]!.html)).toContain('This recovery can no longer complete');

    const user = await userRow(db(), eid);
    expect(user.credential_version).toBe(2);
    const winner = won[0] === pages[0] ? 'first new password A vermilion kestrel' : 'second new password B vermilion kestrel';
    expect(await argon2.verify(user.password_hash, winner)).toBe(true);
    const resets = await db().query(`SELECT 1 FROM audit_events WHERE subject_id = $1 AND event_type = 'recovery.password_reset'`, [
      user.id,
    ]);
    expect(resets).toHaveLength(1);
    // The losing flow is over: it cannot be retried, and its browser starts again.
    expect(await db().query(`SELECT 1 FROM auth_flows WHERE kind = 'recovery' AND state->>'userId' = $1`, [user.id])).toHaveLength(0);
    const loser = won[0] === pages[0] ? b : a;
    expect(loser.cookie('recover')).toBeUndefined();
    expectPage(await loser.get('/recover'), 200, 'Forgot your password?');
  });

  it('abandoned flows expire after 15 minutes (pages and API)', async () => {
    await seedUser(db(), org, {
      enterpriseId: 'ida.rhodes',
      password: 'census computation 1950 vermilion kestrel',
      email: 'ida@example.com',
    });
    const web = browser();
    await forgotPassword(web, 'ida.rhodes', '27182818');
    const code = await nextRecoveryCode(h.mail, 'ida@example.com', 0);
    const flow = await apiRecoveryStart(h.app.url, 'password');

    h.clock.advance(Duration.ofMinutes(14));
    expect((await api(h.app.url, 'GET', `/api/v1/recovery/${flow.id}`, { flowToken: flow.token })).status).toBe(200);
    h.clock.advance(Duration.ofMinutes(1));
    const late = await web.post('/recover/otp', { action: 'verify', code });
    expect(late.status).toBe(410);
    expect(text(late.html)).toContain('This step took too long and has expired');
    const api410 = await api(h.app.url, 'GET', `/api/v1/recovery/${flow.id}`, { flowToken: flow.token });
    expect(api410.status).toBe(410);
    expect(api410.body).toMatchObject({ code: 'flow_expired' });
    expect((await userRow(db(), 'ida.rhodes')).credential_version).toBe(1);
  });

  it("refuses another browser's flow id, a post from another site and one without the CSRF token", async () => {
    const mine = await apiRecoveryStart(h.app.url, 'password');
    const theirs = await apiRecoveryStart(h.app.url, 'password');
    const stolen = await api(h.app.url, 'GET', `/api/v1/recovery/${theirs.id}`, { flowToken: mine.token });
    expect(stolen.status).toBe(404);
    expect(stolen.body).toMatchObject({ code: 'flow_not_found' });
    expect((await api(h.app.url, 'GET', `/api/v1/recovery/${theirs.id}`)).status).toBe(404);

    // The start page stores nothing: each browser's flow starts when it submits its details.
    const victim = browser();
    await victim.get('/recover/password');
    expectPage(await victim.post('/recover/password', { enterprise_id: 'nobody.here', security_code: '27182818' }), 200, GENERIC_TEXT);
    const victimFlow = victim.cookie('recover')!.split('.')[0]!;
    const attacker = browser();
    await attacker.get('/recover/password');
    await attacker.post('/recover/password', { enterprise_id: 'nobody.else', security_code: '27182818' });
    const attackerCsrf = attacker.csrf();
    const ownToken = attacker.cookie('recover')!.split('.')[1]!;
    attacker.cookies.set('gh_recover', `${victimFlow}.${ownToken}`);
    const forged = await attacker.request(
      'POST',
      '/recover/password',
      new URLSearchParams({ csrf: attackerCsrf, enterprise_id: 'x', security_code: '27182818' }),
    );
    expect(forged.status).toBe(410);
    expect(text(forged.html)).toContain('no longer valid');
    attacker.cookies.set('gh_recover', `${victimFlow}.${ownToken}`);
    expect((await attacker.get('/recover')).status).toBe(410);
    // The victim's flow is untouched.
    expectPage(await victim.get('/recover'), 200, GENERIC_TEXT);
    expect(victim.cookie('recover')!.startsWith(victimFlow)).toBe(true);

    const page = browser();
    await page.get('/recover/password');
    const crossSite = await fetch(new URL('/recover/password', h.app.url), {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Origin: 'https://evil.example',
        Cookie: `gh_recover=${page.cookie('recover')}`,
      },
      body: new URLSearchParams({ csrf: page.csrf(), enterprise_id: 'x', security_code: '27182818' }),
    });
    expect(crossSite.status).toBe(403);
    const noCsrf = await page.request('POST', '/recover/password', new URLSearchParams({ enterprise_id: 'x', security_code: '27182818' }));
    expect(noCsrf.status).toBe(403);
  });

  it('a disabled user cannot recover: the generic step and no code; disabled mid-flow, the reset is refused', async () => {
    await seedUser(db(), org, {
      enterpriseId: 'joan.clarke',
      password: 'hut eight 1940 vermilion kestrel',
      email: 'joan@example.com',
      status: 'disabled',
    });
    const web = browser();
    const page = await forgotPassword(web, 'joan.clarke', '27182818');
    expect(page.status).toBe(200);
    expect(text(page.html)).toContain(GENERIC_TEXT);
    const byEmail = await forgotEnterpriseId(browser(), 'joan@example.com', '27182818');
    expect(text(byEmail.html)).toContain(GENERIC_TEXT);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(h.mail.messagesTo('joan@example.com')).toHaveLength(0);
    const guess = await web.post('/recover/otp', { action: 'verify', code: '123456' });
    expect(text(guess.html)).toContain('That code is not correct. 4 attempts left.');

    // Active when the flow started, disabled by support before the new password is set.
    await seedUser(db(), org, {
      enterpriseId: 'mavis.batey',
      password: 'bletchley park 1941 vermilion kestrel',
      email: 'mavis@example.com',
    });
    const later = browser();
    await forgotPassword(later, 'mavis.batey', '27182818');
    expectPage(
      await later.post('/recover/otp', { action: 'verify', code: await nextRecoveryCode(h.mail, 'mavis@example.com', 0) }),
      200,
      'Choose a new password',
    );
    await db().query(`UPDATE users SET status = 'disabled' WHERE enterprise_id_key = 'mavis.batey'`);
    const refused = await later.post('/recover/new-password', {
      password: 'a fresh long password vermilion kestrel',
      confirm_password: 'a fresh long password vermilion kestrel',
    });
    expect(refused.status).toBe(403);
    expect(text(refused.html)).toContain('Recovery is not available for this account');
    const user = await userRow(db(), 'mavis.batey');
    expect(user.credential_version).toBe(1);
    expect(await argon2.verify(user.password_hash, 'bletchley park 1941 vermilion kestrel')).toBe(true);
  });

  it('every message sent in these journeys is plain text without a link', async () => {
    expect(h.mail.messages.length).toBeGreaterThan(10);
    for (const m of h.mail.messages) {
      expect({ subject: m.subject, link: containsLink(m.text) || containsLink(m.subject) }).toEqual({ subject: m.subject, link: false });
      expect(containsLink(m.parsed.html ?? '')).toBe(false);
    }
    for (const r of h.sms.accepted) expect(containsLink(String(r.body?.text))).toBe(false);
    // Every recovery code message says what it is for and how long it is valid.
    const codes = h.mail.messages.filter((m) => m.subject.includes('to recover your account'));
    expect(codes.length).toBeGreaterThan(5);
    for (const m of codes) expect(m.text).toMatch(/to recover your account[\s\S]*valid for 10 minutes/u);
  });
});
