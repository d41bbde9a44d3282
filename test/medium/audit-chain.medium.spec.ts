import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import { AuditChainVerifier, AuditService, GENESIS_HASH, canonicalJson, eventHash, type ChainRow } from '#libs/audit';
import { Duration, FixedClock } from '#libs/core';
import { dataSourceOptions, migrate } from '#libs/platform';
import { runCliAgainst } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const clock = new FixedClock('2026-05-01T10:00:00Z');
let dataDir: string;
const open: TestDatabase[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'gh-audit-chain-'));
});
afterAll(async () => {
  await Promise.all(open.map((db) => db.drop()));
  await rm(dataDir, { recursive: true, force: true });
});

async function freshDatabase(options?: { migrated?: boolean }): Promise<TestDatabase> {
  const db = await createTestDatabase(options);
  open.push(db);
  return db;
}

const verify = (db: TestDatabase, ...extra: string[]) => runCliAgainst(db.url, dataDir, 'audit:verify', ...extra);

/** Details that exercise the canonical JSON: key order, escapes, non-ASCII, nesting, numbers. */
const AWKWARD_DETAILS = {
  zeta: 1,
  Alpha: 'Ünïcödé ✓ 😀',
  alpha: ['b', 'a', { y: null, x: true }],
  ключ: 'значение',
  '😀': 'emoji key',
  é: 'precomposed',
  ctrl: 'tab\there\nline\u0001\u001f\u007f "quoted" back\\slash /slash',
  nested: { deep: { deeper: [1.5, -0, 1e-7, 9007199254740991, false] } },
  empty: { obj: {}, arr: [] },
  sep: '\u2028\u2029',
};

/** Records `n` events through AuditService, with every column used, one second apart. */
async function seed(db: TestDatabase, n: number, prefix = 'chain'): Promise<void> {
  const audit = new AuditService(db.dataSource, clock);
  for (let i = 0; i < n; i++) {
    clock.advance(Duration.ofSeconds(1));
    await audit.record({
      type: `${prefix}.event_${String.fromCharCode(97 + (i % 26))}`,
      actor: i % 3 === 0 ? { type: 'system' } : { type: 'staff', id: `staff-${i % 4}` },
      subject: i % 2 === 0 ? { type: 'user', id: `user-${i % 5}` } : null,
      organizationId: i % 4 === 0 ? '6f1c1f4e-8d4b-4b8e-9a57-0e5d1f2a3b4c' : null,
      ip: i % 2 === 0 ? '203.0.113.9' : '2001:db8::1',
      userAgent: i % 3 === 1 ? 'Mozilla/5.0 "quoted"' : null,
      requestId: `req-${i}`,
      details: i % 5 === 0 ? AWKWARD_DETAILS : { i, reason: `ticket ${i}` },
    });
  }
}

