import { DomainError } from '#libs/core';
import { containsLink } from '#libs/notifications';
import { startHarness, type Harness } from '../../../test/support/journeys.js';
import { seedOrganization, seedUser } from '../../../test/support/web.js';
import { SecurityCodeGuard, guardCandidate, type GuardCandidate } from './security-code.guard.js';

/**
 * The lockout sentinel against real PostgreSQL (inside a running IdP, so the blocked notice
 * goes through the real outbox to a real SMTP server).
 */
describe('SecurityCodeGuard', () => {
  let h: Harness;
  let guard: SecurityCodeGuard;
  let org: string;
  let strict: string;

  beforeAll(async () => {
    h = await startHarness();
    guard = h.app.app.get(SecurityCodeGuard, { strict: false });
    org = await seedOrganization(h.db.dataSource, 'guard-default');
    strict = await seedOrganization(h.db.dataSource, 'guard-strict', { recovery_max_failures: 3 });
  });

  afterAll(async () => {
    await h.close();
  });

  const db = () => h.db.dataSource;

  async function candidate(id: string): Promise<GuardCandidate> {
    const [r] = await db().query(
      `SELECT id, organization_id, status, security_code_hash, recovery_locked_at, email, first_name FROM users WHERE id = $1`,
      [id],
    );
    return guardCandidate(r);
  }

  const counters = async (id: string) => {
    const rows = await db().query<Array<{ failed: number; locked_at: Date | null }>>(
      `SELECT recovery_failed_attempts AS failed, recovery_locked_at AS locked_at FROM users WHERE id = $1`,
      [id],
    );
    return rows[0]!;
  };
  /** A user `g.<name>` with the security code 40817263 and the email `<name>@example.com`, unless `more` says otherwise. */
  const seedGuarded = (name: string, organization = org, more: Partial<Parameters<typeof seedUser>[2]> = {}) =>
    seedUser(db(), organization, {
      enterpriseId: `g.${name}`,
      password: `irrelevant password of ${name}`,
      securityCode: '40817263',
      email: `${name}@example.com`,
      ...more,
    });
  const blockedMails = (address: string) =>
    h.mail.messagesTo(address).filter((m) => m.subject.includes('Recovery of your Gatehouse account is blocked'));

  it('accepts the right code and resets the count; counts a wrong one', async () => {
    const id = await seedGuarded('reset');
    expect(await guard.check([await candidate(id)], '11111119')).toEqual({ verdict: 'refused', reason: 'wrong_code', newlyLocked: [] });
    expect(await guard.check([await candidate(id)], '11111119')).toMatchObject({ reason: 'wrong_code' });
    expect(await counters(id)).toEqual({ failed: 2, locked_at: null });
    expect(await guard.status(id)).toEqual({ failedAttempts: 2, lockedAt: null });
    expect(await guard.check([await candidate(id)], '40817263')).toEqual({
      verdict: 'accepted',
      userId: id,
      record: { method: 'security_code', at: h.clock.now().toISOString() },
    });
    expect(await counters(id)).toEqual({ failed: 0, locked_at: null });
    const events = await db().query<Array<{ details: unknown }>>(
      `SELECT details FROM audit_events WHERE subject_id = $1 AND event_type = 'recovery.security_code_failed' ORDER BY id`,
      [id],
    );
    expect(events.map((e) => e.details)).toEqual([
      { failed_attempts: 1, limit: 5 },
      { failed_attempts: 2, limit: 5 },
    ]);
  });

  it('no candidate: refused without counting anything', async () => {
    expect(await guard.check([], '40817263')).toEqual({ verdict: 'refused', reason: 'no_match', newlyLocked: [] });
  });

  it('locks at the default limit of 5, emails the user once, and then refuses even the right code without counting', async () => {
    const id = await seedGuarded('five');
    for (let i = 1; i <= 4; i++) expect(await guard.check([await candidate(id)], '99999990')).toMatchObject({ newlyLocked: [] });
    expect(await guard.check([await candidate(id)], '99999990')).toEqual({ verdict: 'refused', reason: 'wrong_code', newlyLocked: [id] });
    expect(await counters(id)).toEqual({ failed: 5, locked_at: h.clock.now() });
    // The right code, and more wrong ones, are now refused as "blocked" and not counted.
    expect(await guard.check([await candidate(id)], '40817263')).toEqual({ verdict: 'refused', reason: 'blocked', newlyLocked: [] });
    expect(await guard.check([await candidate(id)], '99999990')).toEqual({ verdict: 'refused', reason: 'blocked', newlyLocked: [] });
    expect((await counters(id)).failed).toBe(5);
    const mail = await h.mail.waitFor((m) => m.envelope.to.includes('five@example.com'));
    expect(mail.subject).toBe('Recovery of your Gatehouse account is blocked');
    expect(mail.text).toContain('only they can unlock it');
    expect(containsLink(mail.text)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(blockedMails('five@example.com')).toHaveLength(1);
    const [locked] = await db().query(`SELECT details FROM audit_events WHERE subject_id = $1 AND event_type = 'recovery.locked'`, [id]);
    expect(locked.details).toEqual({ failed_attempts: 5, limit: 5 });
  });

  it('counts parallel wrong guesses atomically: the organization limit (3) is never exceeded and exactly one notice goes out', async () => {
    const id = await seedGuarded('race', strict);
    const c = await candidate(id);
    // Every request saw the user unlocked when it loaded it (a stale candidate), as parallel requests would.
    const verdicts = await Promise.all(Array.from({ length: 12 }, () => guard.check([c], '12121219')));
    expect(verdicts.filter((v) => v.verdict === 'refused' && v.newlyLocked.length === 1)).toHaveLength(1);
    expect(verdicts.filter((v) => v.verdict === 'refused' && v.reason === 'wrong_code')).toHaveLength(12);
    expect(await counters(id)).toEqual({ failed: 3, locked_at: h.clock.now() });
    const failed = await db().query(`SELECT 1 FROM audit_events WHERE subject_id = $1 AND event_type = 'recovery.security_code_failed'`, [
      id,
    ]);
    expect(failed).toHaveLength(3);
    // A stale candidate with the right code cannot slip through after the lock either.
    expect(await guard.check([c], '40817263')).toEqual({ verdict: 'refused', reason: 'blocked', newlyLocked: [] });
    await h.mail.waitFor((m) => m.envelope.to.includes('race@example.com'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(blockedMails('race@example.com')).toHaveLength(1);
  });

  it('a disabled user is refused as blocked, even with the right code, and nothing is counted', async () => {
    const id = await seedGuarded('disabled', org, { status: 'disabled' });
    expect(await guard.check([await candidate(id)], '40817263')).toEqual({ verdict: 'refused', reason: 'blocked', newlyLocked: [] });
    expect(await guard.check([await candidate(id)], '11111119')).toEqual({ verdict: 'refused', reason: 'blocked', newlyLocked: [] });
    expect(await counters(id)).toEqual({ failed: 0, locked_at: null });
  });

  it('with several users behind one email, the right code picks its user and a wrong one counts for each active one', async () => {
    const a = await seedGuarded('shared.a', org, { email: 'shared@example.com' });
    const b = await seedGuarded('shared.b', org, { email: 'shared@example.com', securityCode: '52719384' });
    expect(await guard.check([await candidate(a), await candidate(b)], '52719384')).toEqual({
      verdict: 'accepted',
      userId: b,
      record: { method: 'security_code', at: h.clock.now().toISOString() },
    });
    expect(await guard.check([await candidate(a), await candidate(b)], '11111119')).toMatchObject({ reason: 'wrong_code' });
    expect((await counters(a)).failed).toBe(1);
    expect((await counters(b)).failed).toBe(1);
  });

  it('unlock() lets the user recover again, audits who and why, and needs a reason', async () => {
    const id = await seedGuarded('unlock', strict);
    for (let i = 0; i < 3; i++) await guard.check([await candidate(id)], '12121219');
    expect((await counters(id)).locked_at).not.toBeNull();
    const staff = { type: 'staff' as const, id: 'staff-42' };

    await expect(guard.unlock(id, staff, '   ')).rejects.toThrow(DomainError);
    await expect(guard.unlock('00000000-0000-4000-8000-000000000000', staff, 'caller verified')).rejects.toMatchObject({
      code: 'user_not_found',
    });
    await expect(guard.unlock('not-a-uuid', staff, 'caller verified')).rejects.toMatchObject({ code: 'user_not_found' });
    expect((await counters(id)).locked_at).not.toBeNull();

    expect(await guard.unlock(id, staff, 'Caller verified by video call', { ip: '10.1.2.3' })).toEqual({
      wasLocked: true,
      failedAttempts: 3,
    });
    expect(await counters(id)).toEqual({ failed: 0, locked_at: null });
    const [event] = await db().query(
      `SELECT actor_type, actor_id, host(ip) AS ip, details FROM audit_events WHERE subject_id = $1 AND event_type = 'recovery.unlocked'`,
      [id],
    );
    expect(event).toEqual({
      actor_type: 'staff',
      actor_id: 'staff-42',
      ip: '10.1.2.3',
      details: { reason: 'Caller verified by video call', was_locked: true, failed_attempts: 3 },
    });
    expect(await guard.check([await candidate(id)], '40817263')).toEqual({
      verdict: 'accepted',
      userId: id,
      record: { method: 'security_code', at: h.clock.now().toISOString() },
    });
    // Unlocking an unlocked user is harmless and says so.
    expect(await guard.unlock(id, staff, 'double check')).toEqual({ wasLocked: false, failedAttempts: 0 });
  });
});
