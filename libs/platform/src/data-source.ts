import { DataSource, type DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../../migrations/index.js';
import { lockMigrations, unlockMigrations } from '#libs/database';

/**
 * The one DataSource definition, for the app, the CLI and the tests. Schema changes come
 * only from migrations: `synchronize` is never on.
 */
export function dataSourceOptions(url: string, overrides: { poolSize?: number; applicationName?: string } = {}): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    // No entities: every statement is SQL in an aggregate's queries module (docs/architecture.md).
    entities: [],
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    poolSize: overrides.poolSize ?? 10,
    applicationName: overrides.applicationName ?? 'gatehouse',
    extra: { connectionTimeoutMillis: 10_000 },
  };
}

export function createDataSource(url: string, overrides?: Parameters<typeof dataSourceOptions>[1]): DataSource {
  return new DataSource(dataSourceOptions(url, overrides));
}

/** Applies pending migrations under an advisory lock (safe with several nodes starting at once). Returns their names. */
export async function migrate(dataSource: DataSource): Promise<string[]> {
  const pool = (dataSource.options as { poolSize?: number }).poolSize ?? 10;
  if (pool < 2) throw new Error('migrate needs a pool of at least 2 connections (one holds the lock, one migrates)');
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await lockMigrations(runner);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await unlockMigrations(runner).catch(() => undefined);
    await runner.release();
  }
}
