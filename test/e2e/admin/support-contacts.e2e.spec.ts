import { Duration } from '#libs/core';
import { fieldValue, userRow } from '../../support/account-changes.js';
import { codeMails, expectPage, nextEmailCode, signInByEmail, startHarness, submitPassword, type Harness } from '../../support/journeys.js';
import { SUPERVISOR, SUPPORT, auditEvents, supportServicesOn, type SupportServices } from '../../support/support-services.js';
import { WebClient, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * After a supervisor approved an email or mobile change, the new contact is unverified until
 * the user proves it with a code: an unverified mobile is no OTP channel (the account page
 * verifies it); an unverified email stays the sign-in channel (else a user without a mobile
 * would be locked out) and the first sign-in code that reaches it proves it; the account
 * page can prove it too. Remembered devices were revoked, so the next sign-in sends a code.
 */
describe('support contact changes: verification after approval', () => {
  let h: Harness;
  let s: SupportServices;
  let org: string;
  let n = 0;

  beforeAll(async () => {
    h = await startHarness();
    s = await supportServicesOn({ db: h.db, mail: h.mail, sms: h.sms, clock: h.clock });
    org = await seedOrganization(h.db.dataSource, 'acme');
  });
  afterAll(async () => {
    await s.close();
    await h.close();
  });
  beforeEach(() => h.clock.advance(Duration.ofHours(1)));

  const db = () => h.db.dataSource;
  async function person(mobile?: string) {
    n++;
    const who = { userId: `changed.${n}`, password: `a changed password ${n}`, email: `changed${n}@example.com` };
    const id = await seedUser(db(), org, { enterpriseId: who.userId, password: who.password, email: who.email, mobile: mobile ?? null });
    return { ...who, id };
  }
  async function approved(userId: string, input: { email?: string; mobile?: string }) {
    const { pending } = await s.corrections.correctUser(SUPPORT, userId, input, 'Ticket SUP-30');
    await s.approvals.approve(SUPERVISOR, pending!.id);
  }

  it('a new email: a remembered device asks for a code again, the code goes to the new address, and verifying it proves the address', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInByEmail(h, web, who, { remember: true });
    await approved(who.id, { email: 'changed.new@example.org' });
    expect(await userRow(db(), who.id)).toMatchObject({ email: 'changed.new@example.org', email_verified_at: null });

    const again = new WebClient(h.app.url);
    again.cookies.set('gh_device', web.cookie('device')!);
    const codes = codeMails(h.mail, who.email).length;
    const page = expectPage(await submitPassword(again, who.userId, who.password), 200, 'We sent a 6-digit code by email');
    expect(text(page.html)).toContain('c***@example.org');
    const code = await nextEmailCode(h.mail, 'changed.new@example.org', 0);
    expect(codeMails(h.mail, who.email)).toHaveLength(codes);
    expectPage(await again.post('/signin/otp', { action: 'verify', code }), 200, 'Your account');
    expect(await userRow(db(), who.id)).toMatchObject({ email_verified_at: h.clock.now() });
    const [event] = (await auditEvents(db(), 'contact.email_verified')).filter((e) => e.subject_id === who.id);
    expect(event).toMatchObject({ actor_type: 'user', actor_id: who.id, details: { verified_by: 'login_code' } });
  });

  it('a new mobile: not offered for codes until verified on the account page, then offered again', async () => {
    const who = await person('+393331230001');
    await approved(who.id, { mobile: '+393331230002' });
    const web = new WebClient(h.app.url);
    // Email only: the code goes out at once, no choice of Text message or Voice call.
    const page = await signInByEmail(h, web, who);
    expectPage(page, 200, 'Your account');

    const sent = expectPage(
      await web.post('/account/mobile', { action: 'send', mobile: '+393331230002', channel: 'sms' }),
      200,
      'We sent a 6-digit code by text message',
    );
    const code = await h.sms.waitForCode('+393331230002');
    expectPage(
      await web.post('/account/mobile/verify', { action: 'verify', code, flow: fieldValue(sent.html, 'flow') }),
      200,
      'Your mobile number was verified and saved.',
    );
    expect(await userRow(db(), who.id)).toMatchObject({ mobile: '+393331230002', mobile_verified_at: h.clock.now() });
    expectPage(await submitPassword(new WebClient(h.app.url), who.userId, who.password), 200, 'How should we send your code?');
  });

  it('an unverified email of a user who signs in by text message can be proven on the account page (no "changed" notice)', async () => {
    const who = await person('+393331230003');
    await approved(who.id, { email: 'changed.three@example.org' });
    const web = new WebClient(h.app.url);
    expectPage(await submitPassword(web, who.userId, who.password), 200, 'How should we send your code?');
    const smsSeen = h.sms.requests.filter((r) => r.body?.to === '+393331230003').length;
    expectPage(await web.post('/signin/otp', { channel: 'sms' }), 200, 'We sent a 6-digit code by text message');
    const smsCode = await h.sms.waitForCode('+393331230003', { alreadySeen: smsSeen });
    expectPage(await web.post('/signin/otp', { action: 'verify', code: smsCode }), 200, 'Your account');
    expect(await userRow(db(), who.id)).toMatchObject({ email_verified_at: null });

    const sent = expectPage(
      await web.post('/account/email', { email: 'Changed.Three@example.org' }),
      200,
      'We sent a 6-digit code by email',
    );
    const code = await nextEmailCode(h.mail, 'changed.three@example.org', 0);
    expectPage(
      await web.post('/account/email/verify', { action: 'verify', code, flow: fieldValue(sent.html, 'flow') }),
      200,
      'Your email address was verified and saved.',
    );
    expect(await userRow(db(), who.id)).toMatchObject({ email_verified_at: h.clock.now() });
    expect((await auditEvents(db(), 'contact.email_verified')).filter((e) => e.subject_id === who.id)).toHaveLength(1);
    expect((await auditEvents(db(), 'contact.email_changed')).filter((e) => e.subject_id === who.id)).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(h.mail.messagesTo('changed.three@example.org').filter((m) => m.subject.includes('was changed'))).toHaveLength(0);
    // Verified now: the account page says it is already the address.
    const same = await web.post('/account/email', { email: 'changed.three@example.org' });
    expect(text(same.html)).toContain('This is already your email address.');
  });
});
