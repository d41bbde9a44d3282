import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { createDataSource } from '#libs/platform';

export interface TestDatabase {
  url: string;
  dataSource: DataSource;
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file: a clone of the run's template. With
 * `{ migrated: false }`, an empty database instead (for tests that run migrations themselves).
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = process.env.GATEHOUSE_TEST_ADMIN_URL;
  const template = process.env.GATEHOUSE_TEST_TEMPLATE;
  const run = process.env.GATEHOUSE_TEST_RUN;
  if (!adminUrl || !template || !run) throw new Error('test database template missing: run the tests through jest (globalSetup)');
  const name = `gh_t_${run}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${options.migrated === false ? 'template0' : template}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const dataSource = createDataSource(url.toString(), { poolSize: 5 });
  await dataSource.initialize();
  return {
    url: url.toString(),
    dataSource,
    async drop() {
      await dataSource.destroy();
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
