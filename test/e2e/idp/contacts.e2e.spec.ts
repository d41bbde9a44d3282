import { Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import { fieldError } from '../../support/account-changes.js';
import { codeMails, errorLines, expectPage, nextEmailCode, signInByEmail, startHarness, type Harness } from '../../support/journeys.js';
import { WebClient, seedOrganization, seedUser, text, type WebResponse } from '../../support/web.js';
import { codeOccurrences } from '../../support/codes.js';

/**
 * Emergency contacts (issue 7, part 1) on the hosted pages: an emergency email verified by
 * a code over real SMTP, an emergency phone by text message or voice call (webhook
 * receivers), landline rules, codes bound to the value, atomic attempts, single use,
 * expiry on the fake clock, audit events, and no code in any log.
 */
describe('emergency contacts: pages and verification', () => {
  let h: Harness;
  let org: string;
  let n = 0;
  /** Every code seen in a message, to prove none of them reaches a log, an audit event or a page. */
  const codes = new Set<string>();

  beforeAll(async () => {
    h = await startHarness();
    org = await seedOrganization(h.db.dataSource, 'kin');
  });

  afterAll(async () => {
    await h.close();
  });

  const db = () => h.db.dataSource;
  const PAGE = '/account/emergency-contacts';

  async function signedIn(): Promise<{ web: WebClient; id: string; email: string }> {
    n++;
    const who = { userId: `kin.${n}`, password: `a kin password ${n}`, email: `kin${n}@example.com` };
    const id = await seedUser(db(), org, { enterpriseId: who.userId, password: who.password, email: who.email });
    const web = new WebClient(h.app.url);
    expectPage(await signInByEmail(h, web, who), 200, 'Your account');
    return { web, id, email: who.email };
  }

  async function saveEmail(web: WebClient, email: string): Promise<WebResponse> {
    await web.get(PAGE);
    return await web.post(`${PAGE}/email`, { action: 'save', email });
  }

  async function savePhone(web: WebClient, phone: string, channel: 'sms' | 'voice'): Promise<WebResponse> {
    await web.get(PAGE);
    return await web.post(`${PAGE}/phone`, { action: 'save', phone, channel });
  }

  async function emailCode(address: string, seen: number): Promise<string> {
    const code = await nextEmailCode(h.mail, address, seen);
    codes.add(code);
    return code;
  }

  async function phoneCode(channel: 'sms' | 'voice', to: string, alreadySeen = 0): Promise<string> {
    const code = await h[channel].waitForCode(to, { alreadySeen });
    codes.add(code);
    return code;
  }

  const otherThan = (code: string) => (code === '000000' ? '111111' : '000000');

  async function row(id: string): Promise<Record<string, unknown>> {
    const [r] = await db().query<Array<Record<string, unknown>>>(`SELECT * FROM emergency_contacts WHERE user_id = $1`, [id]);
    return r ?? {};
  }

  async function events(id: string): Promise<Array<{ event_type: string; details: Record<string, unknown> }>> {
    return await db().query(
      `SELECT event_type, details FROM audit_events WHERE subject_id = $1 AND event_type LIKE 'emergency_contact.%' ORDER BY id`,
      [id],
    );
  }

  it('adds an emergency email, verifies it with the code sent over SMTP (link-free, with the phishing reminder), and audits both', async () => {
    const { web, id } = await signedIn();
    const account = expectPage(await web.get('/account'), 200, 'Emergency contacts');
    expect(text(account.html)).toContain('Emergency email none');

    const bad = await saveEmail(web, 'not an address');
    expect(bad.status).toBe(422);
    expect(fieldError(bad.html, 'email-email')).toBe('Enter a valid email address.');
    expect(codeMails(h.mail, 'kin.relative@example.org')).toHaveLength(0);

    const saved = expectPage(await saveEmail(web, 'Kin.Relative@Example.org'), 200, 'Your emergency email was saved.');
    expect(text(saved.html)).toContain('We sent a 6-digit code by email to K***@example.org, for your emergency email.');
    expect(text(saved.html)).toContain('It is valid until 2026-06-01 09:10 UTC.');
    expect(text(saved.html)).toContain('(not verified)');
    const code = await emailCode('kin.relative@example.org', 0);
    const mail = codeMails(h.mail, 'kin.relative@example.org')[0]!;
    expect(mail.subject).toBe(`${code} is your Gatehouse code to confirm this email address as an emergency contact`);
    expect(mail.text).toContain('Gatehouse never asks you to reply to a message or to follow a link to verify a contact');
    expect(mail.text).toContain('valid for 10 minutes');
    expect(containsLink(mail.text)).toBe(false);
    expect(containsLink(mail.subject)).toBe(false);
    expect(await row(id)).toMatchObject({ email: 'Kin.Relative@example.org', email_verified_at: null });

    const wrong = await web.post(`${PAGE}/verify`, { kind: 'email', action: 'verify', code: otherThan(code) });
    expect(wrong.status).toBe(422);
    expect(fieldError(wrong.html, 'email-code')).toBe('That code is not correct. 4 attempts left.');
    expect(await row(id)).toMatchObject({ email_verified_at: null });

    const done = expectPage(
      await web.post(`${PAGE}/verify`, { kind: 'email', action: 'verify', code }),
      200,
      'Your emergency email is verified.',
    );
    expect(text(done.html)).toContain('Your emergency email is Kin.Relative@example.org (verified 2026-06-01 09:00 UTC)');
    expect(await row(id)).toMatchObject({ email_verified_at: h.clock.now(), email_challenge_id: null });
    expect(text((await web.get('/account')).html)).toContain('Emergency email Kin.Relative@example.org (verified)');
    // The sign-in email is untouched: emergency contacts are separate.
    const [user] = await db().query<Array<{ email: string }>>(`SELECT email FROM users WHERE id = $1`, [id]);
    expect(user!.email).toBe(`kin${n}@example.com`);

    const audit = await events(id);
    expect(audit.map((e) => e.event_type)).toEqual(['emergency_contact.email_added', 'emergency_contact.email_verified']);
    expect(audit[0]!.details).toMatchObject({ kind: 'email', previous: null, email: 'K***@example.org', via: 'session' });
    expect(audit[1]!.details).toMatchObject({ email: 'K***@example.org', verified_by: 'email', via: 'session' });
    const otpEvents = await db().query<Array<{ details: Record<string, unknown> }>>(
      `SELECT details FROM audit_events WHERE subject_id = $1 AND event_type = 'otp.issued'`,
      [id],
    );
    expect(otpEvents.some((e) => e.details.purpose === 'verification' && e.details.destination === 'k***@example.org')).toBe(true);

    // Changing the value makes it unverified again, and is audited with the previous (masked) value.
    const changed = expectPage(await saveEmail(web, 'another.relative@example.net'), 200, 'Your emergency email was saved.');
    expect(text(changed.html)).toContain('Your emergency email is another.relative@example.net (not verified)');
    expect(await row(id)).toMatchObject({ email: 'another.relative@example.net', email_verified_at: null });
    await emailCode('another.relative@example.net', 0);
    expect((await events(id)).at(-1)).toMatchObject({
      event_type: 'emergency_contact.email_changed',
      details: { previous: 'K***@example.org', email: 'a***@example.net' },
    });

    const removed = expectPage(await web.post(`${PAGE}/email`, { action: 'remove' }), 200, 'Your emergency email was removed.');
    expect(text(removed.html)).toContain('You have no emergency email yet.');
    expect((await events(id)).at(-1)).toMatchObject({
      event_type: 'emergency_contact.email_removed',
      details: { previous: 'a***@example.net' },
    });
    expect(errorLines(h.app)).toEqual([]);
  });

  it('verifies a mobile number by text message and, after a change, by voice call; each message is link-free', async () => {
    const { web, id } = await signedIn();
    const sent = expectPage(await savePhone(web, '+39 333 700 0001', 'sms'), 200, 'Your emergency phone was saved.');
    expect(text(sent.html)).toContain('Your emergency phone is +393337000001 (mobile) (not verified)');
    expect(text(sent.html)).toContain('We sent a 6-digit code by text message to +39 *** *** 0001, for your emergency phone.');
    const code = await phoneCode('sms', '+393337000001');
    const sms = h.sms.accepted.find((r) => r.body?.to === '+393337000001')!;
    expect(sms.body).toMatchObject({ channel: 'sms', locale: 'en' });
    expect(sms.body!.text).toContain('to confirm this phone number as an emergency contact');
    expect(sms.body!.text).toContain('Gatehouse never asks you to reply to a message or to follow a link to verify a contact');
    expect(containsLink(sms.body!.text as string)).toBe(false);

    expectPage(await web.post(`${PAGE}/verify`, { kind: 'phone', action: 'verify', code }), 200, 'Your emergency phone is verified.');
    expect(await row(id)).toMatchObject({
      phone: '+393337000001',
      phone_type: 'mobile',
      phone_verified_by: 'sms',
      phone_verified_at: h.clock.now(),
    });

    const byVoice = expectPage(await savePhone(web, '+39 333 700 0002', 'voice'), 200, 'Your emergency phone was saved.');
    expect(text(byVoice.html)).toContain('We sent a 6-digit code by voice call to +39 *** *** 0002');
    expect(await row(id)).toMatchObject({ phone: '+393337000002', phone_verified_at: null, phone_verified_by: null });
    const spoken = await phoneCode('voice', '+393337000002');
    const call = h.voice.accepted.find((r) => r.body?.to === '+393337000002')!;
    expect(call.body).toMatchObject({ channel: 'voice' });
    expect(call.body!.text).toContain(spoken.split('').join(', '));
    expect(call.body!.text).toContain('Gatehouse never asks you to reply to a message or to follow a link to verify a contact');
    expect(containsLink(call.body!.text as string)).toBe(false);
    expect(h.sms.accepted.filter((r) => r.body?.to === '+393337000002')).toHaveLength(0);

    expectPage(
      await web.post(`${PAGE}/verify`, { kind: 'phone', action: 'verify', code: spoken }),
      200,
      'Your emergency phone is verified.',
    );
    expect(await row(id)).toMatchObject({ phone: '+393337000002', phone_verified_by: 'voice' });
    expect((await events(id)).map((e) => e.event_type)).toEqual([
      'emergency_contact.phone_added',
      'emergency_contact.phone_verified',
      'emergency_contact.phone_changed',
      'emergency_contact.phone_verified',
    ]);
    expect((await events(id))[2]!.details).toMatchObject({ previous: '+39 *** *** 0001', phone: '+39 *** *** 0002', phone_type: 'mobile' });
  });

  it('a landline is verified by voice only: a text message is refused with a clear message and nothing is sent', async () => {
    const { web, id } = await signedIn();
    const refused = await savePhone(web, '+39 06 1234 5678', 'sms');
    expect(refused.status).toBe(422);
    expect(fieldError(refused.html, 'phone-channel')).toBe(
      'This is a landline number: we can only call it. Text messages are not offered for landlines.',
    );
    expect(await row(id)).toEqual({});
    expect(h.sms.requests.filter((r) => r.body?.to === '+390612345678')).toHaveLength(0);

    const called = expectPage(await savePhone(web, '+39 06 1234 5678', 'voice'), 200, 'Your emergency phone was saved.');
    expect(text(called.html)).toContain('Your emergency phone is +390612345678 (landline: voice calls only) (not verified)');
    expect(text(called.html)).toContain('This is a landline: we can only call it.');
    expect(text(called.html)).toContain('We sent a 6-digit code by voice call to +39 *** *** 5678');
    // The code form offers no channel choice for a landline: only a call.
    expect(called.html).not.toContain('id="resend-ch-sms"');
    const code = await phoneCode('voice', '+390612345678');

    h.clock.advance(Duration.ofSeconds(31));
    const resendSms = await web.post(`${PAGE}/verify`, { kind: 'phone', action: 'resend', channel: 'sms' });
    expect(resendSms.status).toBe(422);
    expect(text(resendSms.html)).toContain('This is a landline number: we can only call it.');
    expect(h.sms.requests.filter((r) => r.body?.to === '+390612345678')).toHaveLength(0);

    expectPage(await web.post(`${PAGE}/verify`, { kind: 'phone', action: 'verify', code }), 200, 'Your emergency phone is verified.');
    expect(await row(id)).toMatchObject({ phone_type: 'fixed_line', phone_verified_by: 'voice' });

    // A number that may be a mobile (North America) is offered both; premium-rate numbers are refused outright.
    const either = expectPage(await savePhone(web, '+1 201 555 0123', 'sms'), 200, 'Your emergency phone was saved.');
    expect(text(either.html)).toContain('(mobile or landline)');
    await phoneCode('sms', '+12015550123');
    const premium = await savePhone(web, '+39 899 123 456', 'voice');
    expect(premium.status).toBe(422);
    expect(fieldError(premium.html, 'phone-phone')).toMatch(/premium-rate number/u);
    expect(h.voice.requests.filter((r) => r.body?.to === '+39899123456')).toHaveLength(0);
  });

  it('a code sent to one address never verifies another, even when the other is pointed at its challenge', async () => {
    const { web, id } = await signedIn();
    await saveEmail(web, 'first.kin@example.org');
    const codeA = await emailCode('first.kin@example.org', 0);
    const challengeA = (await row(id)).email_challenge_id as string;

    await saveEmail(web, 'second.kin@example.org');
    const codeB = await emailCode('second.kin@example.org', 0);
    if (codeA !== codeB) {
      const wrong = await web.post(`${PAGE}/verify`, { kind: 'email', action: 'verify', code: codeA });
      expect(fieldError(wrong.html, 'email-code')).toBe('That code is not correct. 4 attempts left.');
    }
    // Even a stale reference to A's (live, unused) challenge cannot verify B: the code is bound to A's value.
    await db().query(`UPDATE emergency_contacts SET email_challenge_id = $2 WHERE user_id = $1`, [id, challengeA]);
    const stale = await web.post(`${PAGE}/verify`, { kind: 'email', action: 'verify', code: codeA });
    expect(stale.status).toBe(422);
    expect(fieldError(stale.html, 'email-code')).toBe('That code is not correct.');
    expect(await row(id)).toMatchObject({ email: 'second.kin@example.org', email_verified_at: null });
    const [a] = await db().query<Array<{ attempts: number; consumed_at: Date | null }>>(
      `SELECT attempts, consumed_at FROM otp_challenges WHERE id = $1`,
      [challengeA],
    );
    expect(a).toEqual({ attempts: 0, consumed_at: null });
  });

  it('20 parallel wrong codes never count more than 5 attempts; then even the right code is refused', async () => {
    const { web, id } = await signedIn();
    await saveEmail(web, 'parallel.kin@example.org');
    const code = await emailCode('parallel.kin@example.org', 0);
    const challenge = (await row(id)).email_challenge_id as string;
    const csrf = web.csrf();
    const wrong = otherThan(code);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        web.request('POST', `${PAGE}/verify`, new URLSearchParams({ csrf, kind: 'email', action: 'verify', code: wrong }), false),
      ),
    );
    expect(answers.every((a) => a.status === 422)).toBe(true);
    const [c] = await db().query<Array<{ attempts: number; max_attempts: number }>>(
      `SELECT attempts, max_attempts FROM otp_challenges WHERE id = $1`,
      [challenge],
    );
    expect(c).toEqual({ attempts: 5, max_attempts: 5 });
    const [counted] = await db().query<Array<{ invalid: number; exhausted: number }>>(
      `SELECT count(*) FILTER (WHERE details->>'reason' = 'invalid')::int AS invalid,
              count(*) FILTER (WHERE details->>'reason' = 'exhausted')::int AS exhausted
         FROM audit_events WHERE event_type = 'otp.failed' AND details->>'challenge_id' = $1`,
      [challenge],
    );
    expect(counted).toEqual({ invalid: 5, exhausted: 15 });

    await web.get(PAGE);
    const right = await web.post(`${PAGE}/verify`, { kind: 'email', action: 'verify', code });
    expect(fieldError(right.html, 'email-code')).toBe('Too many wrong codes. Send a new code.');
    expect(await row(id)).toMatchObject({ email_verified_at: null });
  });

  it('a used code cannot be used again, and an expired one is refused (fake clock); a new code then works', async () => {
    const { web, id } = await signedIn();
    await saveEmail(web, 'once.kin@example.org');
    const first = await emailCode('once.kin@example.org', 0);
    const firstChallenge = (await row(id)).email_challenge_id as string;
    expectPage(
      await web.post(`${PAGE}/verify`, { kind: 'email', action: 'verify', code: first }),
      200,
      'Your emergency email is verified.',
    );

    // Replay: the contact is made unverified again and pointed at the consumed challenge; its code is spent.
    await db().query(`UPDATE emergency_contacts SET email_verified_at = NULL, email_challenge_id = $2 WHERE user_id = $1`, [
      id,
      firstChallenge,
    ]);
    const replay = await web.post(`${PAGE}/verify`, { kind: 'email', action: 'verify', code: first });
    expect(fieldError(replay.html, 'email-code')).toBe('This code was already used. Send a new code.');
    expect(await row(id)).toMatchObject({ email_verified_at: null });

    // A fresh code (after the 30-second resend cooldown), left for more than 10 minutes, expires.
    h.clock.advance(Duration.ofSeconds(31));
    const resent = expectPage(await web.post(`${PAGE}/verify`, { kind: 'email', action: 'resend' }), 200, 'We sent a new code');
    const until = new Date(h.clock.now().getTime() + 600_000).toISOString().replace('T', ' ').slice(0, 16);
    expect(text(resent.html)).toContain(`It is valid until ${until} UTC.`);
    const second = await emailCode('once.kin@example.org', 1);
    h.clock.advance(Duration.ofMinutes(10));
    h.clock.advance(Duration.ofSeconds(1));
    const late = await web.post(`${PAGE}/verify`, { kind: 'email', action: 'verify', code: second });
    expect(fieldError(late.html, 'email-code')).toBe('This code has expired. Send a new code.');
    // The page no longer claims a code is on its way.
    expect(text(late.html)).not.toContain('We sent a 6-digit code');

    await web.get(PAGE);
    await web.post(`${PAGE}/verify`, { kind: 'email', action: 'resend' });
    const third = await emailCode('once.kin@example.org', 2);
    expectPage(
      await web.post(`${PAGE}/verify`, { kind: 'email', action: 'verify', code: third }),
      200,
      'Your emergency email is verified.',
    );
  });

  it('forms need the session CSRF token; signed out, the page leads to sign-in and back', async () => {
    const { web, id } = await signedIn();
    await web.get(PAGE);
    const forged = await web.request('POST', `${PAGE}/email`, new URLSearchParams({ action: 'save', email: 'evil@example.org' }), false);
    expect(forged.status).toBe(403);
    expect(await row(id)).toEqual({});
    const signedOut = await new WebClient(h.app.url).get(PAGE, false);
    expect(signedOut.status).toBe(303);
    expect(signedOut.location).toBe('/signin?return_to=%2Faccount%2Femergency-contacts');
  });

  it('no code ever reaches a log line or an audit event', async () => {
    expect(codes.size).toBeGreaterThan(5);
    const [audit] = await db().query<Array<{ all: string }>>(`SELECT string_agg(details::text, ' ') AS all FROM audit_events`);
    for (const code of codes) {
      expect(codeOccurrences(h.app.logs.text, code)).toEqual([]);
      expect(codeOccurrences(audit!.all, code)).toEqual([]);
    }
  });
});
