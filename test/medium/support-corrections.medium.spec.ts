import { DomainError, Duration } from '#libs/core';
import { Directory } from '#libs/identity';
import { containsLink } from '#libs/notifications';
import { availableChannels } from '#libs/signin';
import type { StaffActor } from '#libs/support';
import { SUPERVISOR, SUPERVISOR_2, SUPPORT, auditEvents, startSupportServices, type SupportServices } from '../support/support-services.js';
import { seedLegacyAccount, seedOrganization, seedUser } from '../support/web.js';

/**
 * libs/support on PostgreSQL: support corrects prefilled data of pending legacy accounts and
 * profiles of enrolled users (reason, before/after diff, audit, notice), and email/mobile
 * changes of enrolled users wait for a second staff member with the supervisor role.
 */
describe('support corrections and four-eyes contact changes', () => {
  let s: SupportServices;
  let org: string;

  beforeAll(async () => {
    s = await startSupportServices();
    org = await seedOrganization(s.db.dataSource, 'acme');
  });
  afterAll(async () => s.close());
  beforeEach(() => s.clock.advance(Duration.ofMinutes(5)));

  const db = () => s.db.dataSource;
  const fails = async (promise: Promise<unknown>, code: string): Promise<DomainError> => {
    const error = await promise.then(
      () => new Error('expected a failure'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe(code);
    return error as DomainError;
  };
  const legacyRow = async (id: string) =>
    (await db().query<Array<Record<string, unknown>>>(`SELECT * FROM legacy_accounts WHERE id = $1`, [id]))[0]!;
  const userRow = async (id: string) =>
    (
      await db().query<Array<Record<string, unknown>>>(
        `SELECT first_name, last_name, email, email_key, email_verified_at, mobile, mobile_verified_at, preferred_otp_channel, credential_version
           FROM users WHERE id = $1`,
        [id],
      )
    )[0]!;
  const noticesTo = (address: string, subject: string) => s.mail.messagesTo(address).filter((m) => m.subject === subject);

  describe('pending legacy accounts', () => {
    it('applies a valid correction at once: E.164 mobile, email key, diff returned and audited with the reason, notices to the new and the old address', async () => {
      const id = await seedLegacyAccount(db(), org, {
        legacyUserId: 'L-100',
        password: 'old password 1',
        firstName: 'Ada',
        lastName: 'Lovelase',
        email: 'ada.old@example.com',
      });
      const result = await s.corrections.correctLegacyAccount(
        SUPPORT,
        id,
        { first_name: 'Ada', last_name: ' Lovelace ', email: 'Ada.Lovelace@Example.COM', mobile: '+39 333 123 4567' },
        'Ticket SUP-1: name misspelt, new address',
        { ip: '203.0.113.9', requestId: 'req-1' },
      );
      expect(result.diff).toEqual({
        last_name: { before: 'Lovelase', after: 'Lovelace' },
        email: { before: 'ada.old@example.com', after: 'Ada.Lovelace@example.com' },
        mobile: { before: null, after: '+393331234567' },
      });
      expect(result.applied).toEqual(result.diff);
      expect(result.pending).toBeNull();

      const row = await legacyRow(id);
      expect(row).toMatchObject({
        status: 'pending',
        first_name: 'Ada',
        last_name: 'Lovelace',
        email: 'Ada.Lovelace@example.com',
        email_key: 'ada.lovelace@example.com',
        mobile: '+393331234567',
      });

      const [event] = await auditEvents(db(), 'support.legacy_account_corrected');
      expect(event).toMatchObject({
        actor_type: 'staff',
        actor_id: SUPPORT.id,
        subject_type: 'legacy_account',
        subject_id: id,
        organization_id: org,
        ip: '203.0.113.9',
        request_id: 'req-1',
      });
      expect(event!.details).toEqual({ reason: 'Ticket SUP-1: name misspelt, new address', actor_role: 'support', changes: result.diff });

      const subject = 'Your support team updated your Gatehouse account';
      const toNew = await s.mail.waitFor((m) => m.envelope.to.includes('ada.lovelace@example.com') && m.subject === subject);
      const toOld = await s.mail.waitFor((m) => m.envelope.to.includes('ada.old@example.com') && m.subject === subject);
      for (const mail of [toNew, toOld]) {
        expect(mail.text).toContain('updated the last name, email address and mobile number of your account');
        expect(containsLink(mail.text)).toBe(false);
        // Field names, never the values, and never the staff-internal reason.
        expect(mail.text).not.toContain('Lovelace@');
        expect(mail.text).not.toContain('SUP-1');
      }
    });

    it('refuses bad input with field errors (import rules) and changes nothing', async () => {
      const id = await seedLegacyAccount(db(), org, { legacyUserId: 'L-101', password: 'old password 1', email: 'l101@example.com' });
      const before = await legacyRow(id);
      const error = await fails(
        s.corrections.correctLegacyAccount(
          SUPPORT,
          id,
          { first_name: '  ', last_name: 'x'.repeat(101), email: 'not an address', mobile: '3331234567' },
          'ticket 2',
        ),
        'invalid_input',
      );
      expect(error.details.fieldErrors).toEqual({
        first_name: 'First name is empty.',
        last_name: 'Last name is longer than 100 characters.',
        email: 'Enter a valid email address.',
        mobile: expect.stringContaining('The mobile number must be in international E.164 format') as unknown,
      });
      expect(
        (await fails(s.corrections.correctLegacyAccount(SUPPORT, id, { first_name: 'Bob\u202e' }, 'ticket 2'), 'invalid_input')).details
          .fieldErrors,
      ).toEqual({ first_name: 'First name contains control or invisible characters.' });
      expect(await legacyRow(id)).toEqual(before);
    });

    it('needs a reason of at most 500 characters, and a change', async () => {
      const id = await seedLegacyAccount(db(), org, { legacyUserId: 'L-102', password: 'old password 1', email: 'l102@example.com' });
      for (const reason of [undefined, '', '   ', 'x'.repeat(501), 'bidi \u202e text', 42]) {
        const error = await fails(s.corrections.correctLegacyAccount(SUPPORT, id, { first_name: 'Bea' }, reason), 'invalid_input');
        expect(Object.keys(error.details.fieldErrors as object)).toEqual(['reason']);
      }
      await fails(
        s.corrections.correctLegacyAccount(SUPPORT, id, { first_name: 'Ada', email: 'L102@EXAMPLE.com' }, 'nothing really'),
        'no_changes',
      );
      expect(await auditEvents(db(), 'support.legacy_account_corrected')).toHaveLength(1);
    });

    it('an enrolled legacy account is corrected as a user, not as prefilled data; unknown ids are not found', async () => {
      const userId = await seedUser(db(), org, { enterpriseId: 'enrolled.one', password: 'p4ssword enrolled', email: 'e1@example.com' });
      const [legacy] = await db().query<Array<{ id: string }>>(
        `INSERT INTO legacy_accounts (organization_id, legacy_user_id, legacy_user_id_key, status, first_name, last_name, email, email_key, user_id, enrolled_at)
         VALUES ($1, 'L-103', 'l-103', 'enrolled', 'A', 'B', 'e1@example.com', 'e1@example.com', $2, now()) RETURNING id`,
        [org, userId],
      );
      const error = await fails(s.corrections.correctLegacyAccount(SUPPORT, legacy!.id, { first_name: 'X' }, 'r'), 'already_enrolled');
      expect(error.details.userId).toBe(userId);
      await fails(
        s.corrections.correctLegacyAccount(SUPPORT, '6f1c7f4e-0000-4000-8000-000000000000', { first_name: 'X' }, 'r'),
        'not_found',
      );
      await fails(s.corrections.correctLegacyAccount(SUPPORT, 'not-a-uuid', { first_name: 'X' }, 'r'), 'not_found');
    });

    it('nobody corrects an account with their own email address', async () => {
      const id = await seedLegacyAccount(db(), org, { legacyUserId: 'L-104', password: 'old password 1', email: 'sam@example.com' });
      const sam: StaffActor = { ...SUPPORT, email: 'Sam@Example.com' };
      await fails(s.corrections.correctLegacyAccount(sam, id, { first_name: 'Sam' }, 'me'), 'forbidden');
      // Nor moves someone else's account onto their own address.
      const other = await seedLegacyAccount(db(), org, { legacyUserId: 'L-105', password: 'old password 1', email: 'other@example.com' });
      await fails(s.corrections.correctLegacyAccount(sam, other, { email: 'sam@example.com' }, 'take over'), 'forbidden');
    });
  });

  describe('enrolled users', () => {
    let seq = 0;
    const enrolled = async (extra: { mobile?: string } = {}) => {
      seq++;
      const email = `user${seq}@example.com`;
      const id = await seedUser(db(), org, { enterpriseId: `user.${seq}`, password: 'a long password 1', email, ...extra });
      return { id, email };
    };

    it('names change at once with a notice; the email change waits for a supervisor and changes nothing yet', async () => {
      const { id, email } = await enrolled();
      const result = await s.corrections.correctUser(
        SUPPORT,
        id,
        { first_name: 'Grace', last_name: 'Hopper-Murray', email: 'grace.new@example.com', mobile: '' },
        'Ticket SUP-7',
      );
      expect(result.diff).toEqual({
        last_name: { before: 'Hopper', after: 'Hopper-Murray' },
        email: { before: email, after: 'grace.new@example.com' },
      });
      expect(result.applied).toEqual({ last_name: { before: 'Hopper', after: 'Hopper-Murray' } });
      expect(result.pending).toMatchObject({
        userId: id,
        status: 'pending',
        requestedBy: SUPPORT.id,
        reason: 'Ticket SUP-7',
        changes: { email: { before: email, after: 'grace.new@example.com' } },
      });
      const row = await userRow(id);
      expect(row).toMatchObject({ last_name: 'Hopper-Murray', email, email_verified_at: expect.any(Date) as unknown });
      expect((await auditEvents(db(), 'support.profile_corrected')).at(-1)!.details).toEqual({
        reason: 'Ticket SUP-7',
        actor_role: 'support',
        changes: result.applied,
      });
      expect((await auditEvents(db(), 'support.contact_change_requested')).at(-1)!.details).toEqual({
        change_id: result.pending!.id,
        reason: 'Ticket SUP-7',
        actor_role: 'support',
        changes: { email: { before: email, after: 'grace.new@example.com' } },
      });
      const notice = await s.mail.waitFor((m) => m.envelope.to.includes(email));
      expect(notice.text).toContain('updated the last name of your account');
      expect(await s.approvals.pendingForUser(id)).toMatchObject({ id: result.pending!.id });
      expect((await s.approvals.pending()).items.map((c) => c.id)).toContain(result.pending!.id);
    });

    it('four-eyes: support cannot approve, the requester cannot approve, another supervisor can; the new email is unverified, devices are revoked, the old address is told', async () => {
      const { id, email } = await enrolled();
      await s.devices.remember({ id, credentialVersion: 1 }, { enabled: true, days: 30, version: 1 }, {});
      const { pending } = await s.corrections.correctUser(SUPERVISOR, id, { email: 'moved@example.org' }, 'User lost mailbox (SUP-9)');
      const changeId = pending!.id;

      await fails(s.approvals.approve(SUPPORT, changeId), 'forbidden');
      await fails(s.approvals.approve(SUPERVISOR, changeId), 'four_eyes');
      await fails(s.approvals.approve({ ...SUPERVISOR_2, email: email.toUpperCase() }, changeId), 'forbidden');
      expect((await userRow(id)).email).toBe(email);

      const approved = await s.approvals.approve(SUPERVISOR_2, changeId, { requestId: 'req-approve' });
      expect(approved).toMatchObject({ status: 'approved', decidedBy: SUPERVISOR_2.id, decidedAt: s.clock.now() });
      expect(await userRow(id)).toMatchObject({ email: 'moved@example.org', email_key: 'moved@example.org', email_verified_at: null });
      expect(await s.devices.list(id)).toHaveLength(0);
      const [revoked] = await db().query<Array<{ revoked_by: string; revoked_reason: string }>>(
        `SELECT revoked_by, revoked_reason FROM remembered_devices WHERE user_id = $1`,
        [id],
      );
      expect(revoked).toEqual({ revoked_by: `staff:${SUPERVISOR_2.id}`, revoked_reason: 'contact changed by support' });

      const event = (await auditEvents(db(), 'support.contact_change_approved')).at(-1)!;
      expect(event).toMatchObject({ actor_type: 'staff', actor_id: SUPERVISOR_2.id, subject_id: id, request_id: 'req-approve' });
      expect(event.details).toEqual({
        change_id: changeId,
        requested_by: SUPERVISOR.id,
        reason: 'User lost mailbox (SUP-9)',
        actor_role: 'supervisor',
        changes: { email: { before: email, after: 'moved@example.org' } },
        devices_revoked: 1,
      });

      const notice = await s.mail.waitFor(
        (m) => m.envelope.to.includes(email) && m.subject === 'Your support team changed the contact details of your Gatehouse account',
      );
      expect(notice.text).toContain('changed the email address of your account');
      expect(containsLink(notice.text)).toBe(false);
      expect(s.mail.messagesTo('moved@example.org')).toHaveLength(0);

      await fails(s.approvals.approve(SUPERVISOR_2, changeId), 'already_decided');
      await fails(s.approvals.reject(SUPERVISOR_2, changeId, 'too late'), 'already_decided');
    });

    it('a mobile change: unverified after approval, so no SMS or voice is offered; the old number gets an SMS', async () => {
      const { id } = await enrolled({ mobile: '+393331112222' });
      await db().query(`UPDATE users SET preferred_otp_channel = 'sms' WHERE id = $1`, [id]);
      const directory = s.context.get(Directory, { strict: false });
      const policy = await directory.policy(org);
      expect(availableChannels((await directory.user(id))!, policy)).toEqual(['email', 'sms', 'voice']);

      const { pending } = await s.corrections.correctUser(SUPPORT, id, { mobile: '+44 7911 123456' }, 'new phone');
      await s.approvals.approve(SUPERVISOR, pending!.id);
      expect(await userRow(id)).toMatchObject({ mobile: '+447911123456', mobile_verified_at: null, preferred_otp_channel: null });
      expect(availableChannels((await directory.user(id))!, policy)).toEqual(['email']);
      const sms = await s.sms.waitFor((r) => r.body?.to === '+393331112222');
      expect(sms.body).toMatchObject({ channel: 'sms', locale: 'en' });
      expect(sms.body!.text).toContain('replaced the mobile number of your account');
      expect(containsLink(sms.body!.text as string)).toBe(false);
    });

    it('one pending change per user; a supervisor rejects with a reason (nothing changes), the requester cancels, nobody else does', async () => {
      const { id, email } = await enrolled({ mobile: '+393331113333' });
      const first = await s.corrections.correctUser(SUPPORT, id, { mobile: '+393331114444' }, 'first');
      const error = await fails(s.corrections.correctUser(SUPPORT, id, { email: 'x@example.com' }, 'second'), 'change_pending');
      expect(error.details.changeId).toBe(first.pending!.id);
      // Names alone need no approval and are not held up.
      await s.corrections.correctUser(SUPPORT, id, { first_name: 'Gracie' }, 'nickname');

      await fails(s.approvals.reject(SUPPORT, first.pending!.id, 'no'), 'forbidden');
      await fails(s.approvals.reject(SUPERVISOR, first.pending!.id, ''), 'invalid_input');
      const rejected = await s.approvals.reject(SUPERVISOR, first.pending!.id, 'Caller could not be verified');
      expect(rejected).toMatchObject({ status: 'rejected', decidedBy: SUPERVISOR.id, decisionReason: 'Caller could not be verified' });
      expect(await userRow(id)).toMatchObject({ email, mobile: '+393331113333', mobile_verified_at: expect.any(Date) as unknown });
      expect((await auditEvents(db(), 'support.contact_change_rejected')).at(-1)!.details).toMatchObject({
        change_id: first.pending!.id,
        reason: 'Caller could not be verified',
      });

      const second = await s.corrections.correctUser(SUPPORT, id, { email: 'x@example.com' }, 'second');
      await fails(s.approvals.cancel(SUPERVISOR, second.pending!.id, 'not mine'), 'forbidden');
      expect(await s.approvals.cancel(SUPPORT, second.pending!.id, 'typo in the address')).toMatchObject({ status: 'cancelled' });
      expect(await s.approvals.pendingForUser(id)).toBeNull();
      expect(await auditEvents(db(), 'support.contact_change_cancelled')).toHaveLength(1);
    });

    it('a change whose starting point moved (the user changed it meanwhile) is stale and cannot be approved', async () => {
      const { id } = await enrolled();
      const { pending } = await s.corrections.correctUser(SUPPORT, id, { email: 'stale@example.com' }, 'ticket');
      await db().query(`UPDATE users SET email = 'self.changed@example.com', email_key = 'self.changed@example.com' WHERE id = $1`, [id]);
      await fails(s.approvals.approve(SUPERVISOR, pending!.id), 'stale_change');
      expect((await userRow(id)).email).toBe('self.changed@example.com');
      expect((await s.approvals.get(pending!.id))!.status).toBe('pending');
    });

    it('two racing requests for one user: exactly one becomes pending', async () => {
      const { id } = await enrolled();
      const results = await Promise.allSettled([
        s.corrections.correctUser(SUPPORT, id, { email: 'race.a@example.com' }, 'a'),
        s.corrections.correctUser(SUPERVISOR, id, { email: 'race.b@example.com' }, 'b'),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const failed = results.find((r) => r.status === 'rejected')!;
      expect((failed.reason as DomainError).code).toBe('change_pending');
      const rows = await db().query<unknown[]>(`SELECT 1 FROM support_contact_changes WHERE user_id = $1 AND status = 'pending'`, [id]);
      expect(rows).toHaveLength(1);
    });

    it('the database refuses a change approved by its requester, whatever the code does', async () => {
      const { id } = await enrolled();
      const { pending } = await s.corrections.correctUser(SUPERVISOR, id, { email: 'db.check@example.com' }, 'ticket');
      await expect(
        db().query(`UPDATE support_contact_changes SET status = 'approved', decided_by = requested_by, decided_at = now() WHERE id = $1`, [
          pending!.id,
        ]),
      ).rejects.toThrow(/check constraint/u);
    });

    it('a staff member does not correct their own user account', async () => {
      const { id, email } = await enrolled();
      await fails(s.corrections.correctUser({ ...SUPPORT, email }, id, { first_name: 'Me' }, 'me'), 'forbidden');
      await fails(
        s.corrections.correctUser({ ...SUPPORT, email: 'me@example.com' }, id, { email: 'ME@example.com' }, 'mine now'),
        'forbidden',
      );
    });
  });

  it('notices for everything above were link-free', async () => {
    await s.mail.waitFor(() => noticesTo('user1@example.com', 'Your support team updated your Gatehouse account').length > 0);
    for (const mail of s.mail.messages) expect(containsLink(mail.text)).toBe(false);
  });
});
