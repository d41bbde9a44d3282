import './resolve-ts.cjs';
import pg from 'pg';

export default async function globalTeardown(): Promise<void> {
  const adminUrl = process.env.GATEHOUSE_TEST_ADMIN_URL;
  const run = process.env.GATEHOUSE_TEST_RUN;
  if (adminUrl && run) {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      const dbs = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`gh\\_%\\_${run}%`]);
      for (const { datname } of dbs.rows) {
        await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(datname)} WITH (FORCE)`);
      }
      await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(`gh_tpl_${run}`)} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
  await globalThis.__GATEHOUSE_TEST_DB__?.stop();
}
