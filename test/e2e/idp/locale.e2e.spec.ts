import {
  api,
  codeMails,
  enroll,
  errorLines,
  expectPage,
  nextEmailCode,
  signInByEmail,
  startHarness,
  submitPassword,
  type Harness,
} from '../../support/journeys.js';
import { forgotEnterpriseId } from '../../support/recovery.js';
import { WebClient, seedLegacyAccount, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * Localized messages over real HTTP and a real SMTP server: the language comes from the
 * browser at enrollment (kept on the user), else the organization's default, else English.
 * Hosted pages stay English.
 */
describe('localized messages', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterEach(() => {
    expect(errorLines(h.app)).toEqual([]);
  });
  afterAll(async () => {
    await h.close();
  });
  const db = () => h.db.dataSource;

  it('a legacy user enrolling with an Italian browser gets enrollment, sign-in and recovery messages in Italian until switching to English on the account page', async () => {
    const org = await seedOrganization(db(), 'italia');
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-IT-1', password: 'old-Secret-1', email: 'giulia@example.com' });
    const web = new WebClient(h.app.url);
    web.extraHeaders['Accept-Language'] = 'it-IT,it;q=0.9,en;q=0.8';
    // The pages themselves stay English (the contract's labels).
    await enroll(h, web, {
      legacyUserId: 'L-IT-1',
      legacyPassword: 'old-Secret-1',
      email: 'giulia@example.com',
      enterpriseId: 'giulia.rossi',
      password: 'analytical engine 1843',
    });
    const [enrollment] = codeMails(h.mail, 'giulia@example.com');
    expect(enrollment!.subject).toMatch(/^\d{6} è il tuo codice Gatehouse per attivare il tuo Enterprise ID$/u);
    expect(enrollment!.text).toContain('È valido per 10 minuti');
    expect(enrollment!.text).toContain('Gatehouse non ti chiederà mai questo codice per telefono e non invia mai link');
    expect(enrollment!.raw).toMatch(/^Content-Language: it$/mu);
    const [user] = await db().query<Array<{ locale: string }>>(`SELECT locale FROM users WHERE enterprise_id = 'giulia.rossi'`);
    expect(user!.locale).toBe('it');

    // Later, from a browser that says nothing about languages: still Italian (the user's own).
    const later = new WebClient(h.app.url);
    expectPage(
      await signInByEmail(h, later, { userId: 'giulia.rossi', password: 'analytical engine 1843', email: 'giulia@example.com' }),
      200,
      'Your account',
    );
    const login = codeMails(h.mail, 'giulia@example.com').at(-1)!;
    expect(login.subject).toMatch(/^\d{6} è il tuo codice Gatehouse per accedere$/u);
    expect(login.text).toContain('Il tuo codice monouso Gatehouse per accedere è:');

    // Recovery (a browser in English: the stored language wins): the code and the Enterprise ID reminder, in Italian.
    const recovering = new WebClient(h.app.url);
    recovering.extraHeaders['Accept-Language'] = 'en-US,en;q=0.9';
    await forgotEnterpriseId(recovering, 'giulia@example.com', '27182818');
    await h.mail.waitFor(() => codeMails(h.mail, 'giulia@example.com').some((m) => m.subject.includes('per recuperare il tuo account')));
    const recoveryMail = codeMails(h.mail, 'giulia@example.com').find((m) => m.subject.includes('per recuperare il tuo account'))!;
    const shown = await recovering.post('/recover/otp', { action: 'verify', code: /\d{6}/u.exec(recoveryMail.subject)![0] });
    expect(text(shown.html)).toContain('Your Enterprise ID is giulia.rossi');
    await h.mail.waitFor(() => h.mail.messagesTo('giulia@example.com').some((m) => m.subject === 'Il tuo Enterprise ID Gatehouse'));
    const reminder = h.mail.messagesTo('giulia@example.com').find((m) => m.subject === 'Il tuo Enterprise ID Gatehouse')!;
    expect(reminder.text).toContain('giulia (dot) rossi');
    expect(reminder.raw).toMatch(/^Content-Language: it$/mu);

    // The account page offers the language (selected: Italiano); switching to English switches the next message, audit-logged.
    const account = expectPage(await later.get('/account'), 200, 'Language');
    expect(account.html).toMatch(/<option value="it" lang="it"\s+selected>Italiano<\/option>/u);
    expect(text(account.html)).toContain('Your account');
    expectPage(await later.post('/account/language', { locale: 'en' }), 200, 'now in the language you chose');
    expect(later.last!.html).toMatch(/<option value="en" lang="en"\s+selected>English<\/option>/u);
    const [event] = await db().query<Array<{ actor_type: string; subject_id: string; details: { locale: string; previous: string } }>>(
      `SELECT actor_type, subject_id, details FROM audit_events WHERE event_type = 'account.language_changed'`,
    );
    expect(event).toMatchObject({ actor_type: 'user', details: { locale: 'en', previous: 'it' } });
    const seen = codeMails(h.mail, 'giulia@example.com').length;
    expectPage(
      await submitPassword(new WebClient(h.app.url), 'giulia.rossi', 'analytical engine 1843'),
      200,
      'We sent a 6-digit code by email',
    );
    await nextEmailCode(h.mail, 'giulia@example.com', seen);
    expect(codeMails(h.mail, 'giulia@example.com').at(-1)!.subject).toMatch(/^\d{6} is your Gatehouse code to sign in$/u);
  });

  it('refuses a language that is not offered, or a form without its CSRF token, and changes nothing', async () => {
    const org = await seedOrganization(db(), 'torino');
    const id = await seedUser(db(), org, { enterpriseId: 'anna.verdi', password: 'correct horse battery', email: 'anna@example.com' });
    const web = new WebClient(h.app.url);
    await signInByEmail(h, web, { userId: 'anna.verdi', password: 'correct horse battery', email: 'anna@example.com' });
    expectPage(await web.get('/account'), 200, 'Language');
    const bad = await web.post('/account/language', { locale: 'xx' });
    expect(bad.status).toBe(400);
    expect(text(bad.html)).toContain('Choose one of the languages offered');
    expectPage(await web.get('/account'), 200, 'Language');
    const forged = await web.request('POST', '/account/language', new URLSearchParams({ csrf: 'forged', locale: 'it' }));
    expect(forged.status).toBe(403);
    const [row] = await db().query<Array<{ locale: string | null }>>(`SELECT locale FROM users WHERE id = $1`, [id]);
    expect(row!.locale).toBeNull();
  });

  it('an SMS to a user of an Italian organization is in Italian, with locale "it" in the webhook payload', async () => {
    const org = await seedOrganization(db(), 'roma', { default_locale: 'it' });
    await seedUser(db(), org, {
      enterpriseId: 'luca.neri',
      password: 'correct horse battery',
      email: 'luca@example.com',
      mobile: '+393339876543',
    });
    const web = new WebClient(h.app.url);
    await submitPassword(web, 'luca.neri', 'correct horse battery');
    await web.post('/signin/otp', { channel: 'sms', action: 'resend' });
    const request = await h.sms.waitFor((r) => r.body?.to === '+393339876543');
    expect(request.body).toEqual({
      channel: 'sms',
      to: '+393339876543',
      text: expect.stringMatching(/^\d{6} è il tuo codice Gatehouse per accedere\. Valido per 10 minuti\. Non comunicarlo a nessuno/u),
      locale: 'it',
    });
  });

  it('a user without a locale gets the organization default (Italian); with an English locale, English', async () => {
    const org = await seedOrganization(db(), 'milano', { default_locale: 'it' });
    const id = await seedUser(db(), org, { enterpriseId: 'marco.bianchi', password: 'correct horse battery', email: 'marco@example.com' });
    const who = { userId: 'marco.bianchi', password: 'correct horse battery', email: 'marco@example.com' };
    let seen = codeMails(h.mail, who.email).length;
    expectPage(await submitPassword(new WebClient(h.app.url), who.userId, who.password), 200, 'We sent a 6-digit code by email');
    await nextEmailCode(h.mail, who.email, seen);
    expect(codeMails(h.mail, who.email).at(-1)!.subject).toMatch(/è il tuo codice Gatehouse per accedere$/u);

    await db().query(`UPDATE users SET locale = 'en' WHERE id = $1`, [id]);
    seen = codeMails(h.mail, who.email).length;
    expectPage(await submitPassword(new WebClient(h.app.url), who.userId, who.password), 200, 'We sent a 6-digit code by email');
    await nextEmailCode(h.mail, who.email, seen);
    expect(codeMails(h.mail, who.email).at(-1)!.subject).toMatch(/^\d{6} is your Gatehouse code to sign in$/u);
  });

  it('the new-device notice follows the organization default (Italian)', async () => {
    const org = await seedOrganization(db(), 'napoli', { default_locale: 'it' });
    await seedUser(db(), org, { enterpriseId: 'sara.russo', password: 'correct horse battery', email: 'sara@example.com' });
    const web = new WebClient(h.app.url);
    expectPage(
      await signInByEmail(
        h,
        web,
        { userId: 'sara.russo', password: 'correct horse battery', email: 'sara@example.com' },
        { remember: true },
      ),
      200,
      'Your account',
    );
    await h.mail.waitFor(() => h.mail.messagesTo('sara@example.com').some((m) => m.subject === 'Nuovo accesso al tuo account Gatehouse'));
    const notice = h.mail.messagesTo('sara@example.com').find((m) => m.subject === 'Nuovo accesso al tuo account Gatehouse')!;
    expect(notice.text).toContain('Il tuo account è appena stato usato per accedere da un nuovo dispositivo');
    expect(notice.raw).toMatch(/^Content-Language: it$/mu);
  });

  it('the JSON API takes an optional locale at the credentials step (a field error when unsupported) and writes in it', async () => {
    const org = await seedOrganization(db(), 'bologna');
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-API-1', password: 'old-Secret-9', email: 'elena@example.com' });
    const started = await api(h.app.url, 'POST', '/api/v1/signin', { body: {} });
    const legacy = await api(h.app.url, 'POST', `/api/v1/signin/${started.body.flow_id as string}/credentials`, {
      flowToken: started.body.flow_token as string,
      body: { user_id: 'L-API-1', password: 'old-Secret-9' },
      // The app's own language header says English: the explicit field wins.
      headers: { 'Accept-Language': 'en' },
    });
    const flow = legacy.body.enrollment as { flow_id: string; flow_token: string };
    const step = (action: string, body: Record<string, unknown> = {}) =>
      api(h.app.url, 'POST', `/api/v1/enrollment/${flow.flow_id}/${action}`, { flowToken: flow.flow_token, body });
    expect((await step('confirm')).body).toMatchObject({ step: 'credentials' });
    const choice = {
      enterprise_id: 'elena.api',
      password: 'a long and new password 9',
      confirm_password: 'a long and new password 9',
      security_code: '27182818',
      confirm_security_code: '27182818',
      mobile: '',
    };
    for (const locale of ['fr', 'it;q=1', 42]) {
      const refused = await step('credentials', { ...choice, locale });
      expect(refused.status).toBe(422);
      expect(refused.body.field_errors).toEqual({ locale: 'Choose a language messages can be written in: en or it.' });
    }
    expect(h.mail.messagesTo('elena@example.com')).toHaveLength(0);
    expect((await step('credentials', { ...choice, locale: 'it-IT' })).body).toMatchObject({ step: 'email_otp' });
    const code = await nextEmailCode(h.mail, 'elena@example.com', 0);
    expect(codeMails(h.mail, 'elena@example.com')[0]!.subject).toBe(`${code} è il tuo codice Gatehouse per attivare il tuo Enterprise ID`);
    expect((await step('email-otp', { code })).body).toMatchObject({ step: 'done' });
    const [user] = await db().query<Array<{ locale: string }>>(`SELECT locale FROM users WHERE enterprise_id = 'elena.api'`);
    expect(user!.locale).toBe('it');
  });

  it('an unsupported browser language leaves the organization default (English)', async () => {
    const org = await seedOrganization(db(), 'paris');
    await seedLegacyAccount(db(), org, { legacyUserId: 'L-FR-1', password: 'old-Secret-1', email: 'jeanne@example.com' });
    const web = new WebClient(h.app.url);
    web.extraHeaders['Accept-Language'] = 'fr-FR,fr;q=0.9';
    await enroll(h, web, {
      legacyUserId: 'L-FR-1',
      legacyPassword: 'old-Secret-1',
      email: 'jeanne@example.com',
      enterpriseId: 'jeanne.dupont',
      password: 'analytical engine 1843',
    });
    expect(codeMails(h.mail, 'jeanne@example.com')[0]!.subject).toMatch(/^\d{6} is your Gatehouse code to set up your Enterprise ID$/u);
    const [user] = await db().query<Array<{ locale: string | null }>>(`SELECT locale FROM users WHERE enterprise_id = 'jeanne.dupont'`);
    expect(user!.locale).toBeNull();
  });
});
