import { AuditService } from '#libs/audit';
import { FixedClock } from '#libs/core';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('audit log', () => {
  let db: TestDatabase;
  let audit: AuditService;
  const clock = new FixedClock('2026-05-01T10:00:00Z');

  beforeAll(async () => {
    db = await createTestDatabase();
    audit = new AuditService(db.dataSource, clock);
  });
  afterAll(async () => db.drop());

  it('records who, whom, what, when and from where', async () => {
    await audit.record({
      type: 'test.event_recorded',
      actor: { type: 'staff', id: 'staff-1' },
      subject: { type: 'user', id: 'user-1' },
      ip: '203.0.113.9',
      userAgent: 'UA',
      requestId: 'req-1',
      details: { reason: 'ticket 42' },
    });
    const rows = await db.dataSource.query(`SELECT * FROM audit_events WHERE event_type = 'test.event_recorded'`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actor_type: 'staff',
      actor_id: 'staff-1',
      subject_type: 'user',
      subject_id: 'user-1',
      ip: '203.0.113.9',
      request_id: 'req-1',
      details: { reason: 'ticket 42' },
    });
    expect(new Date(rows[0].occurred_at).toISOString()).toBe('2026-05-01T10:00:00.000Z');
  });

  it.each([
    ['UPDATE', `UPDATE audit_events SET event_type = 'x.y'`],
    ['DELETE', `DELETE FROM audit_events`],
    ['TRUNCATE', `TRUNCATE audit_events`],
  ])('refuses %s: the log is append-only in the database itself', async (_op, sql) => {
    await expect(db.dataSource.query(sql)).rejects.toThrow(/append-only/);
    const [{ count }] = await db.dataSource.query(`SELECT count(*)::int AS count FROM audit_events`);
    expect(count).toBeGreaterThan(0);
  });

  it.each([{ password: 'x' }, { nested: { otp: '123456' } }, { security_code: '1234567' }, { access_token: 't' }])(
    'refuses details that look like secrets: %p',
    async (details) => {
      await expect(audit.record({ type: 'test.secret_attempt', actor: { type: 'system' }, details })).rejects.toThrow(
        /looks like a secret/,
      );
      const [{ count }] = await db.dataSource.query(
        `SELECT count(*)::int AS count FROM audit_events WHERE event_type = 'test.secret_attempt'`,
      );
      expect(count).toBe(0);
    },
  );

  it("commits with the caller's transaction and rolls back with it", async () => {
    await expect(
      db.dataSource.transaction(async (manager) => {
        await audit.record({ type: 'test.rolled_back', actor: { type: 'system' } }, manager);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const [{ count }] = await db.dataSource.query(`SELECT count(*)::int AS count FROM audit_events WHERE event_type = 'test.rolled_back'`);
    expect(count).toBe(0);
  });
});
