import { DomainError, Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import { SUPERVISOR, SUPPORT, auditEvents, startSupportServices, type SupportServices } from '../support/support-services.js';
import { seedOrganization, seedUser } from '../support/web.js';

/**
 * libs/support on PostgreSQL: unlock recovery, revoke remembered devices, end sessions,
 * disable and enable; each needs a reason, is audited as a staff action and notifies the user.
 */
describe('support actions on access', () => {
  let s: SupportServices;
  let org: string;

  beforeAll(async () => {
    s = await startSupportServices();
    org = await seedOrganization(s.db.dataSource, 'acme');
  });
  afterAll(async () => s.close());
  beforeEach(() => s.clock.advance(Duration.ofMinutes(5)));

  const db = () => s.db.dataSource;
  const fails = async (promise: Promise<unknown>, code: string): Promise<void> => {
    const error = await promise.then(
      () => new Error('expected a failure'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe(code);
  };
  let seq = 0;
  const user = async () => {
    seq++;
    const email = `person${seq}@example.com`;
    const id = await seedUser(db(), org, { enterpriseId: `person.${seq}`, password: 'a long password 1', email });
    return { id, email };
  };
  const remember = (id: string) => s.devices.remember({ id, credentialVersion: 1 }, { enabled: true, days: 30, version: 1 }, {});
  const signIn = (id: string) =>
    s.sessions.create(
      id,
      1,
      [
        { method: 'password', at: s.clock.now().toISOString() },
        { method: 'otp', channel: 'email', at: s.clock.now().toISOString() },
      ],
      {},
    );
  const notice = async (to: string, subject: string) => {
    const mail = await s.mail.waitFor((m) => m.envelope.to.includes(to) && m.subject === subject);
    expect(containsLink(mail.text)).toBe(false);
    return mail;
  };

  it('every action needs a reason; nothing happens without one', async () => {
    const { id } = await user();
    await db().query(`UPDATE users SET recovery_locked_at = now(), recovery_failed_attempts = 5 WHERE id = $1`, [id]);
    await remember(id);
    await signIn(id);
    for (const call of [
      () => s.actions.unlockRecovery(SUPPORT, id, ''),
      () => s.actions.revokeDevices(SUPPORT, id, 'all', '  '),
      () => s.actions.endSessions(SUPPORT, id, undefined),
      () => s.actions.disable(SUPPORT, id, 'x'.repeat(501)),
      () => s.actions.enable(SUPPORT, id, null),
    ]) {
      await fails(call(), 'invalid_input');
    }
    const [row] = await db().query<Array<{ status: string; recovery_locked_at: Date | null }>>(
      `SELECT status, recovery_locked_at FROM users WHERE id = $1`,
      [id],
    );
    expect(row).toMatchObject({ status: 'active', recovery_locked_at: expect.any(Date) as unknown });
    expect(await s.devices.list(id)).toHaveLength(1);
    expect((await s.actions.overview(id))!.activeSessions).toHaveLength(1);
  });

  it('unlock recovery: clears the lock (SecurityCodeGuard), audits recovery.unlocked as staff, tells the user', async () => {
    const { id, email } = await user();
    await db().query(`UPDATE users SET recovery_locked_at = $2, recovery_failed_attempts = 5 WHERE id = $1`, [id, s.clock.now()]);
    expect((await s.actions.overview(id))!.recovery).toEqual({ failedAttempts: 5, lockedAt: s.clock.now() });
    expect(await s.actions.unlockRecovery(SUPPORT, id, 'Identity checked by phone (SUP-12)', { requestId: 'r-unlock' })).toEqual({
      wasLocked: true,
      failedAttempts: 5,
    });
    expect(await s.guard.status(id)).toEqual({ failedAttempts: 0, lockedAt: null });
    const [event] = (await auditEvents(db(), 'recovery.unlocked')).filter((e) => e.subject_id === id);
    expect(event).toMatchObject({ actor_type: 'staff', actor_id: SUPPORT.id, request_id: 'r-unlock' });
    expect(event!.details).toMatchObject({ reason: 'Identity checked by phone (SUP-12)', was_locked: true });
    const mail = await notice(email, 'Recovery of your Gatehouse account is unlocked');
    expect(mail.text).not.toContain('SUP-12');
    // Not locked and nothing counted: there is nothing to unlock.
    await fails(s.actions.unlockRecovery(SUPPORT, id, 'again'), 'not_locked');
  });

  it('revoke one remembered device, then all; unknown devices and users are not found', async () => {
    const { id, email } = await user();
    const a = await remember(id);
    await remember(id);
    await remember(id);
    expect(await s.actions.revokeDevices(SUPPORT, id, a!.device.id, 'Lost laptop')).toEqual({ revoked: 1 });
    expect((await s.devices.list(id)).map((d) => d.id)).not.toContain(a!.device.id);
    expect((await notice(email, 'Remembered devices of your Gatehouse account were signed out')).text).toContain(
      'removed a remembered device',
    );
    await fails(s.actions.revokeDevices(SUPPORT, id, a!.device.id, 'again'), 'not_found');
    await fails(s.actions.revokeDevices(SUPPORT, id, 'garbage', 'x'), 'not_found');
    // Another user's device is not this user's.
    const other = await user();
    const theirs = await remember(other.id);
    await fails(s.actions.revokeDevices(SUPPORT, id, theirs!.device.id, 'x'), 'not_found');
    expect(await s.devices.list(other.id)).toHaveLength(1);

    expect(await s.actions.revokeDevices(SUPPORT, id, 'all', 'Phone stolen (SUP-13)')).toEqual({ revoked: 2 });
    expect(await s.devices.list(id)).toHaveLength(0);
    await fails(s.actions.revokeDevices(SUPPORT, id, 'all', 'again'), 'no_devices');
    const events = (await auditEvents(db(), 'device.revoked')).filter((e) => e.subject_id === id);
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ actor_type: 'staff', actor_id: SUPPORT.id });
    expect(events[1]!.details).toMatchObject({ reason: 'support: Phone stolen (SUP-13)' });
    await fails(s.actions.revokeDevices(SUPPORT, '6f1c7f4e-0000-4000-8000-000000000000', 'all', 'x'), 'not_found');
  });

  it('end sessions: every live session of the user ends at once, audited and notified', async () => {
    const { id, email } = await user();
    const one = await signIn(id);
    const two = await signIn(id);
    const other = await user();
    const theirs = await signIn(other.id);
    expect(await s.actions.endSessions(SUPERVISOR, id, 'Suspicious activity (SUP-14)')).toEqual({ ended: 2, grantsRevoked: 0 });
    expect(await s.sessions.resolve(one.token)).toBeNull();
    expect(await s.sessions.resolve(two.token)).toBeNull();
    expect(await s.sessions.resolve(theirs.token)).not.toBeNull();
    const [row] = await db().query<Array<{ end_reason: string }>>(`SELECT end_reason FROM sessions WHERE id = $1`, [one.session.id]);
    expect(row!.end_reason).toBe('ended_by_support');
    const [event] = (await auditEvents(db(), 'support.sessions_ended')).filter((e) => e.subject_id === id);
    expect(event).toMatchObject({ actor_type: 'staff', actor_id: SUPERVISOR.id });
    expect(event!.details).toEqual({
      reason: 'Suspicious activity (SUP-14)',
      actor_role: 'supervisor',
      sessions_ended: 2,
      oidc_grants_revoked: 0,
      oidc_artifacts_revoked: 0,
    });
    expect((await notice(email, 'You were signed out of Gatehouse')).text).toContain('ended 2 active sessions');
    await fails(s.actions.endSessions(SUPERVISOR, id, 'again'), 'no_sessions');
  });

  it('disable: sessions end, devices are revoked, the user is told; enable lets them back (with a code, as devices are gone)', async () => {
    const { id, email } = await user();
    const live = await signIn(id);
    await remember(id);
    expect(await s.actions.disable(SUPPORT, id, 'Left the company (HR-3)')).toEqual({ sessionsEnded: 1, devicesRevoked: 1 });
    expect((await s.actions.overview(id))!).toMatchObject({ status: 'disabled', devices: [], activeSessions: [] });
    expect(await s.sessions.resolve(live.token)).toBeNull();
    expect((await auditEvents(db(), 'support.user_disabled')).at(-1)!.details).toEqual({
      reason: 'Left the company (HR-3)',
      actor_role: 'support',
      sessions_ended: 1,
      devices_revoked: 1,
      oidc_grants_revoked: 0,
      oidc_artifacts_revoked: 0,
    });
    await notice(email, 'Your Gatehouse account was disabled');
    await fails(s.actions.disable(SUPPORT, id, 'twice'), 'already_disabled');

    expect(await s.actions.enable(SUPPORT, id, 'Rehired (HR-4)')).toEqual({ status: 'active' });
    expect((await s.actions.overview(id))!.status).toBe('active');
    expect((await auditEvents(db(), 'support.user_enabled')).at(-1)!.details).toEqual({ reason: 'Rehired (HR-4)', actor_role: 'support' });
    await notice(email, 'Your Gatehouse account was enabled');
    await fails(s.actions.enable(SUPPORT, id, 'twice'), 'already_active');
  });

  it('nobody acts on their own user account', async () => {
    const { id, email } = await user();
    const me = { ...SUPERVISOR, email: email.toUpperCase() };
    await fails(s.actions.disable(me, id, 'me'), 'forbidden');
    await fails(s.actions.endSessions(me, id, 'me'), 'forbidden');
    await fails(s.actions.revokeDevices(me, id, 'all', 'me'), 'forbidden');
    await fails(s.actions.unlockRecovery(me, id, 'me'), 'forbidden');
    expect((await s.actions.overview(id))!.status).toBe('active');
  });
});
