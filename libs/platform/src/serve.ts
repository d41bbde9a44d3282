import type { INestApplication } from '@nestjs/common';
import { mkdir } from 'node:fs/promises';
import { ConfigError, loadConfig, type AppConfig } from '#libs/config';
import { startDatabase } from '#libs/database';
import { createDataSource, migrate } from './data-source.js';
import type { AppOptions } from './platform.module.js';

export interface ServedApp {
  name: string;
  port: (config: AppConfig) => number;
  create: (options: AppOptions) => Promise<INestApplication>;
  /** What to print once it listens. */
  banner: (config: AppConfig, port: number) => string;
}

const say = (line: string) => process.stdout.write(`${line}\n`);

/**
 * Runs one or more HTTP apps in this process: reads config, starts the database
 * (embedded unless DATABASE_URL is set), applies pending migrations, listens, and on
 * SIGINT/SIGTERM closes the HTTP servers, then the pools, then the embedded database.
 */
export async function serve(apps: ServedApp[]): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  await mkdir(config.outboxDir, { recursive: true });
  const db = await startDatabase(config.databaseUrl, config.dataDir, config.logLevel === 'debug' ? say : undefined);
  const running: INestApplication[] = [];
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    say(`${signal} received: shutting down`);
    for (const app of running.reverse()) await app.close().catch(() => undefined);
    await db.stop().catch((e: unknown) => process.stderr.write(`database stop failed: ${String(e)}\n`));
    say('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  try {
    const ds = createDataSource(db.url, { poolSize: 2, applicationName: 'gatehouse-migrate' });
    await ds.initialize();
    try {
      const applied = await migrate(ds);
      for (const name of applied) say(`applied migration ${name}`);
    } finally {
      await ds.destroy();
    }
    for (const spec of apps) {
      const port = spec.port(config);
      if (port === 0) continue;
      const app = await spec.create({ config, databaseUrl: db.url });
      running.push(app);
      await app.listen(port, config.host);
      say(spec.banner(config, port));
    }
  } catch (error) {
    process.stderr.write(`start-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
    for (const app of running) await app.close().catch(() => undefined);
    await db.stop().catch(() => undefined);
    process.exit(1);
  }
  if (!process.env.GATEHOUSE_SUPERVISED) {
    say(`database: ${db.embedded ? `embedded PostgreSQL under ${config.dataDir}/postgres` : 'DATABASE_URL'}`);
    say(`mail/SMS outbox: ${config.outboxDir}`);
  }
}
