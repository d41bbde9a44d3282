import { containsLink } from '#libs/notifications';
import { fieldError } from '../../support/account-changes.js';
import { codeMails, errorLines, expectPage, nextEmailCode, signInByEmail, startHarness, type Harness } from '../../support/journeys.js';
import { WebClient, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * The organization policy on emergency contacts (issue 7, part 1): with verified contacts
 * required, sign-in ends on an interstitial that asks for them, "Remind me later" is allowed
 * N times per user (audited), and after that the user must verify to continue.
 */
describe('emergency contacts: organization policy and the interstitial after sign-in', () => {
  let h: Harness;
  let n = 0;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h.close();
  });

  const db = () => h.db.dataSource;
  const PAGE = '/account/emergency-contacts';

  async function organization(policy: Record<string, unknown>): Promise<string> {
    n++;
    return await seedOrganization(db(), `policy-${n}`, policy);
  }

  async function person(org: string): Promise<{ userId: string; password: string; email: string; id: string }> {
    n++;
    const who = { userId: `member.${n}`, password: `a member password ${n}`, email: `member${n}@example.com` };
    const id = await seedUser(db(), org, { enterpriseId: who.userId, password: who.password, email: who.email });
    return { ...who, id };
  }

  async function remindersUsed(id: string): Promise<number> {
    const [r] = await db().query<Array<{ reminders_used: number }>>(`SELECT reminders_used FROM emergency_contacts WHERE user_id = $1`, [
      id,
    ]);
    return r?.reminders_used ?? 0;
  }

  async function events(id: string, type: string): Promise<Array<Record<string, unknown>>> {
    const rows = await db().query<Array<{ details: Record<string, unknown> }>>(
      `SELECT details FROM audit_events WHERE subject_id = $1 AND event_type = $2 ORDER BY id`,
      [id, type],
    );
    return rows.map((r) => r.details);
  }

  it('asks after sign-in, allows "Remind me later" twice (counted per user, audited), then insists until both are verified', async () => {
    const org = await organization({
      require_verified_emergency_email: true,
      require_verified_emergency_phone: true,
      contact_reminder_limit: 2,
    });
    const who = await person(org);

    // First sign-in: the interstitial, not the account page.
    const web = new WebClient(h.app.url);
    const asked = expectPage(await signInByEmail(h, web, who), 200, 'Verify your emergency contacts');
    expect(text(asked.html)).toContain('Your organization asks you to verify your emergency email and your emergency phone.');
    expect(text(asked.html)).toContain('You can postpone this 2 more times.');
    expect(text(asked.html)).toContain('Gatehouse never asks you to reply to a message or to follow a link to verify a contact.');
    // Ignoring it and opening the account page: the account page asks too.
    const account = expectPage(await web.get('/account'), 200, 'Your account');
    expect(text(account.html)).toContain('Your organization asks you to verify your emergency email and your emergency phone. Verify now');

    expectPage(await web.get(`${PAGE}?return_to=%2Faccount`), 200, 'Verify your emergency contacts');
    const later = await web.post(`${PAGE}/remind-later`, { return_to: '/account' }, false);
    expect(later.status).toBe(303);
    expect(later.location).toBe('/account');
    expect(await remindersUsed(who.id)).toBe(1);
    // In this session it is not asked again.
    const again = await web.get(`${PAGE}?return_to=%2Faccount`, false);
    expect(again.location).toBe('/account');

    // Second sign-in (another browser): asked again, one postponement left.
    const second = new WebClient(h.app.url);
    expectPage(await signInByEmail(h, second, who), 200, 'You can postpone this one more time.');
    expectPage(await second.post(`${PAGE}/remind-later`, { return_to: '/account' }), 200, 'Your account');
    expect(await remindersUsed(who.id)).toBe(2);

    // Third sign-in: no "Remind me later" any more; posting it anyway is refused and audited.
    const third = new WebClient(h.app.url);
    const insisted = expectPage(await signInByEmail(h, third, who), 200, 'You can no longer postpone this: verify them to continue.');
    expect(insisted.html).not.toContain('Remind me later');
    const refused = await third.post(`${PAGE}/remind-later`, { return_to: '/account' });
    expect(refused.status).toBe(409);
    expect(text(refused.html)).toContain('You have already postponed this 2 times. Verify your emergency contacts to continue.');
    expect(await remindersUsed(who.id)).toBe(2);

    const deferrals = await events(who.id, 'emergency_contact.reminder_deferred');
    expect(deferrals).toHaveLength(2);
    expect(deferrals[0]).toMatchObject({ missing: ['email', 'phone'], reminders_used: 1, reminder_limit: 2, via: 'session' });
    expect(deferrals[1]).toMatchObject({ reminders_used: 2 });
    expect(await events(who.id, 'emergency_contact.reminder_refused')).toEqual([expect.objectContaining({ reminder_limit: 2 })]);

    // Verifying the email alone is not enough; with the phone too, the user goes on to where sign-in was leading.
    await third.get(`${PAGE}?return_to=%2Faccount`);
    const email = `kin.third@example.org`;
    const afterEmail = expectPage(
      await third.post(`${PAGE}/email`, { action: 'save', email, return_to: '/account' }),
      200,
      'Verify your emergency contacts',
    );
    const emailDone = await third.post(`${PAGE}/verify`, {
      kind: 'email',
      action: 'verify',
      code: await nextEmailCode(h.mail, email, 0),
      return_to: '/account',
    });
    expect(text(emailDone.html)).toContain('Your organization asks you to verify your emergency phone.');
    expect(afterEmail.html).toContain('name="return_to" value="/account"');
    await third.post(`${PAGE}/phone`, { action: 'save', phone: '+393338000001', channel: 'sms', return_to: '/account' });
    const done = await third.post(
      `${PAGE}/verify`,
      { kind: 'phone', action: 'verify', code: await h.sms.waitForCode('+393338000001'), return_to: '/account' },
      false,
    );
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account');

    // From now on, sign-in goes straight on.
    expectPage(await signInByEmail(h, new WebClient(h.app.url), who), 200, 'Your account');
    expect(await remindersUsed(who.id)).toBe(2);
    expect(errorLines(h.app)).toEqual([]);
  });

  it('with a limit of 0 there is no "Remind me later"; the interstitial keeps sign-in\'s destination (return_to) until verified', async () => {
    const org = await organization({ require_verified_emergency_email: true, contact_reminder_limit: 0 });
    const who = await person(org);
    const web = new WebClient(h.app.url);
    await web.get('/signin?return_to=%2Faccount%2Fpassword');
    const asked = await web.post('/signin', { user_id: who.userId, password: who.password });
    expectPage(asked, 200, 'We sent a 6-digit code by email');
    const landing = await web.post('/signin/otp', { action: 'verify', code: await nextEmailCode(h.mail, who.email, 0) }, false);
    expect(landing.status).toBe(303);
    expect(landing.location).toBe(`${PAGE}?return_to=%2Faccount%2Fpassword`);
    const page = expectPage(await web.get(landing.location!), 200, 'Your organization asks you to verify your emergency email.');
    expect(page.html).not.toContain('Remind me later');
    expect(text(page.html)).toContain('You can no longer postpone this');
    const refused = await web.post(`${PAGE}/remind-later`, { return_to: '/account/password' });
    expect(refused.status).toBe(409);
    expect(text(refused.html)).toContain('Your organization asks you to verify your emergency contacts now.');

    await web.get(landing.location!);
    await web.post(`${PAGE}/email`, { action: 'save', email: 'zero.kin@example.org', return_to: '/account/password' });
    const code = await nextEmailCode(h.mail, 'zero.kin@example.org', 0);
    const wrong = await web.post(`${PAGE}/verify`, {
      kind: 'email',
      action: 'verify',
      code: code === '000000' ? '111111' : '000000',
      return_to: '/account/password',
    });
    expect(fieldError(wrong.html, 'email-code')).toBe('That code is not correct. 4 attempts left.');
    expect(wrong.html).toContain('name="return_to" value="/account/password"');
    const done = await web.post(`${PAGE}/verify`, { kind: 'email', action: 'verify', code, return_to: '/account/password' }, false);
    expect(done.location).toBe('/account/password');
    expect(containsLink(codeMails(h.mail, 'zero.kin@example.org')[0]!.text)).toBe(false);
  });

  it('an organization that requires nothing, or a user whose required contacts are verified, is never asked', async () => {
    const relaxed = await organization({});
    expectPage(await signInByEmail(h, new WebClient(h.app.url), await person(relaxed)), 200, 'Your account');

    const strict = await organization({ require_verified_emergency_phone: true });
    const who = await person(strict);
    const web = new WebClient(h.app.url);
    expectPage(await signInByEmail(h, web, who), 200, 'Your organization asks you to verify your emergency phone.');
    await web.post(`${PAGE}/phone`, { action: 'save', phone: '+390612300001', channel: 'voice', return_to: '/account' });
    const done = await web.post(`${PAGE}/verify`, {
      kind: 'phone',
      action: 'verify',
      code: await h.voice.waitForCode('+390612300001'),
      return_to: '/account',
    });
    expectPage(done, 200, 'Your account');
    expect(text(done.html)).not.toContain('Your organization asks you');
    expectPage(await signInByEmail(h, new WebClient(h.app.url), who), 200, 'Your account');
    // Changing the verified phone makes it unverified: the next sign-in asks again.
    await web.get(PAGE);
    await web.post(`${PAGE}/phone`, { action: 'save', phone: '+390612300002', channel: 'voice' });
    expectPage(await signInByEmail(h, new WebClient(h.app.url), who), 200, 'Verify your emergency contacts');
  });
});
