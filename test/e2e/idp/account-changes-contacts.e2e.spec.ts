import { Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import {
  completeStepUp,
  fieldError,
  fieldValue,
  noticeTo,
  sessionOf,
  userRow,
  signInChoosingEmail,
  type Person,
} from '../../support/account-changes.js';
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
import { WebClient, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * Signed-in contact changes (issue 4, flow 4): adding, changing and removing the mobile
 * number (SMS and voice webhooks), and changing the email (real SMTP), each behind a
 * step-up, each proven by a code to the new destination before the account uses it.
 */
describe('signed-in changes: mobile number and email', () => {
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

  async function person(mobile?: string): Promise<Person & { id: string }> {
    n++;
    const who = { userId: `member.${n}`, password: `a member password ${n}`, email: `member${n}@example.com` };
    const id = await seedUser(db(), org, { enterpriseId: who.userId, password: who.password, email: who.email, mobile: mobile ?? null });
    return { ...who, id };
  }

  const toNumber = (to: string) =>
    h.sms.accepted.filter((r) => r.body?.to === to).length + h.voice.accepted.filter((r) => r.body?.to === to).length;

  it('adds a mobile number by SMS: a wrong code is refused, the number is saved only once verified, and the email hears of it', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInByEmail(h, web, who);
    const form = expectPage(await web.get('/account/mobile'), 200, 'New mobile number');
    expect(text(form.html)).toContain('There is no mobile number on your account.');
    expect(text(form.html)).toContain('Text message');
    expect(text(form.html)).toContain('Voice call');
    expect(form.html).not.toContain('Remove mobile number');

    const bad = await web.post('/account/mobile', { action: 'send', mobile: '3331234567', channel: 'sms' });
    expect(bad.status).toBe(422);
    expect(fieldError(bad.html, 'mobile')).toMatch(/E\.164/u);

    const sent = expectPage(
      await web.post('/account/mobile', { action: 'send', mobile: '+39 333 765 4321', channel: 'sms' }),
      200,
      'We sent a 6-digit code by text message to +39 *** *** 4321',
    );
    expect(text(sent.html)).toContain('Verify your new mobile number');
    const code = await h.sms.waitForCode('+393337654321');
    const message = h.sms.accepted.find((r) => r.body?.to === '+393337654321')!;
    expect(message.body).toMatchObject({ channel: 'sms', locale: 'en' });
    expect(message.body!.text).toContain('to confirm this phone number');
    expect(containsLink(message.body!.text as string)).toBe(false);
    expect(await userRow(db(), who.id)).toMatchObject({ mobile: null, mobile_verified_at: null });

    const wrongCode = code === '000000' ? '111111' : '000000';
    const wrong = await web.post('/account/mobile/verify', { action: 'verify', code: wrongCode, flow: fieldValue(sent.html, 'flow') });
    expect(text(wrong.html)).toContain('That code is not correct. 4 attempts left.');
    expect(await userRow(db(), who.id)).toMatchObject({ mobile: null, mobile_verified_at: null });
    expect(h.mail.messagesTo(who.email).filter((m) => m.subject.includes('mobile number'))).toHaveLength(0);

    const done = await web.post('/account/mobile/verify', { action: 'verify', code, flow: fieldValue(wrong.html, 'flow') });
    expectPage(done, 200, 'Your mobile number was verified and saved.');
    expect(text(done.html)).toContain('+393337654321 (verified)');
    expect(await userRow(db(), who.id)).toMatchObject({
      mobile: '+393337654321',
      mobile_verified_at: h.clock.now(),
      credential_version: 1,
    });

    const notice = await noticeTo(h, who.email, 'The mobile number of your Gatehouse account was changed');
    expect(containsLink(notice.text)).toBe(false);
    const [event] = await db().query(`SELECT details FROM audit_events WHERE event_type = 'contact.mobile_added' AND subject_id = $1`, [
      who.id,
    ]);
    expect(event.details).toEqual({
      session_id: (await sessionOf(db(), web)).id,
      previous: null,
      mobile: '+39 *** *** 4321',
      verified_by: 'sms',
    });

    // The flow is over: its code cannot be replayed.
    const replay = await web.post('/account/mobile/verify', { action: 'verify', code, flow: fieldValue(wrong.html, 'flow') });
    expect(replay.status).toBe(410);

    // The next sign-in offers the new number.
    const next = await submitPassword(new WebClient(h.app.url), who.userId, who.password);
    expect(text(next.html)).toContain('Text message');
    expect(text(next.html)).toContain('Voice call');
  });

  it('changes the mobile number by voice call, switching from SMS on the code page; the old number stays until the new one verifies', async () => {
    const who = await person('+393331000001');
    const web = new WebClient(h.app.url);
    await signInChoosingEmail(h, web, who);
    const form = expectPage(await web.get('/account/mobile'), 200, 'Your mobile number is +393331000001.');
    expect(form.html).toContain('Remove mobile number');

    const same = await web.post('/account/mobile', { action: 'send', mobile: '+393331000001', channel: 'sms' });
    expect(fieldError(same.html, 'mobile')).toBe('This is already your mobile number.');

    const bySms = expectPage(
      await web.post('/account/mobile', { action: 'send', mobile: '+393332000002', channel: 'sms' }),
      200,
      'by text message to +39 *** *** 0002',
    );
    await h.sms.waitForCode('+393332000002');
    // Switching to a call right away hits the resend cooldown, and says so.
    const tooSoon = await web.post('/account/mobile/verify', { channel: 'voice', flow: fieldValue(bySms.html, 'flow') });
    expect(tooSoon.status).toBe(429);
    expect(text(tooSoon.html)).toMatch(/Please wait \d+ seconds before asking for a new code\./u);
    h.clock.advance(Duration.ofSeconds(31));
    const byVoice = expectPage(
      await web.post('/account/mobile/verify', { channel: 'voice', flow: fieldValue(tooSoon.html, 'flow') }),
      200,
      'We sent a 6-digit code by voice call to +39 *** *** 0002',
    );
    const call = await h.voice.waitFor((r) => r.body?.to === '+393332000002');
    expect(call.body).toMatchObject({ channel: 'voice' });
    const code = await h.voice.waitForCode('+393332000002');
    const smsCode = await h.sms.waitForCode('+393332000002');
    expect(await userRow(db(), who.id)).toMatchObject({ mobile: '+393331000001' });

    // The SMS code was superseded by the call.
    if (smsCode !== code) {
      const old = await web.post('/account/mobile/verify', { action: 'verify', code: smsCode, flow: fieldValue(byVoice.html, 'flow') });
      expect(text(old.html)).toContain('That code is not correct. 4 attempts left.');
    }
    const [superseded] = await db().query(
      `SELECT count(*)::int AS n FROM otp_challenges WHERE subject_id = $1 AND purpose = 'verification' AND channel = 'sms' AND invalidated_at IS NOT NULL`,
      [who.id],
    );
    expect(superseded.n).toBe(1);
    expectPage(
      await web.post('/account/mobile/verify', { action: 'verify', code, flow: fieldValue(byVoice.html, 'flow') }),
      200,
      'Your mobile number was verified and saved.',
    );
    expect(await userRow(db(), who.id)).toMatchObject({
      mobile: '+393332000002',
      mobile_verified_at: h.clock.now(),
      credential_version: 1,
    });
    expect(toNumber('+393331000001')).toBe(0);
    await noticeTo(h, who.email, 'The mobile number of your Gatehouse account was changed');
    const [event] = await db().query(`SELECT details FROM audit_events WHERE event_type = 'contact.mobile_changed' AND subject_id = $1`, [
      who.id,
    ]);
    expect(event.details).toMatchObject({ previous: '+39 *** *** 0001', mobile: '+39 *** *** 0002', verified_by: 'voice' });
  });

  it('removes the mobile number after a step-up; codes then go by email only', async () => {
    const who = await person('+393333000003');
    const web = new WebClient(h.app.url);
    await signInChoosingEmail(h, web, who);
    await db().query(`UPDATE users SET preferred_otp_channel = 'sms' WHERE id = $1`, [who.id]);
    h.clock.advance(Duration.ofMinutes(11));
    const asked = expectPage(await web.get('/account/mobile'), 200, 'Confirm it is you');
    // With a verified mobile, the step-up offers the same choice as sign-in, the preferred channel first.
    expect(text(asked.html)).toContain('How should we send your code?');
    expect(asked.html).toMatch(/value="sms"\s+checked/u);
    expect(text(asked.html)).toContain('Text message: +39 *** *** 0003');

    const sent = expectPage(
      await web.post('/account/step-up', { action: 'send', channel: 'sms', return_to: '/account/mobile' }),
      200,
      'We sent a 6-digit code by text message to +39 *** *** 0003',
    );
    const code = await h.sms.waitForCode('+393333000003');
    expectPage(
      await web.post('/account/step-up', { action: 'verify', code, flow: fieldValue(sent.html, 'flow'), return_to: '/account/mobile' }),
      200,
      'Remove mobile number',
    );
    const session = await sessionOf(db(), web);
    expect((session.verifications as Array<{ method: string; channel?: string }>).at(-1)).toMatchObject({ method: 'otp', channel: 'sms' });

    expectPage(await web.post('/account/mobile', { action: 'remove' }), 200, 'Your mobile number was removed.');
    expect(await userRow(db(), who.id)).toMatchObject({
      mobile: null,
      mobile_verified_at: null,
      preferred_otp_channel: null,
      credential_version: 1,
    });
    await noticeTo(h, who.email, 'The mobile number of your Gatehouse account was changed');
    const events = await db().query(`SELECT details FROM audit_events WHERE event_type = 'contact.mobile_removed' AND subject_id = $1`, [
      who.id,
    ]);
    expect(events).toEqual([{ details: { session_id: session.id, previous: '+39 *** *** 0003' } }]);

    const next = await submitPassword(new WebClient(h.app.url), who.userId, who.password);
    expect(text(next.html)).toContain('We sent a 6-digit code by email');
    expect(next.html).not.toContain('name="channel"');
  });

  it('changes the email: the code goes to the new address, the notice to the old one, and nothing changes before the code', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInByEmail(h, web, who);
    expectPage(await web.get('/account/email'), 200, `Your email address is ${who.email}.`);

    const invalid = await web.post('/account/email', { email: 'not an address' });
    expect(invalid.status).toBe(422);
    expect(fieldError(invalid.html, 'email')).toBe('Enter a valid email address.');
    const same = await web.post('/account/email', { email: who.email.toUpperCase() });
    expect(fieldError(same.html, 'email')).toBe('This is already your email address.');

    const newAddress = `new.${who.email.replace('@example.com', '@example.org')}`;
    const oldMails = h.mail.messagesTo(who.email).length;
    const sent = expectPage(
      await web.post('/account/email', { email: `  ${newAddress}  ` }),
      200,
      'We sent a 6-digit code by email to n***@example.org',
    );
    expect(text(sent.html)).toContain('Verify your new email address');
    const code = await nextEmailCode(h.mail, newAddress, 0);
    const codeMail = codeMails(h.mail, newAddress)[0]!;
    expect(codeMail.subject).toContain('to confirm this email address');
    expect(containsLink(codeMail.text)).toBe(false);
    expect(h.mail.messagesTo(who.email)).toHaveLength(oldMails);
    expect(await userRow(db(), who.id)).toMatchObject({ email: who.email });

    expectPage(
      await web.post('/account/email/verify', { action: 'verify', code, flow: fieldValue(sent.html, 'flow') }),
      200,
      'Your email address was verified and saved.',
    );
    const user = await userRow(db(), who.id);
    expect(user).toMatchObject({ email: newAddress, email_key: newAddress, email_verified_at: h.clock.now(), credential_version: 1 });

    const notice = await noticeTo(h, who.email, 'The email address of your Gatehouse account was changed');
    expect(containsLink(notice.text)).toBe(false);
    expect(notice.text).not.toContain(newAddress);
    expect(h.mail.messagesTo(newAddress).filter((m) => m.subject.includes('was changed'))).toHaveLength(0);
    const [event] = await db().query(`SELECT details FROM audit_events WHERE event_type = 'contact.email_changed' AND subject_id = $1`, [
      who.id,
    ]);
    expect(event.details).toMatchObject({ previous: 'm***@example.com', email: 'n***@example.org' });

    // Codes now go to the new address.
    await signInByEmail(h, new WebClient(h.app.url), { ...who, email: newAddress });
  });

  it('keeps a change flow to the session that started it, and asks a remembered-device session for a step-up first', async () => {
    const who = await person();
    const a = new WebClient(h.app.url);
    await signInByEmail(h, a, who, { remember: true });
    const sent = expectPage(await a.post('/account/email', { email: 'elsewhere@example.net' }), 200, 'We sent a 6-digit code by email');
    const code = await nextEmailCode(h.mail, 'elsewhere@example.net', 0);

    // Another session of the same user cannot finish it, even with the code.
    const b = new WebClient(h.app.url);
    await signInByEmail(h, b, who);
    await b.get('/account/email');
    const stolen = await b.post('/account/email/verify', { action: 'verify', code, flow: fieldValue(sent.html, 'flow') });
    expect(stolen.status).toBe(410);
    await b.get('/account/email');
    const garbled = await b.post('/account/email/verify', { action: 'verify', code, flow: 'nonsense' });
    expect(garbled.status).toBe(410);
    expect(await userRow(db(), who.id)).toMatchObject({ email: who.email });

    // A sign-in by remembered device has no fresh code: it must step up first.
    const c = new WebClient(h.app.url);
    c.cookies.set('gh_device', a.cookie('device')!);
    expectPage(await submitPassword(c, who.userId, who.password), 200, 'Your account');
    expectPage(await c.get('/account/email'), 200, 'Confirm it is you');
    expectPage(await completeStepUp(h, c, who.email), 200, 'New email');
  });

  it('offers the JSON API: mobile by voice, mobile removal, email change; 403 until the session steps up', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInByEmail(h, web, who);
    let session = web.cookie('session')!;

    const mobile = await api(h.app.url, 'POST', '/api/v1/account/mobile', { session, body: { mobile: '+393335000005', channel: 'voice' } });
    expect(mobile.status).toBe(201);
    expect(mobile.body).toMatchObject({
      status: 'pending',
      step: 'otp',
      channel: 'voice',
      destination: '+39 *** *** 0005',
      delivery: 'sent',
    });
    const flow = { id: mobile.body.flow_id as string, token: mobile.body.flow_token as string };
    const code = await h.voice.waitForCode('+393335000005');
    const wrong = await api(h.app.url, 'POST', `/api/v1/account/mobile/${flow.id}/otp`, {
      session,
      flowToken: flow.token,
      body: { code: code === '000000' ? '111111' : '000000' },
    });
    expect(wrong.status).toBe(422);
    expect(wrong.body).toMatchObject({ status: 'pending', error: { code: 'otp_invalid', attempts_left: 4 } });
    expect((await userRow(db(), who.id)).mobile).toBeNull();
    const asEmail = await api(h.app.url, 'POST', `/api/v1/account/email/${flow.id}/otp`, {
      session,
      flowToken: flow.token,
      body: { code },
    });
    expect(asEmail.status).toBe(404);
    const ok = await api(h.app.url, 'POST', `/api/v1/account/mobile/${flow.id}/otp`, { session, flowToken: flow.token, body: { code } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'changed', step: 'done' });
    expect(await userRow(db(), who.id)).toMatchObject({ mobile: '+393335000005', mobile_verified_at: h.clock.now() });

    // Ten minutes later the session is no longer fresh: every change is refused until a step-up.
    h.clock.advance(Duration.ofMinutes(10));
    const refused = await api(h.app.url, 'DELETE', '/api/v1/account/mobile', { session });
    expect(refused.status).toBe(403);
    expect((await api(h.app.url, 'POST', '/api/v1/account/email', { session, body: { email: 'x@example.net' } })).status).toBe(403);
    expect((await userRow(db(), who.id)).mobile).toBe('+393335000005');

    const status = await api(h.app.url, 'GET', '/api/v1/account/step-up', { session });
    expect(status.body.channels).toEqual([
      { channel: 'email', destination: 'm***@example.com' },
      { channel: 'sms', destination: '+39 *** *** 0005' },
      { channel: 'voice', destination: '+39 *** *** 0005' },
    ]);
    const bad = await api(h.app.url, 'POST', '/api/v1/account/step-up', { session, body: { channel: 'carrier-pigeon' } });
    expect(bad.status).toBe(422);
    const started = await api(h.app.url, 'POST', '/api/v1/account/step-up', { session, body: { channel: 'sms' } });
    expect(started.status).toBe(201);
    const smsCode = await h.sms.waitForCode('+393335000005');
    const verified = await api(h.app.url, 'POST', `/api/v1/account/step-up/${started.body.flow_id as string}/otp`, {
      session,
      flowToken: started.body.flow_token as string,
      body: { code: smsCode },
    });
    expect(verified.body.step).toBe('done');
    // The step-up renewed the session's token; the old one is refused.
    expect(verified.body.session_token).toEqual(expect.any(String));
    expect((await api(h.app.url, 'DELETE', '/api/v1/account/mobile', { session })).status).toBe(401);
    session = verified.body.session_token as string;

    expect((await api(h.app.url, 'DELETE', '/api/v1/account/mobile', { session })).status).toBe(204);
    expect((await userRow(db(), who.id)).mobile).toBeNull();
    expect((await api(h.app.url, 'DELETE', '/api/v1/account/mobile', { session })).status).toBe(409);

    // Emails need not be unique: an address another person uses is accepted once proven.
    const other = await person();
    const seenOther = codeMails(h.mail, other.email).length;
    const email = await api(h.app.url, 'POST', '/api/v1/account/email', { session, body: { email: other.email } });
    expect(email.status).toBe(201);
    const emailCode = await nextEmailCode(h.mail, other.email, seenOther);
    const changed = await api(h.app.url, 'POST', `/api/v1/account/email/${email.body.flow_id as string}/otp`, {
      session,
      flowToken: email.body.flow_token as string,
      body: { code: emailCode },
    });
    expect(changed.body).toMatchObject({ status: 'changed' });
    expect((await userRow(db(), who.id)).email).toBe(other.email);
    await noticeTo(h, who.email, 'The email address of your Gatehouse account was changed');
  });
});
