/**
 * What benchmarks set up and print: a fresh database, seeded users, an SMTP server that
 * keeps the one-time codes, clean-up on exit and Ctrl-C, and number formatting. Shared by
 * bench/signin.bench.ts and bench/oidc.bench.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import PostalMime from 'postal-mime';
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import type { DataSource } from 'typeorm';
import { foldKey } from '#libs/core';
import { startDatabase, type RunningDatabase } from '#libs/database';
import { skeletonOf, type PasswordHasher } from '#libs/identity';
import { createDataSource, migrate } from '#libs/platform';

/** The repository (this file runs from dist/bench/support). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Work directories of benchmark runs (git-ignored), removed at the end of each run. */
export const WORK_ROOT = path.join(REPO, 'bench', '.work');

export function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number.parseInt(raw ?? '', 10);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** Runs `task` for every item with at most `limit` at a time. */
export async function eachLimited<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) await task(items[i]!, i);
    }),
  );
}

// ---------------------------------------------------------------------------------------
// Mail: a minimal SMTP server that keeps the one-time codes per recipient
// ---------------------------------------------------------------------------------------

/** The first stand-alone run of exactly 6 digits. */
const extractCode = (text: string) => /(?<!\d)\d{6}(?!\d)/u.exec(text)?.[0];

export class MailCatcher {
  /** Codes per recipient address (lower-cased), in arrival order. */
  private readonly codes = new Map<string, string[]>();
  private readonly waiters = new Set<() => void>();
  private readonly server: SMTPServer;
  private port = 0;
  received = 0;

  private constructor() {
    this.server = new SMTPServer({
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      banner: 'Gatehouse bench SMTP',
      onData: (stream, session, callback) => {
        const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        this.receive(stream, to, callback);
      },
    });
    this.server.on('error', () => undefined);
  }

