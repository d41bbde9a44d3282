import { AuditQuery, AuditService, auditSearchQuery, type ActorType, type AuditEntry, type AuditSearch } from '#libs/audit';
import { DomainError, Duration, FixedClock } from '#libs/core';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/**
 * The audit viewer's query service against real PostgreSQL: filters, newest-first keyset
 * paging with an opaque cursor, validation, and index use.
 */
describe('AuditQuery', () => {
  let db: TestDatabase;
  let query: AuditQuery;
  let audit: AuditService;
  const clock = new FixedClock('2026-03-01T08:00:00Z');
  const T0 = new Date('2026-03-01T08:00:00Z');
  const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
  const alice = { type: 'user', id: 'user-alice' };
  const bob = { type: 'user', id: 'user-bob' };

  /** What was recorded, oldest first: [type, minute, actor, subject]. */
  const script: Array<[string, number, { type: ActorType; id?: string }, { type: string; id: string } | null]> = [
    ['signin.succeeded', 0, { type: 'user', id: 'user-alice' }, alice],
    ['recovery.started', 1, { type: 'anonymous' }, alice],
    ['recovery.security_code_failed', 2, { type: 'system' }, alice],
    ['recovery.locked', 3, { type: 'system' }, alice],
    ['recovery.unlocked', 10, { type: 'staff', id: 'staff-1' }, alice],
    ['recovery_extra.noted', 10, { type: 'staff', id: 'staff-1' }, alice],
    ['recoveryz.noted', 10, { type: 'staff', id: 'staff-2' }, bob],
    ['profile.corrected', 10, { type: 'staff', id: 'staff-2' }, bob],
    ['device.revoked', 20, { type: 'staff', id: 'staff-1' }, bob],
    ['staff.created', 30, { type: 'system' }, { type: 'staff', id: 'user-alice' }],
    ['system.started', 40, { type: 'system' }, null],
  ];
  const ids = new Map<string, string>();

  beforeAll(async () => {
    db = await createTestDatabase();
    audit = new AuditService(db.dataSource, clock);
    query = new AuditQuery(db.dataSource);
    for (const [type, minute, actor, subject] of script) {
      clock.set(at(minute));
      await audit.record({ type, actor, subject, ip: '198.51.100.7', details: { step: type } });
      const [row] = await db.dataSource.query<
        Array<{
          id: string;
        }>
      >(`SELECT id::text AS id FROM audit_events WHERE event_type = $1`, [type]);
      ids.set(type, row!.id);
    }
  });
  afterAll(async () => db.drop());

  const types = (entries: AuditEntry[]) => entries.map((e) => e.type);
  /** Expected order: newest first, and for equal times the later-written (higher id) first. */
  const newestFirst = (names: string[]) =>
    [...names].sort((a, b) => {
      const ma = script.find((s) => s[0] === a)![1];
      const mb = script.find((s) => s[0] === b)![1];
      return mb - ma || Number(ids.get(b)) - Number(ids.get(a));
    });

  async function all(search: AuditSearch, limit: number): Promise<{ entries: AuditEntry[]; pages: number }> {
    const entries: AuditEntry[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await query.search({ ...search, limit, cursor });
      pages++;
      expect(page.entries.length).toBeLessThanOrEqual(limit);
      entries.push(...page.entries);
      cursor = page.nextCursor;
    } while (cursor && pages < 100);
    return { entries, pages };
  }

  it('returns everything newest first, ties broken by id, with the fields the viewer shows and no chain hashes', async () => {
    const page = await query.search();
    expect(types(page.entries)).toEqual(newestFirst(script.map((s) => s[0])));
    expect(page.nextCursor).toBeNull();
    const unlocked = page.entries.find((e) => e.type === 'recovery.unlocked')!;
    expect(unlocked).toEqual({
      id: ids.get('recovery.unlocked'),
      seq: expect.stringMatching(/^\d+$/u),
      occurredAt: at(10),
      type: 'recovery.unlocked',
      actor: { type: 'staff', id: 'staff-1' },
      subject: alice,
      organizationId: null,
      ip: '198.51.100.7',
      userAgent: null,
      requestId: null,
      details: { step: 'recovery.unlocked' },
    });
    expect(page.entries.find((e) => e.type === 'system.started')!.subject).toBeNull();
    const hashes = await db.dataSource.query<Array<{ hash: string; prev_hash: string }>>(`SELECT hash, prev_hash FROM audit_events`);
    const json = JSON.stringify(page);
    for (const { hash } of hashes) expect(json).not.toContain(hash);
  });

  it.each<[string, AuditSearch, string[]]>([
    ['subject (type and id)', { subject: alice }, script.filter((s) => s[3] === alice).map((s) => s[0])],
    [
      'subjectId, whatever the type',
      { subjectId: 'user-alice' },
      [...script.filter((s) => s[3] === alice).map((s) => s[0]), 'staff.created'],
    ],
    ['actor with id', { actor: { type: 'staff', id: 'staff-1' } }, ['recovery.unlocked', 'recovery_extra.noted', 'device.revoked']],
    [
      'actor type only',
      { actor: { type: 'system' } },
      ['recovery.security_code_failed', 'recovery.locked', 'staff.created', 'system.started'],
    ],
    ['exact event type', { eventType: 'recovery.locked' }, ['recovery.locked']],
    [
      'event type prefix (not recovery_extra. nor recoveryz.)',
      { eventType: 'recovery.' },
      ['recovery.started', 'recovery.security_code_failed', 'recovery.locked', 'recovery.unlocked'],
    ],
    ['from (inclusive)', { from: at(20) }, ['device.revoked', 'staff.created', 'system.started']],
    ['to (exclusive)', { to: at(3) }, ['signin.succeeded', 'recovery.started', 'recovery.security_code_failed']],
    [
      'from and to',
      { from: at(3), to: at(20) },
      ['recovery.locked', 'recovery.unlocked', 'recovery_extra.noted', 'recoveryz.noted', 'profile.corrected'],
    ],
    [
      'everything combined',
      { subject: alice, actor: { type: 'staff', id: 'staff-1' }, eventType: 'recovery.', from: at(5), to: at(11) },
      ['recovery.unlocked'],
    ],
    ['nothing matching', { subjectId: 'user-nobody' }, []],
  ])('filters by %s', async (_name, search, expected) => {
    const page = await query.search(search);
    expect(types(page.entries)).toEqual(newestFirst(expected));
  });

  it('pages with an opaque cursor through equal timestamps without losing or repeating a row', async () => {
    for (const limit of [1, 2, 3, 4]) {
      const { entries, pages } = await all({}, limit);
      expect(types(entries)).toEqual(newestFirst(script.map((s) => s[0])));
      expect(pages).toBe(Math.ceil(script.length / limit));
    }
    const filtered = await all({ actor: { type: 'staff' } }, 2);
    expect(types(filtered.entries)).toEqual(newestFirst(script.filter((s) => s[2].type === 'staff').map((s) => s[0])));
    const first = await query.search({ limit: 2 });
    expect(first.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/u);
  });

  it('keeps paging stable while newer rows are appended, and reads the microsecond times it stores', async () => {
    const first = await query.search({ eventType: 'paging.', limit: 2 });
    expect(first.entries).toEqual([]);
    await db.dataSource.query(`
      INSERT INTO audit_events (occurred_at, event_type, actor_type, details)
      SELECT '2026-04-01T00:00:00.000001Z'::timestamptz + make_interval(secs => g / 1000000.0), 'paging.row', 'system', jsonb_build_object('g', g)
      FROM generate_series(1, 5) AS g`);
    const page1 = await query.search({ eventType: 'paging.', limit: 2 });
    expect(page1.entries.map((e) => e.details.g)).toEqual([5, 4]);
    clock.set(new Date('2027-01-01T00:00:00Z'));
    await audit.record({ type: 'paging.newer', actor: { type: 'system' } });
    const page2 = await query.search({ eventType: 'paging.', limit: 2, cursor: page1.nextCursor });
    expect(page2.entries.map((e) => e.details.g)).toEqual([3, 2]);
    const page3 = await query.search({ eventType: 'paging.', limit: 2, cursor: page2.nextCursor });
    expect(page3).toEqual({ entries: [expect.objectContaining({ details: { g: 1 } })], nextCursor: null });
  });

  it.each<[string, AuditSearch, string]>([
    ['limit 0', { limit: 0 }, 'limit'],
    ['limit 101', { limit: 101 }, 'limit'],
    ['limit 1.5', { limit: 1.5 }, 'limit'],
    ['a cursor that is not ours', { cursor: 'not-a-cursor' }, 'cursor'],
    [
      'a cursor with a forged key',
      { cursor: Buffer.from(JSON.stringify({ t: "x'; DROP TABLE audit_events; --", i: '1' })).toString('base64url') },
      'cursor',
    ],
    ['a cursor with characters outside base64url', { cursor: 'abc=' }, 'cursor'],
    ['an event type with a wildcard', { eventType: 'recovery.%' }, 'eventType'],
    ['an event type in capitals', { eventType: 'Recovery.locked' }, 'eventType'],
    ['an empty subject id', { subjectId: '' }, 'subjectId'],
    ['both subject and subjectId', { subject: alice, subjectId: 'user-alice' }, 'subject'],
    ['an invalid date', { from: new Date('nope') }, 'from'],
    ['from after to', { from: at(10), to: at(5) }, 'from'],
    ['an overlong actor id', { actor: { type: 'staff', id: 'x'.repeat(201) } }, 'actor.id'],
  ])('refuses %s with a DomainError naming the field', async (_name, search, field) => {
    const error = await query.search(search).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'invalid_audit_search', details: { field } });
  });

  it('defaults to 50 rows and allows at most 100', async () => {
    clock.set(new Date('2026-06-01T00:00:00Z'));
    for (let i = 0; i < 110; i++) {
      clock.advance(Duration.ofSeconds(1));
      await audit.record({ type: 'bulk.row', actor: { type: 'system' }, details: { i } });
    }
    const page = await query.search({ eventType: 'bulk.row' });
    expect(page.entries).toHaveLength(50);
    expect(page.entries[0]!.details).toEqual({ i: 109 });
    const big = await query.search({ eventType: 'bulk.row', limit: 100 });
    expect(big.entries).toHaveLength(100);
    const rest = await query.search({ eventType: 'bulk.row', limit: 100, cursor: big.nextCursor });
    expect(rest.entries.map((e) => e.details.i)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(rest.nextCursor).toBeNull();
  });

  describe('index use', () => {
    beforeAll(async () => {
      // Enough rows, spread over subjects, actors and types (recovery events rare), for the plans to mean something.
      await db.dataSource.query(`
        INSERT INTO audit_events (occurred_at, event_type, actor_type, actor_id, subject_type, subject_id, details)
        SELECT '2025-01-01T00:00:00Z'::timestamptz + make_interval(secs => g),
               CASE g % 200 WHEN 0 THEN 'recovery.locked' WHEN 100 THEN 'recovery.unlocked'
                 ELSE (ARRAY['signin.succeeded', 'device.revoked', 'profile.corrected'])[1 + g % 3] END,
               (ARRAY['user', 'staff', 'system'])[1 + g % 3], 'actor-' || (g % 50), 'user', 'subject-' || (g % 500), '{}'
        FROM generate_series(1, 20000) AS g`);
      await db.dataSource.query(`ANALYZE audit_events`);
    });

    async function plan(search: AuditSearch): Promise<string> {
      const { sql, params } = auditSearchQuery(search);
      return await db.dataSource.transaction(async (manager) => {
        await manager.query(`SET LOCAL enable_seqscan = off`);
        const rows = await manager.query<Array<{ 'QUERY PLAN': string }>>(`EXPLAIN ${sql}`, params);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      });
    }

    const cursor = async (search: AuditSearch) => (await query.search({ ...search, limit: 1 })).nextCursor;

    it.each<[string, AuditSearch, string]>([
      ['no filter', {}, 'audit_events_time_idx'],
      ['time range', { from: new Date('2025-01-01T01:00:00Z'), to: new Date('2025-01-01T02:00:00Z') }, 'audit_events_time_idx'],
      ['subject', { subject: { type: 'user', id: 'subject-7' } }, 'audit_events_subject_idx'],
      ['subjectId', { subjectId: 'subject-7' }, 'audit_events_subject_idx'],
      ['actor', { actor: { type: 'staff', id: 'actor-7' } }, 'audit_events_actor_idx'],
      ['exact event type', { eventType: 'recovery.locked' }, 'audit_events_type_idx'],
      ['event type prefix', { eventType: 'recovery.' }, 'audit_events_type_idx'],
    ])('%s: served by an index, also on later pages', async (_name, search, index) => {
      const first = await plan(search);
      expect(first).toContain(index);
      expect(first).not.toMatch(/Seq Scan/u);
      const next = await cursor(search);
      expect(next).not.toBeNull();
      const later = await plan({ ...search, cursor: next });
      expect(later).toContain(index);
      expect(later).not.toMatch(/Seq Scan/u);
    });
  });
});
