import type { DataSource, QueryRunner } from 'typeorm';

/** Statements about the database server itself, not an aggregate: the readiness probe and the migration lock. */

/** The database answers a trivial statement (the readiness probe). */
export async function pingDatabase(dataSource: DataSource): Promise<void> {
  await dataSource.query('SELECT 1');
}

/** The session-level advisory lock migrations run under (one node migrates at a time), on this runner's connection. */
export async function lockMigrations(runner: QueryRunner): Promise<void> {
  await runner.query('SELECT pg_advisory_lock(727274)');
}

export async function unlockMigrations(runner: QueryRunner): Promise<void> {
  await runner.query('SELECT pg_advisory_unlock(727274)');
}
