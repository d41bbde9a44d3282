import './resolve-ts.cjs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { startDatabase, type RunningDatabase } from '#libs/database';
import { createDataSource, migrate } from '#libs/platform';

declare global {
  var __GATEHOUSE_TEST_DB__: RunningDatabase | undefined;
}

/**
 * Uses DATABASE_URL's server when set, otherwise real embedded PostgreSQL under
 * $DATA_DIR/test-postgres (apart from the data `npm start` keeps). Builds one migrated
 * template database; every test file clones it (test/support/database.ts).
 */
export default async function globalSetup(): Promise<void> {
  const dataDir = path.resolve(process.env.DATA_DIR ?? '.data');
  const db = process.env.DATABASE_URL
    ? await startDatabase(process.env.DATABASE_URL, dataDir)
    : await startDatabase(undefined, path.join(dataDir, 'test'));
  globalThis.__GATEHOUSE_TEST_DB__ = db;

  const run = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  const template = `gh_tpl_${run}`;
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${template}`);
  } finally {
    await admin.end();
  }
  const url = new URL(db.adminUrl);
  url.pathname = `/${template}`;
  const ds = createDataSource(url.toString(), { poolSize: 2 });
  await ds.initialize();
  await migrate(ds);
  await ds.destroy();

  process.env.GATEHOUSE_TEST_ADMIN_URL = db.adminUrl;
  process.env.GATEHOUSE_TEST_TEMPLATE = template;
  process.env.GATEHOUSE_TEST_RUN = run;
  process.env.GATEHOUSE_TEST_EMBEDDED = db.embedded ? '1' : '';
}