/** A superuser's session with the triggers off, as someone editing the log behind the application's back would do. */
async function asSuperuser<T>(db: TestDatabase, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(`SET session_replication_role = replica`);
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Inserts a row with chain values the forger computed by the documented algorithm (triggers off). */
async function forge(
  c: pg.Client,
  row: Pick<ChainRow, 'id' | 'seq' | 'occurredAt' | 'eventType' | 'prevHash'> & Partial<ChainRow>,
): Promise<void> {
  const full: Omit<ChainRow, 'hash'> = {
    actorType: 'staff',
    actorId: 'staff-9',
    subjectType: 'user',
    subjectId: 'user-1',
    organizationId: null,
    ip: null,
    userAgent: null,
    requestId: null,
    details: '{}',
    ...row,
  };
  await c.query(
    `INSERT INTO audit_events (id, seq, occurred_at, event_type, actor_type, actor_id, subject_type, subject_id, organization_id, ip,
                               user_agent, request_id, details, prev_hash, hash)
     OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
    [
      full.id,
      full.seq,
      full.occurredAt,
      full.eventType,
      full.actorType,
      full.actorId,
      full.subjectType,
      full.subjectId,
      full.organizationId,
      full.ip,
      full.userAgent,
      full.requestId,
      full.details,
      full.prevHash,
      eventHash(full),
    ],
  );
}

async function rowAt(db: TestDatabase, seq: number): Promise<{ id: string; hash: string }> {
  const [row] = await db.dataSource.query<
    Array<{
      id: string;
      hash: string;
    }>
  >(`SELECT id::text AS id, hash FROM audit_events WHERE seq = $1`, [seq]);
  if (!row) throw new Error(`no row at seq ${seq}`);
  return row;
}

async function count(db: TestDatabase): Promise<number> {
  const [row] = await db.dataSource.query<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM audit_events`);
  return row!.n;
}

describe('audit hash chain', () => {
  describe('an intact chain', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await freshDatabase();
      await seed(db, 30);
    });

    it('verifies: audit:verify prints ok rows=N and the head, and exits 0', async () => {
      const run = await verify(db);
      const [last] = await db.dataSource.query<
        Array<{
          seq: string;
          hash: string;
        }>
      >(`SELECT seq::text AS seq, hash FROM audit_events ORDER BY audit_events.seq DESC LIMIT 1`);
      expect(run).toEqual({ code: 0, out: [`ok rows=${await count(db)}`, `head=${last!.seq}:${last!.hash}`], err: [] });
    });

    it('links every row to the one before it, in seq order without gaps, and the head holds the last link', async () => {
      const rows = await db.dataSource.query<
        Array<{
          seq: number;
          prev_hash: string;
          hash: string;
        }>
      >(`SELECT seq::int AS seq, prev_hash, hash FROM audit_events ORDER BY seq`);
      expect(rows.length).toBe(await count(db));
      expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
      expect(rows[0]!.prev_hash).toBe(GENESIS_HASH);
      for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
      expect(new Set(rows.map((r) => r.hash)).size).toBe(rows.length);
      const [head] = await db.dataSource.query<
        Array<{
          seq: number;
          hash: string;
        }>
      >(`SELECT seq::int AS seq, hash FROM audit_chain_head`);
      expect(head).toEqual({ seq: rows.at(-1)!.seq, hash: rows.at(-1)!.hash });
    });

    it('computes in the database exactly the hash the documented canonical form gives, awkward details included', async () => {
      const rows = await db.dataSource.query<ChainRow[]>(`
        SELECT id::text AS "id", seq::text AS "seq",
          to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "occurredAt",
          event_type AS "eventType", actor_type AS "actorType", actor_id AS "actorId", subject_type AS "subjectType",
          subject_id AS "subjectId", organization_id::text AS "organizationId", ip::text AS "ip", user_agent AS "userAgent",
          request_id AS "requestId", details::text AS "details", prev_hash AS "prevHash", hash AS "hash"
        FROM audit_events WHERE details ? 'ctrl' ORDER BY audit_events.seq LIMIT 1`);
      const row = rows[0]!;
      expect(row.occurredAt).toMatch(/^2026-05-01T10:00:\d{2}\.000000Z$/u);
      expect(eventHash(row)).toBe(row.hash);
      // Keys in UTF-8 byte order (upper case before lower case, then multi-byte characters), no whitespace.
      const canonical = canonicalJson(row.details);
      expect(canonical.startsWith('{"Alpha":"Ünïcödé ✓ 😀","alpha":["b","a",{"x":true,"y":null}],"ctrl":')).toBe(true);
      expect(canonical).toContain('"ctrl":"tab\\there\\nline\\u0001\\u001f\u007f \\"quoted\\" back\\\\slash /slash"');
      expect(canonical.endsWith(',"zeta":1,"é":"precomposed","ключ":"значение","😀":"emoji key"}')).toBe(true);
      const [inDatabase] = await db.dataSource.query<Array<{ sql: string }>>(`SELECT audit_canonical_json($1::jsonb) AS sql`, [
        row.details,
      ]);
      expect(inDatabase!.sql).toBe(canonical);
    });

    it('keeps numbers as PostgreSQL stores them (1.0 stays 1.0), for rows written by SQL as well', async () => {
      await db.dataSource.query(
        `INSERT INTO audit_events (occurred_at, event_type, actor_type, details)
         VALUES ('2026-05-01T10:05:00.123456Z', 'sql.inserted', 'system', '{"b": 1.0, "a": 1e3, "c": 0.10, "d": 123456789012345678901234567890}')`,
      );
      const [row] = await db.dataSource.query<
        Array<{
          d: string;
        }>
      >(`SELECT details::text AS d FROM audit_events WHERE event_type = 'sql.inserted'`);
      expect(canonicalJson(row!.d)).toBe('{"a":1000,"b":1.0,"c":0.10,"d":123456789012345678901234567890}');
      expect((await verify(db)).code).toBe(0);
    });

    it('ignores chain values a writer supplies: the trigger computes them', async () => {
      await db.dataSource.query(
        `INSERT INTO audit_events (occurred_at, event_type, actor_type, details, seq, prev_hash, hash)
         VALUES (now(), 'sql.self_linked', 'system', '{}', 1, $1, $1)`,
        ['a'.repeat(64)],
      );
      const [row] = await db.dataSource.query<Array<{ seq: number; prev_hash: string; hash: string }>>(
        `SELECT seq::int AS seq, prev_hash, hash FROM audit_events WHERE event_type = 'sql.self_linked'`,
      );
      expect(row!.seq).toBe(await count(db));
      expect(row!.hash).not.toBe('a'.repeat(64));
      expect((await verify(db)).out[0]).toBe(`ok rows=${await count(db)}`);
    });

    it('verifies the same in pages of any size (the verifier streams keyset pages)', async () => {
      const rows = await count(db);
      for (const pageSize of [1, 7, rows, rows + 1]) {
        const result = await new AuditChainVerifier(db.dataSource).verify({ pageSize });
        expect(result).toMatchObject({ ok: true, rows });
      }
      expect((await verify(db, '--page-size', '4')).out[0]).toBe(`ok rows=${rows}`);
    });

    it('accepts an anchor printed by an earlier run, and refuses a malformed one as bad usage', async () => {
      const head = (await verify(db)).out[1]!.slice('head='.length);
      await seed(db, 2, 'later');
      expect(await verify(db, '--anchor', head)).toMatchObject({ code: 0, out: [`ok rows=${await count(db)}`, expect.any(String)] });
      const wrong = `${head.split(':')[0]}:${'f'.repeat(64)}`;
      const refused = await verify(db, '--anchor', wrong);
      expect(refused.code).toBe(1);
      expect(refused.err).toEqual([expect.stringMatching(/^error: audit chain broken at row id=\d+ .*differs from the anchor/u)]);
      expect((await verify(db, '--anchor', 'not-a-head')).code).toBe(2);
    });
  });

  describe('the append-only log', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await freshDatabase();
      await seed(db, 5);
    });

    it.each([
      ['UPDATE audit_events', `UPDATE audit_events SET details = '{}'`, /append-only/],
      ['DELETE FROM audit_events', `DELETE FROM audit_events WHERE seq = 3`, /append-only/],
      ['TRUNCATE audit_events', `TRUNCATE audit_events`, /append-only/],
      ['UPDATE audit_chain_head', `UPDATE audit_chain_head SET seq = 0`, /only advances/],
      ['DELETE FROM audit_chain_head', `DELETE FROM audit_chain_head`, /only advances/],
      ['TRUNCATE audit_chain_head', `TRUNCATE audit_chain_head`, /only advances/],
      [
        'INSERT INTO audit_chain_head',
        `INSERT INTO audit_chain_head (singleton, seq, hash) VALUES (true, 0, repeat('0', 64))`,
        /only advances/,
      ],
    ])("refuses %s from the application's connection", async (_name, sql, message) => {
      await expect(db.dataSource.query(sql)).rejects.toThrow(message);
      expect(await count(db)).toBe(5);
      expect((await verify(db)).out[0]).toBe('ok rows=5');
    });

    it('with a role granted only SELECT and INSERT (recommended for production): appends are chained; UPDATE, DELETE, TRUNCATE and disabling triggers are denied', async () => {
      const role = `gh_app_${Math.random().toString(36).slice(2, 10)}`;
      const password = `pw-${Math.random().toString(36).slice(2)}`;
      await db.dataSource.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
      try {
        await db.dataSource.query(`GRANT SELECT, INSERT ON audit_events TO ${role}`);
        const url = new URL(db.url);
        url.username = role;
        url.password = password;
        const app = new pg.Client({ connectionString: url.toString() });
        await app.connect();
        try {
          await app.query(`INSERT INTO audit_events (occurred_at, event_type, actor_type) VALUES (now(), 'role.appended', 'system')`);
          for (const sql of [
            `UPDATE audit_events SET details = '{}'`,
            `DELETE FROM audit_events`,
            `TRUNCATE audit_events`,
            `ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`,
            `UPDATE audit_chain_head SET seq = seq + 1`,
          ]) {
            await expect(app.query(sql)).rejects.toThrow(/permission denied|must be (the )?owner/u);
          }
          await expect(app.query(`SET session_replication_role = replica`)).rejects.toThrow(/permission denied/u);
        } finally {
          await app.end();
        }
      } finally {
        await db.dataSource.query(`DROP OWNED BY ${role}`);
        await db.dataSource.query(`DROP ROLE ${role}`);
      }
      expect((await verify(db)).out[0]).toBe('ok rows=6');
    });
  });

  describe('tampering by a superuser with the triggers off is detected', () => {
    it('an edited row: audit:verify exits 1 naming that row', async () => {
      const db = await freshDatabase();
      await seed(db, 12);
      const target = await rowAt(db, 7);
      await asSuperuser(db, (c) => c.query(`UPDATE audit_events SET details = '{"reason": "nothing to see"}' WHERE id = $1`, [target.id]));
      const run = await verify(db);
      expect(run).toEqual({
        code: 1,
        out: [],
        err: [`error: audit chain broken at row id=${target.id} (seq 7): its content does not match its hash: the row was edited`],
      });
    });

    it('an edited row whose hash was recomputed: the next row no longer links to it', async () => {
      const db = await freshDatabase();
      await seed(db, 12);
      const edited = await rowAt(db, 4);
      const next = await rowAt(db, 5);
      // ALTER TABLE … DISABLE TRIGGER, the other way a superuser (or the owner) gets past the trigger.
      await db.dataSource.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`);
      await db.dataSource.query(
        `UPDATE audit_events SET actor_id = 'someone-else',
           hash = audit_event_hash(id, seq, occurred_at, event_type, actor_type, 'someone-else', subject_type, subject_id,
                                   organization_id, ip, user_agent, request_id, details, prev_hash)
         WHERE id = $1`,
        [edited.id],
      );
      await db.dataSource.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`);
      const run = await verify(db);
      expect(run.code).toBe(1);
      expect(run.err).toEqual([
        `error: audit chain broken at row id=${next.id} (seq 5): prev_hash does not match the hash of the row before it (id=${edited.id}): that row was replaced, or rows were removed or inserted between them`,
      ]);
    });

    it('a row deleted in the middle', async () => {
      const db = await freshDatabase();
      await seed(db, 12);
      const deleted = await rowAt(db, 6);
      const after = await rowAt(db, 7);
      await asSuperuser(db, (c) => c.query(`DELETE FROM audit_events WHERE id = $1`, [deleted.id]));
      const run = await verify(db);
      expect(run.code).toBe(1);
      expect(run.err).toEqual([
        expect.stringMatching(new RegExp(`^error: audit chain broken at row id=${after.id} \\(seq 7\\): expected seq 6 .*missing`, 'u')),
      ]);
    });

    it('a row deleted in the middle with the later rows renumbered: the links give it away', async () => {
      const db = await freshDatabase();
      await seed(db, 12);
      const deleted = await rowAt(db, 6);
      const after = await rowAt(db, 7);
      await asSuperuser(db, async (c) => {
        await c.query(`DELETE FROM audit_events WHERE id = $1`, [deleted.id]);
        await c.query(`UPDATE audit_events SET seq = seq + 1000000 WHERE seq > 6`);
        await c.query(`UPDATE audit_events SET seq = seq - 1000001 WHERE seq > 1000000`);
        await c.query(`UPDATE audit_chain_head SET seq = seq - 1`);
      });
      const run = await verify(db);
      expect(run.code).toBe(1);
      expect(run.err[0]).toMatch(
        new RegExp(`^error: audit chain broken at row id=${after.id} \\(seq 6\\): (prev_hash does not match|its content)`, 'u'),
      );
    });

    it('rows deleted from the end', async () => {
      const db = await freshDatabase();
      await seed(db, 12);
      await asSuperuser(db, (c) => c.query(`DELETE FROM audit_events WHERE seq > 10`));
      const run = await verify(db);
      const last = await rowAt(db, 10);
      expect(run.code).toBe(1);
      expect(run.err).toEqual([
        `error: audit chain broken: the chain head is at seq 12 but the last row is id=${last.id} (seq 10): rows were deleted from the end`,
      ]);
      // An append afterwards does not paper over it: the head is a high-water mark, so the new row leaves a gap.
      await seed(db, 1, 'after');
      const [appended] = await db.dataSource.query<
        Array<{
          id: string;
          seq: number;
        }>
      >(`SELECT id::text AS id, seq::int AS seq FROM audit_events WHERE event_type LIKE 'after.%'`);
      expect(appended!.seq).toBe(13);
      expect((await verify(db)).err).toEqual([
        `error: audit chain broken at row id=${appended!.id} (seq 13): expected seq 11 after row id=${last.id}: 2 row(s) before it are missing`,
      ]);
    });

    it('a forged row appended with made-up chain values', async () => {
      const db = await freshDatabase();
      await seed(db, 8);
      const last = await rowAt(db, 8);
      const [forged] = await asSuperuser(db, (c) =>
        c
          .query(
            `INSERT INTO audit_events (occurred_at, event_type, actor_type, details, seq, prev_hash, hash)
             VALUES (now(), 'recovery.unlocked', 'staff', '{}', 9, $1, $2) RETURNING id::text AS id`,
            [last.hash, 'b'.repeat(64)],
          )
          .then((r) => r.rows as Array<{ id: string }>),
      );
      const run = await verify(db);
      expect(run.code).toBe(1);
      expect(run.err).toEqual([
        `error: audit chain broken at row id=${forged!.id} (seq 9): its content does not match its hash: the row was edited`,
      ]);
    });

    it('a forged row appended with a correctly computed hash: it lies beyond the chain head', async () => {
      const db = await freshDatabase();
      await seed(db, 8);
      const last = await rowAt(db, 8);
      const id = '900000';
      await asSuperuser(db, (c) =>
        forge(c, { id, seq: '9', occurredAt: '2026-05-01T10:30:00.000000Z', eventType: 'recovery.unlocked', prevHash: last.hash }),
      );
      const run = await verify(db);
      expect(run.code).toBe(1);
      expect(run.err).toEqual([
        `error: audit chain broken at row id=${id} (seq 9): it lies beyond the chain head (seq 8): it was not appended through the chain`,
      ]);
    });

    it('a forged row slipped into the middle (later rows renumbered, its own hash correct): the row after it does not link', async () => {
      const db = await freshDatabase();
      await seed(db, 10);
      const before = await rowAt(db, 5);
      const after = await rowAt(db, 6);
      const id = '910000';
      await asSuperuser(db, async (c) => {
        await c.query(`UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= 6`);
        await c.query(`UPDATE audit_events SET seq = seq - 999999 WHERE seq > 1000000`);
        await forge(c, {
          id,
          seq: '6',
          occurredAt: '2026-05-01T10:00:05.500000Z',
          eventType: 'staff.role_changed',
          details: '{"role": "supervisor"}',
          prevHash: before.hash,
        });
        await c.query(`UPDATE audit_chain_head SET seq = seq + 1`);
      });
      const run = await verify(db);
      expect(run.code).toBe(1);
      expect(run.err).toEqual([
        `error: audit chain broken at row id=${after.id} (seq 7): prev_hash does not match the hash of the row before it (id=${id}): that row was replaced, or rows were removed or inserted between them`,
      ]);
    });

    it('a whole chain recomputed after an edit passes on its own, but not against an anchor kept from before', async () => {
      const db = await freshDatabase();
      await seed(db, 10);
      const anchor = (await verify(db)).out[1]!.slice('head='.length);
      const anchored = await rowAt(db, 10);
      await asSuperuser(db, (c) =>
        c.query(`
          DO $$
          DECLARE r record; prev text := repeat('0', 64); h text;
          BEGIN
            UPDATE audit_events SET actor_id = 'nobody' WHERE seq = 3;
            FOR r IN SELECT * FROM audit_events ORDER BY seq LOOP
              h := audit_event_hash(r.id, r.seq, r.occurred_at, r.event_type, r.actor_type, r.actor_id, r.subject_type, r.subject_id,
                                    r.organization_id, r.ip, r.user_agent, r.request_id, r.details, prev);
              UPDATE audit_events SET prev_hash = prev, hash = h WHERE id = r.id;
              prev := h;
            END LOOP;
            UPDATE audit_chain_head SET hash = prev;
          END $$`),
      );
      expect((await verify(db)).code).toBe(0);
      const run = await verify(db, '--anchor', anchor);
      expect(run.code).toBe(1);
      expect(run.err).toEqual([
        expect.stringMatching(
          new RegExp(`^error: audit chain broken at row id=${anchored.id} \\(seq 10\\): its hash differs from the anchor`, 'u'),
        ),
      ]);
    });
  });

  describe('concurrent appends', () => {
    it('from many connections, with rollbacks in between, still form one gap-free chain that verifies', async () => {
      const db = await freshDatabase();
      const pool = new pg.Pool({ connectionString: db.url, max: 16 });
      const audit = new AuditService(db.dataSource, clock);
      let committed = 0;
      try {
        const writers = Array.from({ length: 16 }, async (_, w) => {
          for (let i = 0; i < 15; i++) {
            const client = await pool.connect();
            try {
              await client.query('BEGIN');
              await client.query(
                `INSERT INTO audit_events (occurred_at, event_type, actor_type, actor_id, details)
                 VALUES (clock_timestamp(), 'load.appended', 'system', $1, $2)`,
                [`writer-${w}`, JSON.stringify({ w, i })],
              );
              if (i % 4 === 1) await client.query('SELECT pg_sleep(0.002)');
              if (i % 5 === 2) {
                await client.query('ROLLBACK');
              } else {
                await client.query('COMMIT');
                committed++;
              }
            } finally {
              client.release();
            }
          }
        });
        // The application's own path, at the same time.
        const service = Array.from({ length: 4 }, async (_, w) => {
          for (let i = 0; i < 10; i++) {
            await db.dataSource.transaction(async (manager) => {
              await audit.record({ type: 'load.via_service', actor: { type: 'system' }, details: { w, i } }, manager);
            });
            committed++;
          }
        });
        await Promise.all([...writers, ...service]);
      } finally {
        await pool.end();
      }
      expect(committed).toBe(16 * 12 + 40);
      expect(await count(db)).toBe(committed);
      const run = await verify(db);
      expect(run).toMatchObject({
        code: 0,
        out: [`ok rows=${committed}`, expect.stringMatching(new RegExp(`^head=${committed}:[0-9a-f]{64}$`, 'u'))],
      });
    });
  });

  describe('the migration', () => {
    it('chains the rows written before it, in id order, and later appends continue that chain', async () => {
      const db = await freshDatabase({ migrated: false });
      const index = MIGRATIONS.findIndex((m) => m.name === 'AuditChain1763820000000');
      expect(index).toBeGreaterThan(0);
      const before = new DataSource({ ...dataSourceOptions(db.url, { poolSize: 2 }), migrations: MIGRATIONS.slice(0, index) });
      await before.initialize();
      try {
        await migrate(before);
        await seed({ ...db, dataSource: before }, 7, 'legacy');
      } finally {
        await before.destroy();
      }
      expect(await migrate(db.dataSource)).toContain('AuditChain1763820000000');
      const rows = await db.dataSource.query<
        Array<{
          id: number;
          seq: number;
        }>
      >(`SELECT id::int AS id, seq::int AS seq FROM audit_events ORDER BY id`);
      expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect((await verify(db)).out[0]).toBe('ok rows=7');
      await seed(db, 2, 'after');
      expect((await verify(db)).out[0]).toBe('ok rows=9');
    });
  });
});
