import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, type AppConfig } from '#libs/config';
import { startDatabase } from '#libs/database';
import { createDataSource, migrate } from '#libs/platform';

/**
 * `npm start`: everything on one machine. This supervisor starts the database (embedded
 * unless DATABASE_URL is set), applies pending migrations, then runs the public IdP, the
 * support console and the sample relying app (demo portal) as separate processes, each on
 * its own port. SIGINT/SIGTERM stop the children first, then the database.
 */
const say = (line: string) => process.stdout.write(`${line}\n`);
const here = path.dirname(fileURLToPath(import.meta.url));
const distRoot = path.resolve(here, '../../..');

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
const children: ChildProcess[] = [];
let stopping = false;

async function shutdown(reason: string, code: number): Promise<never> {
  if (stopping) {
    process.stderr.write(`${reason} again: exiting now\n`);
    process.exit(1);
  }
  stopping = true;
  say(`${reason}: shutting down`);
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  await db.stop().catch((e: unknown) => process.stderr.write(`database stop failed: ${String(e)}\n`));
  say('stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown('SIGINT', 0));
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

try {
  const ds = createDataSource(db.url, { poolSize: 2, applicationName: 'gatehouse-migrate' });
  await ds.initialize();
  try {
    for (const name of await migrate(ds)) say(`applied migration ${name}`);
  } finally {
    await ds.destroy();
  }
} catch (error) {
  process.stderr.write(`start-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
  await db.stop().catch(() => undefined);
  process.exit(1);
}

const apps: Array<{ name: string; entry: string; enabled: boolean }> = [
  { name: 'idp', entry: 'apps/idp/src/main.js', enabled: config.port !== 0 },
  { name: 'admin', entry: 'apps/admin/src/main.js', enabled: config.adminPort !== 0 },
  // The sample relying app signs in through the IdP: it registers itself as a client on first start.
  { name: 'demo-portal', entry: 'apps/demo-portal/src/main.js', enabled: config.demoPort !== 0 && config.port !== 0 },
];
for (const app of apps.filter((a) => a.enabled)) {
  const child = spawn(process.execPath, [...process.execArgv, path.join(distRoot, app.entry)], {
    stdio: 'inherit',
    env: { ...process.env, DATABASE_URL: db.url, GATEHOUSE_SUPERVISED: '1' },
  });
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping) void shutdown(`${app.name} exited (${signal ?? `code ${code}`})`, 1);
  });
}
say(`database: ${db.embedded ? `embedded PostgreSQL under ${path.join(config.dataDir, 'postgres')}` : 'DATABASE_URL'}`);
say(`mail/SMS outbox: ${config.outboxDir}${config.smtpUrl ? ' (SMS and voice; mail goes to SMTP_URL)' : ''}`);
