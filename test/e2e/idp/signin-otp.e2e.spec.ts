import { Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import { extractCode } from '../../support/mail.js';
import {
  api,
  apiStart,
  codeMails,
  expectPage,
  nextEmailCode,
  errorLines,
  startHarness,
  submitPassword,
  withoutCsrf,
  type ApiResponse,
  type Harness,
} from '../../support/journeys.js';
import { WebClient, seedLegacyAccount, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * Sign-in with Enterprise ID, password and a one-time code by email, SMS or voice, over the
 * hosted pages and the JSON API; the OTP engine's limits over HTTP; enumeration and throttling.
 */
describe('sign-in with a one-time code', () => {
  let h: Harness;
  let org: string;
  const PASSWORD = 'correct horse battery 1';

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
  const user = (enterpriseId: string, extra: { mobile?: string; status?: string } = {}) =>
    seedUser(db(), org, { enterpriseId, password: PASSWORD, email: `${enterpriseId}@example.com`, ...extra });
  const sessionOf = async (userId: string) =>
    await db().query<Array<{ acr: string; verifications: Array<{ method: string; channel?: string }> }>>(
      `SELECT acr, verifications FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id`,
      [userId],
    );
  const otpPost = (base: string, flow: { id: string; token: string }, code: string) =>
    api(base, 'POST', `/api/v1/signin/${flow.id}/otp`, { flowToken: flow.token, body: { code } });

  it('signs in with Enterprise ID, password and a code sent by email', async () => {
    const id = await user('grace');
    const web = new WebClient(h.app.url);
    const otpPage = await submitPassword(web, 'Grace', PASSWORD);
    expect(otpPage.status).toBe(200);
    expect(text(otpPage.html)).toContain('We sent a 6-digit code by email to g***@example.com. It is valid for 10 minutes.');
    expect(otpPage.html).toContain('<label for="f-code">One-time code</label>');
    expect(otpPage.html).toContain('<label class="inline" for="f-remember">Remember this device</label>');
    expect(text(otpPage.html)).toContain('Verify');
    expect(text(otpPage.html)).toContain('Send a new code');

    const mail = codeMails(h.mail, 'grace@example.com')[0]!;
    const code = extractCode(mail.subject)!;
    expect(mail.text).toContain(code);
    expect(mail.text).toContain('to sign in');
    expect(mail.text).toContain('10 minutes');
    expect(containsLink(mail.text) || containsLink(mail.subject)).toBe(false);

    const done = await web.post('/signin/otp', { action: 'verify', code });
    expectPage(done, 200, 'Your account');
    expect(text(done.html)).toContain('grace');
    const [session] = await sessionOf(id);
    expect(session!.acr).toBe('urn:gatehouse:loa:2');
    expect(session!.verifications.map((v) => [v.method, v.channel])).toEqual([
      ['password', undefined],
      ['otp', 'email'],
    ]);
  });

  it('offers Email, Text message and Voice call with masked destinations when the mobile is verified; the SMS arrives as JSON', async () => {
    const id = await user('linus', { mobile: '+393331234567' });
    const web = new WebClient(h.app.url);
    const choice = await submitPassword(web, 'linus', PASSWORD);
    expect(choice.status).toBe(200);
    expect(choice.html).toContain('<label for="ch-email">Email</label>');
    expect(choice.html).toContain('<label for="ch-sms">Text message</label>');
    expect(choice.html).toContain('<label for="ch-voice">Voice call</label>');
    expect(text(choice.html)).toContain('Email: l***@example.com · Text message: +39 *** *** 4567 · Voice call: +39 *** *** 4567');
    // Nothing is sent before the user chose.
    expect(h.mail.messagesTo('linus@example.com')).toHaveLength(0);
    expect(h.sms.requests).toHaveLength(0);

    // The page's button sends the code by the selected channel.
    const sent = await web.post('/signin/otp', { channel: 'sms', action: 'resend' });
    expect(text(sent.html)).toContain('We sent a 6-digit code by text message to +39 *** *** 4567');
    const request = await h.sms.waitFor((r) => r.body?.to === '+393331234567');
    expect(request.method).toBe('POST');
    expect(Object.keys(JSON.parse(request.raw) as object)).toEqual(['channel', 'to', 'text', 'locale']);
    expect(request.body).toEqual({ channel: 'sms', to: '+393331234567', text: expect.stringContaining('to sign in'), locale: 'en' });
    const smsText = request.body!.text as string;
    expect(containsLink(smsText)).toBe(false);
    expect(smsText).not.toMatch(/https?:|www\.|\/\//u);
    expect(h.voice.requests).toHaveLength(0);

    const code = await h.sms.waitForCode('+393331234567');
    expectPage(await web.post('/signin/otp', { channel: 'sms', action: 'verify', code }), 200, 'Your account');
    const [session] = await sessionOf(id);
    expect(session!.verifications.at(-1)).toMatchObject({ method: 'otp', channel: 'sms' });
    const [row] = await db().query(`SELECT preferred_otp_channel FROM users WHERE id = $1`, [id]);
    expect(row.preferred_otp_channel).toBe('sms');
  });

  it('sends a voice call through its webhook, and the last chosen channel is the default next time (pages and API)', async () => {
    const id = await user('margaret', { mobile: '+393471112233' });
    const checked = (html: string) => /<input[^>]*id="ch-(\w+)"[^>]*checked/u.exec(html)?.[1];
    const web = new WebClient(h.app.url);
    expect(checked((await submitPassword(web, 'margaret', PASSWORD)).html)).toBe('email');

    const sent = await web.post('/signin/otp', { channel: 'voice', action: 'resend' });
    expect(text(sent.html)).toContain('We sent a 6-digit code by voice call to +39 *** *** 2233');
    const call = await h.voice.waitFor((r) => r.body?.to === '+393471112233');
    expect(Object.keys(JSON.parse(call.raw) as object)).toEqual(['channel', 'to', 'text', 'locale']);
    expect(call.body).toMatchObject({ channel: 'voice', to: '+393471112233', locale: 'en' });
    expect(call.body!.text).toMatch(/(\d, ){5}\d/u);
    expect(containsLink(call.body!.text as string)).toBe(false);
    const code = await h.voice.waitForCode('+393471112233');
    expectPage(await web.post('/signin/otp', { channel: 'voice', action: 'verify', code }), 200, 'Your account');
    expect((await sessionOf(id))[0]!.verifications.at(-1)).toMatchObject({ method: 'otp', channel: 'voice' });

    // Next time, voice is preselected on the page ...
    expect(checked((await submitPassword(new WebClient(h.app.url), 'margaret', PASSWORD)).html)).toBe('voice');
    // ... and named as the preferred channel by the API, which then signs in by SMS.
    h.clock.advance(Duration.ofSeconds(30));
    const flow = await apiStart(h.app.url);
    const step = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/credentials`, {
      flowToken: flow.token,
      body: { user_id: 'margaret', password: PASSWORD },
    });
    expect(step.status).toBe(200);
    expect(step.body).toMatchObject({
      step: 'choose_channel',
      preferred: 'voice',
      channels: [
        { channel: 'email', destination: 'm***@example.com' },
        { channel: 'sms', destination: '+39 *** *** 2233' },
        { channel: 'voice', destination: '+39 *** *** 2233' },
      ],
    });
    const chosen = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/channel`, { flowToken: flow.token, body: { channel: 'sms' } });
    expect(chosen.body).toMatchObject({ step: 'otp', channel: 'sms', delivery: 'sent' });
    const smsCode = await h.sms.waitForCode('+393471112233');
    const done = await otpPost(h.app.url, flow, smsCode);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ step: 'done', session_token: expect.any(String) });
  });

  it('counts at most 5 attempts for 20 parallel wrong guesses on one code, after which even the right code is refused', async () => {
    const id = await user('olga');
    const flow = await apiStart(h.app.url);
    const step = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/credentials`, {
      flowToken: flow.token,
      body: { user_id: 'olga', password: PASSWORD },
    });
    expect(step.body).toMatchObject({ step: 'otp', channel: 'email', delivery: 'sent' });
    const code = await nextEmailCode(h.mail, 'olga@example.com', 0);
    const wrong = Array.from({ length: 20 }, (_, i) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'));

    const answers = await Promise.all(wrong.map((guess) => otpPost(h.app.url, flow, guess)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(422));
    const codes = answers.map((a) => (a.body.error as { code: string }).code);
    expect(codes.filter((c) => c === 'otp_invalid')).toHaveLength(5);
    expect(codes.filter((c) => c === 'otp_exhausted')).toHaveLength(15);
    const [challenge] = await db().query(`SELECT attempts, consumed_at FROM otp_challenges WHERE flow_id = $1`, [flow.id]);
    expect(challenge).toEqual({ attempts: 5, consumed_at: null });

    const right = await otpPost(h.app.url, flow, code);
    expect(right.status).toBe(422);
    expect(right.body.error).toMatchObject({ code: 'otp_exhausted', message: 'Too many wrong codes. Send a new code.' });
    expect(await sessionOf(id)).toHaveLength(0);

    // The way forward: a new code, with its own 5 attempts.
    h.clock.advance(Duration.ofSeconds(30));
    const resent = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/resend`, { flowToken: flow.token, body: {} });
    expect(resent.body).toMatchObject({ step: 'otp', delivery: 'sent' });
    const fresh = await nextEmailCode(h.mail, 'olga@example.com', 1);
    expect((await otpPost(h.app.url, flow, fresh)).body).toMatchObject({ step: 'done', session_token: expect.any(String) });
  });

  it('refuses an expired code with a clear message and the way forward; an expired flow asks to start again', async () => {
    await user('nora');
    const web = new WebClient(h.app.url);
    expectPage(await submitPassword(web, 'nora', PASSWORD), 200, 'We sent a 6-digit code by email');
    const first = await nextEmailCode(h.mail, 'nora@example.com', 0);
    h.clock.advance(Duration.ofMinutes(10));
    const expired = await web.post('/signin/otp', { action: 'verify', code: first });
    expect(text(expired.html)).toContain('This code has expired. Send a new code.');
    const resent = await web.post('/signin/otp', { action: 'resend', code: '' });
    expect(text(resent.html)).toContain('We sent a 6-digit code by email to n***@example.com');
    const second = await nextEmailCode(h.mail, 'nora@example.com', 1);

    // The sign-in flow itself lasts 15 minutes from its start.
    h.clock.advance(Duration.ofMinutes(5));
    const gone = await web.post('/signin/otp', { action: 'verify', code: second });
    expect(gone.status).toBe(410);
    expect(text(gone.html)).toContain('This step took too long and has expired. Please start again.');
    expectPage(await submitPassword(new WebClient(h.app.url), 'nora', PASSWORD), 200, 'We sent a 6-digit code by email');
  });

  it('refuses the replay of a used code', async () => {
    const id = await user('pavel');
    const flow = await apiStart(h.app.url);
    await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/credentials`, {
      flowToken: flow.token,
      body: { user_id: 'pavel', password: PASSWORD },
    });
    const code = await nextEmailCode(h.mail, 'pavel@example.com', 0);
    const first = await otpPost(h.app.url, flow, code);
    expect(first.body).toMatchObject({ step: 'done', session_token: expect.any(String) });

    // The flow is over: the same request again finds nothing to continue.
    const replay = await otpPost(h.app.url, flow, code);
    expect(replay.status).toBe(404);
    expect(replay.headers.get('content-type')).toContain('application/problem+json');
    expect(replay.body).toMatchObject({ code: 'flow_not_found' });
    const [challenge] = await db().query(`SELECT consumed_at, attempts FROM otp_challenges WHERE flow_id = $1`, [flow.id]);
    expect(challenge.consumed_at).not.toBeNull();
    expect(challenge.attempts).toBe(1);
    expect(await sessionOf(id)).toHaveLength(1);

    // In a new sign-in, the used code is not the one asked for.
    const again = await apiStart(h.app.url);
    await api(h.app.url, 'POST', `/api/v1/signin/${again.id}/credentials`, {
      flowToken: again.token,
      body: { user_id: 'pavel', password: PASSWORD },
    });
    const fresh = await nextEmailCode(h.mail, 'pavel@example.com', 1);
    // (Unless both codes happen to be equal: one chance in a million.)
    if (fresh !== code) {
      const reused = await otpPost(h.app.url, again, code);
      expect(reused.status).toBe(422);
      expect(reused.body.error).toMatchObject({ code: 'otp_invalid' });
    }
    expect(await sessionOf(id)).toHaveLength(1);

    // Hosted pages: after sign-in the flow cookie is gone, so posting the code again only asks to start again.
    const web = new WebClient(h.app.url);
    expectPage(await submitPassword(web, 'pavel', PASSWORD), 200, 'We sent a 6-digit code');
    h.clock.advance(Duration.ofSeconds(1));
    const hostedCode = await nextEmailCode(h.mail, 'pavel@example.com', 2);
    const csrf = web.csrf();
    expectPage(await web.post('/signin/otp', { action: 'verify', code: hostedCode }), 200, 'Your account');
    const replayed = await web.request('POST', '/signin/otp', new URLSearchParams({ csrf, action: 'verify', code: hostedCode }));
    expect(replayed.status).toBe(403);
    expect(text(replayed.html)).toContain('Please start again');
    expect(await sessionOf(id)).toHaveLength(2);
  });

  it('"Send a new code" has a 30-second cooldown; afterwards the new code works and the previous one is refused', async () => {
    const id = await user('quinn');
    const web = new WebClient(h.app.url);
    expectPage(await submitPassword(web, 'quinn', PASSWORD), 200, 'We sent a 6-digit code by email');
    const first = await nextEmailCode(h.mail, 'quinn@example.com', 0);

    h.clock.advance(Duration.ofSeconds(10));
    const early = await web.post('/signin/otp', { action: 'resend', code: '' });
    expect(text(early.html)).toContain('Please wait 20 seconds before asking for a new code.');
    expect(codeMails(h.mail, 'quinn@example.com')).toHaveLength(1);

    h.clock.advance(Duration.ofSeconds(20));
    const resent = await web.post('/signin/otp', { action: 'resend', code: '' });
    expect(text(resent.html)).toContain('We sent a 6-digit code by email to q***@example.com');
    expect(text(resent.html)).not.toContain('Please wait');
    const second = await nextEmailCode(h.mail, 'quinn@example.com', 1);
    const challenges = await db().query<Array<{ invalidated_at: Date | null }>>(
      `SELECT invalidated_at FROM otp_challenges WHERE subject_id = $1 ORDER BY created_at`,
      [id],
    );
    expect(challenges.map((c) => c.invalidated_at !== null)).toEqual([true, false]);

    // (Unless both codes happen to be equal: one chance in a million.)
    if (first !== second) {
      const refused = await web.post('/signin/otp', { action: 'verify', code: first });
      expect(text(refused.html)).toContain('That code is not correct. 4 attempts left.');
    }
    expectPage(await web.post('/signin/otp', { action: 'verify', code: second }), 200, 'Your account');
  });

  it('answers an unknown user, a wrong password, a disabled account and wrong legacy credentials the same way', async () => {
    await user('rita');
    await user('sam', { status: 'disabled' });
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-8001', password: 'old-Secret-1', email: 'leg@example.com' });
    const attempts: Array<[string, string]> = [
      ['nobody.here', PASSWORD],
      ['rita', 'wrong password here'],
      ['sam', PASSWORD],
      ['L-8001', 'wrong password here'],
    ];

    const pages = [];
    for (const [userId, password] of attempts) pages.push(await submitPassword(new WebClient(h.app.url), userId, password));
    expect(pages.map((p) => p.status)).toEqual([401, 401, 401, 401]);
    expect(text(pages[0]!.html)).toContain('The User ID or password is not correct.');
    for (const page of pages.slice(1)) expect(withoutCsrf(page.html)).toBe(withoutCsrf(pages[0]!.html));

    const answers: ApiResponse[] = [];
    for (const [userId, password] of attempts) {
      const flow = await apiStart(h.app.url);
      answers.push(
        await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/credentials`, {
          flowToken: flow.token,
          body: { user_id: userId, password },
        }),
      );
    }
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401]);
    const bodies = answers.map((a) => JSON.stringify({ ...a.body, flow_id: undefined }));
    expect(new Set(bodies).size).toBe(1);
    expect(answers[0]!.body).toEqual({
      flow_id: expect.any(String),
      step: 'credentials',
      error: { code: 'invalid_credentials', message: 'The User ID or password is not correct.' },
    });
    // Nobody got a code or a session.
    expect(codeMails(h.mail, 'sam@example.com')).toHaveLength(0);
    expect(
      await db().query(`SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.enterprise_id IN ('rita', 'sam')`),
    ).toHaveLength(0);
  });

  it('throttles a known and an unknown User ID with the same 429 answer, kept in PostgreSQL across app restarts', async () => {
    await user('tara');
    const from = { 'X-Forwarded-For': '203.0.113.7' };
    const hosted = async (base: string, userId: string, password: string) => {
      const web = new WebClient(base);
      Object.assign(web.extraHeaders, from);
      return await submitPassword(web, userId, password);
    };
    const viaApi = async (base: string, userId: string, password: string) => {
      const flow = await apiStart(base, from);
      return await api(base, 'POST', `/api/v1/signin/${flow.id}/credentials`, {
        flowToken: flow.token,
        body: { user_id: userId, password },
        headers: from,
      });
    };

    for (const userId of ['tara', 'not.a.user']) {
      for (let i = 0; i < 6; i++) expect((await hosted(h.app.url, userId, `wrong password ${i}`)).status).toBe(401);
    }
    // Known (even with the right password) and unknown: the same answer.
    const known = await hosted(h.app.url, 'tara', PASSWORD);
    const unknown = await hosted(h.app.url, 'not.a.user', 'anything at all');
    expect([known.status, unknown.status]).toEqual([429, 429]);
    expect(text(known.html)).toContain('Too many attempts. Try again in 2 seconds.');
    expect(withoutCsrf(known.html)).toBe(withoutCsrf(unknown.html));
    expect(known.headers.get('retry-after')).toBe('2');
    expect(unknown.headers.get('retry-after')).toBe('2');
    const knownApi = await viaApi(h.app.url, 'tara', PASSWORD);
    const unknownApi = await viaApi(h.app.url, 'not.a.user', 'anything at all');
    expect([knownApi.status, unknownApi.status]).toEqual([429, 429]);
    expect({ ...knownApi.body, flow_id: null }).toEqual({ ...unknownApi.body, flow_id: null });
    expect(knownApi.body.error).toEqual({ code: 'throttled', message: 'Too many attempts. Try again in 2 seconds.', retry_after: 2 });

    // A node that never saw those failures (a restarted app) gives the same answer.
    const restarted = await h.startNode();
    const again = await hosted(restarted.url, 'tara', PASSWORD);
    expect(again.status).toBe(429);
    expect(withoutCsrf(again.html)).toBe(withoutCsrf(known.html));
    expect((await viaApi(restarted.url, 'not.a.user', 'x')).status).toBe(429);

    // Once the delay has passed, the right password goes on to the code.
    h.clock.advance(Duration.ofSeconds(2));
    expectPage(await hosted(restarted.url, 'tara', PASSWORD), 200, 'We sent a 6-digit code by email');
  });

  it('"Start over" on the code step ends the flow: back to User ID and Password, and the code sent for it is refused', async () => {
    await user('ursula');
    const web = new WebClient(h.app.url);
    expectPage(await submitPassword(web, 'ursula', PASSWORD), 200, 'We sent a 6-digit code by email');
    const code = await nextEmailCode(h.mail, 'ursula@example.com', 0);
    const flowCookie = web.cookie('signin');
    expect(flowCookie).toBeDefined();

    const back = await web.post('/signin/otp', { action: 'restart', code: '' });
    expect(back.status).toBe(200);
    expect(back.html).toContain('<label for="f-user_id">User ID</label>');
    expect(web.cookie('signin')).not.toBe(flowCookie);
    const ended = await db().query(`SELECT 1 FROM auth_flows WHERE id = $1`, [flowCookie!.split('.')[0]]);
    expect(ended).toHaveLength(0);

    // The new flow is at its first step: a code typed now verifies nothing and signs nobody in.
    const late = await web.post('/signin/otp', { action: 'verify', code });
    expect(text(late.html)).not.toContain('Your account');
    expect(
      await sessionOf((await db().query<Array<{ id: string }>>(`SELECT id FROM users WHERE enterprise_id = 'ursula'`))[0]!.id),
    ).toHaveLength(0);
  });
});