  /** Listens on a free port of 127.0.0.1. */
  static async start(): Promise<MailCatcher> {
    const catcher = new MailCatcher();
    const server = catcher.server;
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    catcher.port = (server.server.address() as AddressInfo).port;
    return catcher;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** How many codes arrived for this address so far. */
  count(address: string): number {
    return this.codes.get(address.toLowerCase())?.length ?? 0;
  }

  /** The `index`-th code (0-based) sent to this address, waiting for it to arrive. */
  async code(address: string, index: number, timeoutMs = 15_000): Promise<string> {
    const key = address.toLowerCase();
    const found = () => this.codes.get(key)?.[index];
    const now = found();
    if (now) return now;
    return await new Promise<string>((resolve, reject) => {
      const check = () => {
        const code = found();
        if (code) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(code);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no code #${index + 1} for ${address} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  async stop(): Promise<void> {
    for (const connection of this.server.connections) connection.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private receive(stream: SMTPServerDataStream, to: string[], callback: (err?: Error | null) => void): void {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (error: Error) => callback(error));
    stream.on('end', () => {
      PostalMime.parse(Buffer.concat(chunks)).then(
        (parsed) => {
          this.received++;
          // Codes are in the subject and the text; notices (new remembered device) have none.
          const code = extractCode(parsed.subject ?? '') ?? extractCode(parsed.text ?? '');
          if (code) {
            for (const address of to) this.codes.set(address, [...(this.codes.get(address) ?? []), code]);
          }
          callback(null);
          for (const waiter of [...this.waiters]) waiter();
        },
        (error: unknown) => callback(error instanceof Error ? error : new Error('unparseable message')),
      );
    });
  }
}

// ---------------------------------------------------------------------------------------
// Fresh database
// ---------------------------------------------------------------------------------------

export interface BenchDatabase {
  url: string;
  mode: string;
  serverVersion: string;
  dispose(): Promise<void>;
}

/**
 * A new `gh_bench_<random>` database on DATABASE_URL's server (dropped by dispose()), or
 * embedded PostgreSQL under `dataDir` (stopped by dispose()).
 */
export async function freshDatabase(dataDir: string): Promise<BenchDatabase> {
  const external = process.env.DATABASE_URL?.trim();
  if (external) {
    const server = await startDatabase(external, dataDir);
    const name = `gh_bench_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    let serverVersion: string;
    try {
      serverVersion = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
    } finally {
      await admin.end();
    }
    const url = new URL(external);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      mode: `DATABASE_URL server ${url.host}, fresh database ${name}`,
      serverVersion,
      async dispose() {
        const c = new pg.Client({ connectionString: server.adminUrl });
        await c.connect();
        try {
          await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
        } finally {
          await c.end();
        }
        await server.stop();
      },
    };
  }
  let server: RunningDatabase | undefined;
  try {
    server = await startDatabase(undefined, dataDir);
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    let serverVersion: string;
    try {
      serverVersion = (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
    } finally {
      await c.end();
    }
    const running = server;
    return {
      url: server.url,
      mode: `embedded PostgreSQL under ${path.relative(REPO, dataDir)}/postgres`,
      serverVersion,
      dispose: async () => await running.stop(),
    };
  } catch (error) {
    await server?.stop().catch(() => undefined);
    throw error;
  }
}

/** A fresh database with the migrations applied, and the bench's own DataSource on it; both go at clean-up. */
export async function migratedDatabase(
  dataDir: string,
  poolSize: number,
): Promise<{ db: BenchDatabase; ds: DataSource; applied: string[] }> {
  const db = await freshDatabase(dataDir);
  onCleanUp(async () => await db.dispose());
  const ds = createDataSource(db.url, { poolSize, applicationName: 'gatehouse-bench' });
  await ds.initialize();
  onCleanUp(async () => {
    if (ds.isInitialized) await ds.destroy();
  });
  return { db, ds, applied: await migrate(ds) };
}

// ---------------------------------------------------------------------------------------
// Seeding (the SQL of the test helpers seedOrganization / seedUser)
// ---------------------------------------------------------------------------------------

export interface BenchUser {
  enterpriseId: string;
  email: string;
}

export async function seedOrganization(ds: DataSource, slug: string): Promise<string> {
  const [org] = await ds.query<Array<{ id: string }>>(`INSERT INTO organizations (slug, name) VALUES ($1, $1) RETURNING id`, [slug]);
  await ds.query(`INSERT INTO organization_policies (organization_id) VALUES ($1)`, [org!.id]);
  return org!.id;
}

/** Users with an email only (so the code goes by email at once), each hash made with the app's parameters. */
export async function seedUsers(
  ds: DataSource,
  organizationId: string,
  hasher: PasswordHasher,
  password: string,
  prefix: string,
  n: number,
): Promise<BenchUser[]> {
  const users = Array.from({ length: n }, (_, i) => {
    const enterpriseId = `bench.${prefix}.${String(i + 1).padStart(4, '0')}`;
    return { enterpriseId, email: `${enterpriseId}@bench.example.com` };
  });
  const securityCodeHash = await hasher.hash('27182818');
  // Hashing is the slow part; the libuv thread pool runs 4 at a time.
  await eachLimited(users, 4, async (u) => {
    await ds.query(
      `INSERT INTO users (organization_id, enterprise_id, enterprise_id_key, enterprise_id_skeleton, first_name, last_name, email, email_key,
                          email_verified_at, mobile, mobile_verified_at, password_hash, security_code_hash, status)
       VALUES ($1, $2, $3, $4, 'Grace', 'Hopper', $5, $6, now(), NULL, NULL, $7, $8, 'active')`,
      [
        organizationId,
        u.enterpriseId,
        foldKey(u.enterpriseId),
        skeletonOf(u.enterpriseId),
        u.email,
        u.email.toLowerCase(),
        await hasher.hash(password),
        securityCodeHash,
      ],
    );
  });
  return users;
}

// ---------------------------------------------------------------------------------------
// Clean-up, once, also on Ctrl-C / SIGTERM
// ---------------------------------------------------------------------------------------

const cleanups: Array<() => Promise<void>> = [];
let cleaning: Promise<void> | undefined;

/** Registers a clean-up step; they run newest first. */
export function onCleanUp(step: () => Promise<void>): void {
  cleanups.push(step);
}

/** Runs the registered clean-ups once, newest first, reporting (not throwing) failures. */
export async function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) {
      await step().catch((error: unknown) => console.error(`clean-up: ${error instanceof Error ? error.message : String(error)}`));
    }
  })();
  await cleaning;
}

/**
 * Runs a benchmark's main: clean-up at the end and on SIGINT/SIGTERM (after `onSignal`);
 * exit code 1 if it throws (never because of a figure).
 */
export async function runBenchmark(main: () => Promise<void>, onSignal: () => void = () => undefined): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: cleaning up`);
      onSignal();
      void cleanUp().finally(() => process.exit(130));
    });
  }
  try {
    await main();
  } catch (error) {
    console.error(`\nbenchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  } finally {
    await cleanUp();
  }
}

/** This run's directory under bench/.work (removed at clean-up, with bench/.work when empty), and a DATA_DIR in it. */
export async function workDirectory(): Promise<{ workDir: string; dataDir: string }> {
  const workDir = path.join(WORK_ROOT, `${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`);
  await mkdir(workDir, { recursive: true });
  onCleanUp(async () => {
    await rm(workDir, { recursive: true, force: true });
    await rmdir(WORK_ROOT).catch(() => undefined); // only when empty
  });
  return { workDir, dataDir: path.join(workDir, 'data') };
}

/** A log destination for the app that counts its lines and drops them (pino still formats each). */
export function countingLogStream(): { stream: Writable; lines(): number } {
  let lines = 0;
  const stream = new Writable({
    write(_chunk, _encoding, done) {
      lines++;
      done();
    },
  });
  return { stream, lines: () => lines };
}

// ---------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
export const ms = (n: number) => `${fmt(n, n < 10 ? 2 : 1)} ms`;
export const coresOf = (n: number | null) => (n === null ? 'n/a' : fmt(n, 2));
/** Time since a performance.now() reading, for progress lines. */
export const seconds = (since: number) => `${fmt((performance.now() - since) / 1000, 1)} s`;

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A report's first lines: its title, the machine, Node (with `nodeNote`) and the load average. */
export function printHeader(title: string, nodeNote = ''): void {
  console.log(title);
  console.log(`  machine:   ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model ?? ''}, ${fmt(os.totalmem() / 2 ** 30, 1)} GiB RAM`);
  console.log(`  node:      ${process.version}${nodeNote}`);
  console.log(
    `  load avg:  ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

/** A Markdown table; the first two columns left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}
