import {
  codeMails,
  enroll,
  errorLines,
  expectPage,
  nextEmailCode,
  signInByEmail,
  startHarness,
  submitPassword,
  type Harness,
} from './support/journeys.js';
import { WebClient, seedLegacyAccount, seedOrganization, seedUser } from './support/web.js';

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

  it('a legacy user enrolling with an Italian browser gets the enrollment code, and later sign-in codes, in Italian', async () => {
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
