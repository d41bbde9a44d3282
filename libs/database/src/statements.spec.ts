import { QueryFailedError } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import { createDataSource } from '#libs/platform';
import { WriteBatch, runStatement } from './statements.js';

/** WriteBatch and prepared statements against real PostgreSQL. */
describe('WriteBatch and runStatement', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
    await db.dataSource.query(
      `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL CHECK (name <> ''), version int NOT NULL DEFAULT 1)`,
    );
    await db.dataSource.query(`CREATE TABLE events (seq bigint GENERATED ALWAYS AS IDENTITY, item int NOT NULL, what text NOT NULL)`);
  });

  afterAll(async () => {
    await db.drop();
  });

  const ds = () => db.dataSource;
  const count = async (table: string) => Number((await ds().query(`SELECT count(*)::int AS n FROM ${table}`))[0].n);

  /** "Bump the item if it is still at `version`, then log it": the second part only if the first wrote. */
  function bumpAndLog(id: number, version: number, what: string) {
    const batch = new WriteBatch();
    const bumped = batch.add(
      'bump',
      `UPDATE items SET version = version + 1 WHERE id = ${batch.param(id, 'int')} AND version = ${batch.param(version, 'int')} RETURNING id`,
    );
    const logged = batch.add(
      'log',
      `INSERT INTO events (item, what) SELECT ${batch.param(id, 'int')}, ${batch.param(what, 'text')} WHERE ${WriteBatch.ran(bumped)} RETURNING seq`,
    );
    return { batch, bumped, logged };
  }

  it('runs dependent writes in one statement and says which parts wrote', async () => {
    await ds().query(`INSERT INTO items (id, name) VALUES (1, 'one')`);
    const first = bumpAndLog(1, 1, 'first');
    const result = await first.batch.run(ds());
    expect([result.ran(first.bumped), result.ran(first.logged)]).toEqual([true, true]);

    // The same version again: the bump matches nothing, so the log part does not run either.
    const stale = bumpAndLog(1, 1, 'stale');
    const again = await stale.batch.run(ds());
    expect([again.ran(stale.bumped), again.ran(stale.logged)]).toEqual([false, false]);
    expect(await ds().query(`SELECT item, what FROM events ORDER BY seq`)).toEqual([{ item: 1, what: 'first' }]);
    expect((await ds().query(`SELECT version FROM items WHERE id = 1`))[0].version).toBe(2);
  });

  it('is all or nothing: a failing part undoes the parts before it', async () => {
    await ds().query(`INSERT INTO items (id, name) VALUES (2, 'two')`);
    const events = await count('events');
    const batch = new WriteBatch();
    batch.add('bump', `UPDATE items SET version = version + 1 WHERE id = ${batch.param(2, 'int')} RETURNING id`);
    batch.add('bad', `INSERT INTO items (id, name) VALUES (${batch.param(4, 'int')}, ${batch.param('', 'text')}) RETURNING id`);
    await expect(batch.run(ds())).rejects.toBeInstanceOf(QueryFailedError);
    expect((await ds().query(`SELECT version, name FROM items WHERE id = 2`))[0]).toEqual({ version: 1, name: 'two' });
    expect(await count('events')).toBe(events);
  });

  it("joins the caller's transaction when given its manager, and rolls back with it", async () => {
    await ds().query(`INSERT INTO items (id, name) VALUES (3, 'three')`);
    const events = await count('events');
    await expect(
      ds().transaction(async (manager) => {
        const { batch, logged } = bumpAndLog(3, 1, 'inside');
        expect((await batch.run(manager)).ran(logged)).toBe(true);
        throw new Error('the caller gives up');
      }),
    ).rejects.toThrow('the caller gives up');
    expect((await ds().query(`SELECT version FROM items WHERE id = 3`))[0].version).toBe(1);
    expect(await count('events')).toBe(events);
  });

  it('refuses parts it could not report on, and labels that are not plain names', () => {
    const batch = new WriteBatch();
    expect(() => batch.add('nothing_back', `UPDATE items SET version = 1`)).toThrow(/RETURNING/u);
    expect(() => batch.add('bad label; DROP', `UPDATE items SET version = 1 RETURNING id`)).toThrow(/label/u);
    expect(() => batch.text).toThrow(/empty/u);
    expect(WriteBatch.ran()).toBe('TRUE');
  });

  it('prepares a statement once per connection and reuses it; errors are QueryFailedError', async () => {
    const single = createDataSource(db.url, { poolSize: 1, applicationName: 'statements-spec' });
    await single.initialize();
    try {
      const text = `SELECT name FROM items WHERE id = $1`;
      expect((await runStatement(single, text, [1])).rows).toEqual([{ name: 'one' }]);
      expect((await runStatement(single, text, [2])).rows).toEqual([{ name: 'two' }]);
      // Same (only) connection: its prepared statements.
      const { rows } = await runStatement<{ name: string; statement: string }>(
        single,
        `SELECT name, statement FROM pg_prepared_statements`,
        [],
      );
      const prepared = rows.filter((r) => r.statement === text);
      expect(prepared).toHaveLength(1);
      expect(prepared[0]!.name).toMatch(/^gh_[0-9a-f]{24}$/u);
      await expect(runStatement(single, `SELECT nope FROM items`, [])).rejects.toBeInstanceOf(QueryFailedError);
    } finally {
      await single.destroy();
    }
  });
});
