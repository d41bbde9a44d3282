/**
 * Sign-in benchmark (`npm run bench:signin`); see docs/benchmarks.md.
 *
 * 1. Starts a FRESH database (a new `gh_bench_<random>` database on DATABASE_URL's server,
 *    or embedded PostgreSQL under a new DATA_DIR in bench/.work/), applies the migrations,
 *    and seeds one organization (default policy) and users whose password hashes are made
 *    with the app's own argon2id parameters (the defaults: m=19456 KiB, t=2, p=1).
 * 2. Starts a small SMTP server (smtp-server; messages parsed with postal-mime) and the IdP
 *    in this process (`createIdpApp`) on a free port, with the DEFAULT argon2 parameters,
 *    SMTP_URL pointing at that server, and its JSON log lines counted and dropped.
 * 3. Measures, each with 2 and 16 concurrent clients (fetch with keep-alive, in a worker
 *    thread: bench/signin.clients.ts):
 *    - raw: `argon2.verify` of an OWASP-parameter hash in this process, the app idle;
 *    - (a) password + remembered device: POST /api/v1/signin, then POST
 *      /api/v1/signin/{id}/credentials with the device token (from one full OTP sign-in
 *      with remember=true per user, done beforehand) -> step `done` with a session token.
 *      Raw and (a) run in alternating slices (4 × 2 s each by default), and each slice
 *      counts only what ends inside its window after a 0.75 s warm-up, so that other load
 *      on a shared machine hits both alike and ramp-up or drain do not count;
 *    - (b) OTP verification: N flows are first brought to the OTP step (password verified,
 *      code issued and delivered over SMTP, code read from the received mail); then only
 *      the POST /api/v1/signin/{id}/otp requests are timed.
 *
 * Prints rates, p50/p99 latency, the CPU each part used (server thread, argon2 threads,
 * clients thread, PostgreSQL, everything else) and the SQL the app sent per operation.
 * Never fails on a figure: it exits non-zero only when something breaks (a sign-in that
 * does not end signed in, a mail that does not arrive, a setup step that fails).
 *
 * Environment: DATABASE_URL (optional), BENCH_SECONDS (8), BENCH_OTP_FLOWS (400 per run),
 * BENCH_DEVICE_USERS (64), BENCH_CPU_PROFILE=<dir> (V8 CPU profiles of the server thread).
 */
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import argon2 from 'argon2';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import inspector from 'node:inspector/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import PostalMime from 'postal-mime';
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import type { DataSource } from 'typeorm';
import { createIdpApp } from '../apps/idp/src/app.js';
import { loadConfig, testSecrets } from '../libs/config/src/index.js';
import { foldKey } from '../libs/core/src/index.js';
import { startDatabase, type RunningDatabase } from '../libs/database/src/index.js';
import { OWASP_ARGON2, PasswordHasher, skeletonOf } from '../libs/identity/src/index.js';
import { createDataSource, migrate } from '../libs/platform/src/index.js';
import {
  BENCH_USER_AGENT,
  sharedNow,
  type ClientJob,
  type ClientMessage,
  type ClientResult,
  type DeviceUser,
  type PreparedOtp,
} from './signin.clients.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const REPO = path.resolve(here, '../..');
const WORK_ROOT = path.join(REPO, 'bench', '.work');

/** Measured seconds per time-bounded scenario (raw argon2 and (a)), in SLICES alternating slices, each after a warm-up. */
const SECONDS = positiveInt(process.env.BENCH_SECONDS, 8);
const SLICES = 4;
const WARMUP_MS = 750;
/** OTP flows prepared and verified per concurrency level in (b). */
const OTP_FLOWS = positiveInt(process.env.BENCH_OTP_FLOWS, 400);
/** Users signing in with a remembered device in (a), round-robin. */
const DEVICE_USERS = positiveInt(process.env.BENCH_DEVICE_USERS, 64);
const CONCURRENCY = [2, 16] as const;
/** When set: a directory for V8 CPU profiles of the server thread during each (a) and (b) run. */
const PROFILE_DIR = process.env.BENCH_CPU_PROFILE ? path.resolve(process.env.BENCH_CPU_PROFILE) : undefined;
/** The OTP engine allows 10 codes per hour per user and per address; (b) sends at most 4 per user (2 per run). */
const CODES_PER_USER = 4;
/** Parallel preparers (one user at a time each, so a user's codes arrive in order). */
const PREPARERS = 4;
const PASSWORD = 'Correct-Horse-Battery-42';
const TARGET = { deviceVsRaw: 0.85, otpPerSecond: 1_000 };

function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number.parseInt(raw ?? '', 10);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

// ---------------------------------------------------------------------------------------
// Mail: a minimal SMTP server that keeps the one-time codes per recipient
// ---------------------------------------------------------------------------------------

/** The first stand-alone run of exactly 6 digits. */
const extractCode = (text: string) => /(?<!\d)\d{6}(?!\d)/u.exec(text)?.[0];

class MailCatcher {
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
// Fresh database (as in bench/import.bench.ts)
// ---------------------------------------------------------------------------------------

interface BenchDatabase {
  url: string;
  mode: string;
  serverVersion: string;
  dispose(): Promise<void>;
}

async function freshDatabase(dataDir: string): Promise<BenchDatabase> {
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

// ---------------------------------------------------------------------------------------
// Seeding (the SQL of the test helpers seedOrganization / seedUser)
// ---------------------------------------------------------------------------------------

interface BenchUser {
  enterpriseId: string;
  email: string;
}

async function seedOrganization(ds: DataSource, slug: string): Promise<string> {
  const [org] = await ds.query<Array<{ id: string }>>(`INSERT INTO organizations (slug, name) VALUES ($1, $1) RETURNING id`, [slug]);
  await ds.query(`INSERT INTO organization_policies (organization_id) VALUES ($1)`, [org!.id]);
  return org!.id;
}

/** Runs `task` for every item with at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) await task(items[i]!, i);
    }),
  );
}

/** Users with an email only (so the code goes by email at once), each hash made with the app's parameters. */
async function seedUsers(ds: DataSource, organizationId: string, hasher: PasswordHasher, prefix: string, n: number): Promise<BenchUser[]> {
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
        await hasher.hash(PASSWORD),
        securityCodeHash,
      ],
    );
  });
  return users;
}

// ---------------------------------------------------------------------------------------
// Driving the API during preparation (not timed)
// ---------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

async function post(base: string, p: string, body: Json, headers: Record<string, string> = {}): Promise<{ status: number; json: Json }> {
  const response = await fetch(`${base}${p}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'User-Agent': BENCH_USER_AGENT, ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Json };
}

function unexpected(what: string, r: { status: number; json: Json }): Error {
  return new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 400)}`);
}

/** Start + credentials (no device): a flow at the OTP step with its code delivered; returns the flow and the code. */
async function flowAtOtpStep(base: string, mail: MailCatcher, user: BenchUser): Promise<PreparedOtp> {
  const seen = mail.count(user.email);
  const started = await post(base, '/api/v1/signin', {});
  if (started.status !== 201) throw unexpected('start', started);
  const flowId = started.json.flow_id as string;
  const flowToken = started.json.flow_token as string;
  const creds = await post(
    base,
    `/api/v1/signin/${flowId}/credentials`,
    { user_id: user.enterpriseId, password: PASSWORD },
    { 'X-Flow-Token': flowToken },
  );
  if (creds.status !== 200 || creds.json.step !== 'otp' || creds.json.channel !== 'email') throw unexpected('credentials', creds);
  if (creds.json.delivery === 'failed') throw unexpected('credentials (code delivery)', creds);
  return { flowId, flowToken, code: await mail.code(user.email, seen) };
}

/** One full OTP sign-in with "remember this device"; returns the device token the JSON API hands out. */
async function rememberDevice(base: string, mail: MailCatcher, user: BenchUser): Promise<DeviceUser> {
  const flow = await flowAtOtpStep(base, mail, user);
  const done = await post(
    base,
    `/api/v1/signin/${flow.flowId}/otp`,
    { code: flow.code, remember: true },
    { 'X-Flow-Token': flow.flowToken },
  );
  if (done.status !== 200 || done.json.step !== 'done' || typeof done.json.device_token !== 'string')
    throw unexpected('otp (remember)', done);
  return { userId: user.enterpriseId, password: PASSWORD, deviceToken: done.json.device_token };
}

/**
 * `n` flows at the OTP step, interleaved across users (flow k belongs to user k mod users),
 * so concurrent verifications do not pile up on one user's rows.
 */
async function prepareOtpFlows(base: string, mail: MailCatcher, users: BenchUser[], n: number): Promise<PreparedOtp[]> {
  const perUser = Math.ceil(n / users.length);
  const byUser: PreparedOtp[][] = users.map(() => []);
  await eachLimited(users, PREPARERS, async (user, u) => {
    // One user's flows one after another, so its codes arrive in order.
    for (let j = 0; j < perUser && j * users.length + u < n; j++) byUser[u]!.push(await flowAtOtpStep(base, mail, user));
  });
  const flows: PreparedOtp[] = [];
  for (let j = 0; j < perUser; j++) for (const list of byUser) if (list[j]) flows.push(list[j]!);
  return flows;
}

async function waitForOutboxToDrain(ds: DataSource, timeoutMs = 30_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const [row] = await ds.query<Array<{ n: string }>>(`SELECT count(*) AS n FROM outbox_messages WHERE status = 'pending'`);
    const pending = Number(row!.n);
    if (pending === 0 || performance.now() > deadline) return pending;
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------
// Measuring: latencies, CPU, and the SQL the app sends
// ---------------------------------------------------------------------------------------

type StatementStats = Map<string, { count: number; ms: number }>;

/**
 * Counts and times (send to answer) every statement the app's pool sends, by statement text
 * (whitespace folded, cut at 90 characters). Installed on pg's Client prototype and keyed on
 * the connection's application_name, so the bench's own connections are not counted.
 */
class StatementProfile {
  private readonly stats: StatementStats = new Map();
  total = 0;

  install(applicationName: string): () => void {
    const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = proto.query;
    const record = (key: string, ms: number) => {
      const s = this.stats.get(key) ?? { count: 0, ms: 0 };
      s.count++;
      s.ms += ms;
      this.stats.set(key, s);
      this.total++;
    };
    proto.query = function (this: { connectionParameters?: { application_name?: string } }, ...args: unknown[]): unknown {
      const t = performance.now();
      const result = original.apply(this, args);
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: unknown } | undefined)?.text;
      if (this.connectionParameters?.application_name === applicationName && typeof text === 'string' && result instanceof Promise) {
        const key = text.replace(/\s+/gu, ' ').trim().slice(0, 90);
        result.then(
          () => record(key, performance.now() - t),
          () => record(key, performance.now() - t),
        );
      }
      return result;
    };
    return () => {
      proto.query = original;
    };
  }

  snapshot(): StatementStats {
    return new Map([...this.stats].map(([k, v]) => [k, { ...v }]));
  }

  since(before: StatementStats): StatementStats {
    const diff: StatementStats = new Map();
    for (const [k, v] of this.stats) {
      const b = before.get(k) ?? { count: 0, ms: 0 };
      if (v.count > b.count) diff.set(k, { count: v.count - b.count, ms: v.ms - b.ms });
    }
    return diff;
  }
}

const TICK = 100; // USER_HZ: /proc CPU times are in 1/100 s on Linux

/** utime + stime (ticks) and parent pid of a /proc stat file. */
function procTimes(file: string): { ticks: number; ppid: number } | null {
  try {
    const stat = readFileSync(file, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ticks: Number(fields[11]) + Number(fields[12]), ppid: Number(fields[1]) };
  } catch {
    return null;
  }
}

const comm = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};

/** The local PostgreSQL server's postmaster (parent of our backend), or null when the server is not on this machine. */
async function postmasterPid(ds: DataSource): Promise<number | null> {
  const [row] = await ds.query<Array<{ pid: number }>>('SELECT pg_backend_pid() AS pid');
  const backend = row!.pid;
  const parent = procTimes(`/proc/${backend}/stat`)?.ppid;
  return parent && comm(backend).startsWith('postgres') && comm(parent).startsWith('postgres') ? parent : null;
}

/** CPU ticks of the PostgreSQL server per process: the postmaster and its children (backends, WAL writer, …). */
function postgresTicks(postmaster: number | null): Map<number, number> | null {
  if (postmaster === null) return null;
  const own = procTimes(`/proc/${postmaster}/stat`);
  if (!own) return null;
  const ticks = new Map([[postmaster, own.ticks]]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/u.test(entry)) continue;
    const t = procTimes(`/proc/${entry}/stat`);
    if (t && t.ppid === postmaster) ticks.set(Number(entry), t.ticks);
  }
  return ticks;
}

/** CPU ticks spent between two samples by the processes alive at the second (one that exited in between is missed). */
function postgresDelta(before: Map<number, number> | null, after: Map<number, number> | null): number | null {
  if (!before || !after) return null;
  let sum = 0;
  for (const [pid, ticks] of after) sum += ticks - (before.get(pid) ?? 0);
  return sum;
}

/** Busy and total jiffies of the whole machine (first line of /proc/stat; iowait counts as idle). */
function machineTicks(): { busy: number; total: number } | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/u).slice(1).map(Number);
    const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    return { busy: total - (cpu[3] ?? 0) - (cpu[4] ?? 0), total };
  } catch {
    return null;
  }
}

interface Probe {
  postmaster: number | null;
  clientThread: number | null;
  profile: StatementProfile;
}

interface Sample {
  wall: number;
  process: NodeJS.CpuUsage;
  main: number | null;
  client: number | null;
  postgres: Map<number, number> | null;
  machine: { busy: number; total: number } | null;
  elu: ReturnType<typeof performance.eventLoopUtilization>;
  statements: StatementStats;
}

/** CPU in cores (1.0 = one core busy for the whole run) and the app's SQL, over one run. */
interface Usage {
  /** The whole machine: every process, including anyone else's. */
  machine: number | null;
  /** The server's main thread: Nest, Express, TypeORM, pg, JSON, logging, crypto hashing of tokens. */
  main: number | null;
  /** The other threads of this process: the libuv pool (argon2), V8 GC and compiler threads. */
  otherThreads: number | null;
  /** The clients' worker thread. */
  client: number | null;
  /** The PostgreSQL server (every backend of it). */
  postgres: number | null;
  /** Event loop utilization of the server's main thread, 0–1. */
  elu: number;
  statements: StatementStats;
}

function sample(probe: Probe): Sample {
  return {
    wall: performance.now(),
    process: process.cpuUsage(),
    main: procTimes(`/proc/self/task/${process.pid}/stat`)?.ticks ?? null,
    client: probe.clientThread === null ? null : (procTimes(`/proc/self/task/${probe.clientThread}/stat`)?.ticks ?? null),
    postgres: postgresTicks(probe.postmaster),
    machine: machineTicks(),
    elu: performance.eventLoopUtilization(),
    statements: probe.profile.snapshot(),
  };
}

function usageSince(probe: Probe, before: Sample): Usage {
  const after = sample(probe);
  const seconds = (after.wall - before.wall) / 1000;
  const cores = (a: number | null, b: number | null) => (a !== null && b !== null ? (a - b) / TICK / seconds : null);
  const cpu = process.cpuUsage(before.process);
  const processCores = (cpu.user + cpu.system) / 1e6 / seconds;
  const main = cores(after.main, before.main);
  const client = cores(after.client, before.client);
  return {
    machine:
      before.machine && after.machine
        ? ((after.machine.busy - before.machine.busy) / Math.max(1, after.machine.total - before.machine.total)) * os.cpus().length
        : null,
    main,
    otherThreads: main === null ? null : Math.max(0, processCores - main - (client ?? 0)),
    client,
    postgres: cores(postgresDelta(before.postgres, after.postgres), 0),
    elu: performance.eventLoopUtilization(after.elu, before.elu).utilization,
    statements: probe.profile.since(before.statements),
  };
}

interface Measurement {
  scenario: 'raw' | 'device' | 'otp';
  concurrency: number;
  completed: number;
  failed: number;
  elapsedMs: number;
  latenciesMs: number[];
  errors: string[];
  usage: Usage;
}

/**
 * Samples usage at the start and the end of a window (sharedNow() times), for a load that
 * runs from before the start to after the end.
 */
function usageOverWindow(probe: Probe, windowStart: number, windowEnd: number): Promise<Usage> {
  return (async () => {
    await sleep(Math.max(0, windowStart - sharedNow()));
    const before = sample(probe);
    await sleep(Math.max(0, windowEnd - sharedNow()));
    return usageSince(probe, before);
  })();
}

/** A window that opens after the warm-up. */
function nextWindow(): { windowStart: number; windowEnd: number } {
  const windowStart = sharedNow() + WARMUP_MS;
  return { windowStart, windowEnd: windowStart + (SECONDS * 1000) / SLICES };
}

/** argon2.verify of one OWASP-parameter hash, `concurrency` at a time, in this process (the app idle); one window. */
async function measureArgon2(probe: Probe, hash: string, concurrency: number): Promise<Measurement> {
  const latenciesMs: number[] = [];
  let failed = 0;
  const { windowStart, windowEnd } = nextWindow();
  const usage = usageOverWindow(probe, windowStart, windowEnd);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sharedNow() < windowEnd) {
        const t = sharedNow();
        const ok = await argon2.verify(hash, PASSWORD);
        const end = sharedNow();
        if (!ok) failed++;
        else if (end >= windowStart && end <= windowEnd) latenciesMs.push(end - t);
      }
    }),
  );
  const errors = failed ? ['argon2.verify returned false'] : [];
  return {
    scenario: 'raw',
    concurrency,
    completed: latenciesMs.length,
    failed,
    elapsedMs: windowEnd - windowStart,
    latenciesMs,
    errors,
    usage: await usage,
  };
}

/** One measurement out of several slices of the same scenario: counts and windows add up, usage is time-weighted. */
function merge(slices: Measurement[]): Measurement {
  const elapsedMs = slices.reduce((a, m) => a + m.elapsedMs, 0);
  const weighted = (pick: (u: Usage) => number | null) =>
    slices.some((m) => pick(m.usage) === null) ? null : slices.reduce((a, m) => a + pick(m.usage)! * m.elapsedMs, 0) / elapsedMs;
  const statements: StatementStats = new Map();
  for (const m of slices) {
    for (const [k, v] of m.usage.statements) {
      const s = statements.get(k) ?? { count: 0, ms: 0 };
      statements.set(k, { count: s.count + v.count, ms: s.ms + v.ms });
    }
  }
  const first = slices[0]!;
  return {
    scenario: first.scenario,
    concurrency: first.concurrency,
    completed: slices.reduce((a, m) => a + m.completed, 0),
    failed: slices.reduce((a, m) => a + m.failed, 0),
    elapsedMs,
    latenciesMs: slices.flatMap((m) => m.latenciesMs),
    errors: slices.flatMap((m) => m.errors).slice(0, 5),
    usage: {
      machine: weighted((u) => u.machine),
      main: weighted((u) => u.main),
      otherThreads: weighted((u) => u.otherThreads),
      client: weighted((u) => u.client),
      postgres: weighted((u) => u.postgres),
      elu: weighted((u) => u.elu)!,
      statements,
    },
  };
}

/** The clients' worker thread (bench/signin.clients.ts), started once, one job per scenario. */
class ClientThread {
  private constructor(
    private readonly worker: Worker,
    readonly threadId: number | null,
  ) {}

  static async start(): Promise<ClientThread> {
    const worker = new Worker(new URL('./signin.clients.js', import.meta.url), { name: 'bench-clients' });
    const ready = await new Promise<ClientMessage>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    return new ClientThread(worker, ready.type === 'ready' ? ready.threadId : null);
  }

  async run(job: ClientJob): Promise<ClientResult> {
    return await new Promise<ClientResult>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.worker.once('error', onError);
      this.worker.once('message', (message: ClientMessage) => {
        this.worker.off('error', onError);
        if (message.type === 'result') resolve(message.result);
        else reject(new Error(message.type === 'error' ? message.message : 'unexpected message from the client thread'));
      });
      this.worker.postMessage(job);
    });
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

/** V8 CPU profile of this (the server's) thread, for BENCH_CPU_PROFILE. */
async function startProfiler(): Promise<{ stop(file: string): Promise<void> }> {
  const session = new inspector.Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, JSON.stringify(profile));
      console.log(`    cpu profile: ${path.relative(process.cwd(), file)}`);
    },
  };
}

/** Device sign-ins: one window. */
async function measureDeviceSignIns(probe: Probe, clients: ClientThread, base: string, concurrency: number, users: DeviceUser[]) {
  const window = nextWindow();
  const usage = usageOverWindow(probe, window.windowStart, window.windowEnd);
  const result = await clients.run({ kind: 'device-signin', base, concurrency, ...window, users });
  return measurement('device', concurrency, result, await usage);
}

/** OTP verifications: every prepared flow, timed from the first request to the last answer. */
async function measureOtpVerifications(probe: Probe, clients: ClientThread, base: string, concurrency: number, flows: PreparedOtp[]) {
  const before = sample(probe);
  const result = await clients.run({ kind: 'otp-verify', base, concurrency, flows });
  return measurement('otp', concurrency, result, usageSince(probe, before));
}

function measurement(scenario: 'device' | 'otp', concurrency: number, result: ClientResult, usage: Usage): Measurement {
  return {
    scenario,
    concurrency,
    completed: result.completed,
    failed: result.failed,
    elapsedMs: result.elapsedMs,
    latenciesMs: result.latenciesMs,
    errors: result.errors,
    usage,
  };
}

/** Runs `work` under a V8 CPU profile of this (the server's) thread when BENCH_CPU_PROFILE is set. */
async function profiled<T>(name: string, work: () => Promise<T>): Promise<T> {
  if (!PROFILE_DIR) return await work();
  const profiler = await startProfiler();
  try {
    return await work();
  } finally {
    await profiler.stop(path.join(PROFILE_DIR, `${name}.cpuprofile`));
  }
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
const ms = (n: number) => `${fmt(n, n < 10 ? 2 : 1)} ms`;
const coresOf = (n: number | null) => (n === null ? 'n/a' : fmt(n, 2));
const rate = (m: Measurement) => m.completed / (m.elapsedMs / 1000);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const LABEL = { raw: 'raw argon2id verify', device: '(a) password + remembered device', otp: '(b) OTP verification' } as const;

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

function targetNote(m: Measurement, all: Measurement[]): string {
  if (m.scenario === 'raw') return '';
  if (m.scenario === 'otp') return `>= ${fmt(TARGET.otpPerSecond)}/s: ${rate(m) >= TARGET.otpPerSecond ? 'met' : 'MISSED'}`;
  const raw = all.find((r) => r.scenario === 'raw' && r.concurrency === m.concurrency);
  if (!raw) return '';
  const share = rate(m) / rate(raw);
  return `${fmt(share * 100, 1)}% of raw (>= ${TARGET.deviceVsRaw * 100}%): ${share >= TARGET.deviceVsRaw ? 'met' : 'MISSED'}`;
}

/** Cores used by everything else on the machine (other processes, the kernel) during a run. */
function othersOf(u: Usage): number | null {
  const ours = [u.main, u.otherThreads, u.client, u.postgres];
  if (u.machine === null || ours.some((c) => c === null)) return null;
  return Math.max(0, u.machine - ours.reduce((a, b) => a! + b!, 0)!);
}

function printReport(all: Measurement[]): void {
  console.log('\nResults');
  console.log(
    table(
      ['Scenario', 'Clients', 'Done', 'Time', 'Per second', 'p50', 'p99', 'Target'],
      all.map((m) => {
        const sorted = [...m.latenciesMs].sort((a, b) => a - b);
        return [
          LABEL[m.scenario],
          String(m.concurrency),
          fmt(m.completed),
          `${fmt(m.elapsedMs / 1000, 2)} s`,
          fmt(rate(m), 1),
          ms(percentile(sorted, 50)),
          ms(percentile(sorted, 99)),
          targetNote(m, all),
        ];
      }),
    ),
  );
  console.log(
    '\nCPU during each run, in cores (2 = both vCPUs busy). ELU: event loop utilization of the server thread. ' +
      'Others: the rest of the machine (other processes, kernel); more than ~0.1 means the run was disturbed. ' +
      'SQL/op: statements the app sent per operation; SQL ms/op: their summed time from send to answer.',
  );
  console.log(
    table(
      [
        'Scenario',
        'Clients',
        'Machine',
        'Server thread',
        'ELU',
        'argon2 pool + GC',
        'Clients thread',
        'PostgreSQL',
        'Others',
        'SQL/op',
        'SQL ms/op',
      ],
      all.map((m) => {
        const u = m.usage;
        const statements = [...u.statements.values()].reduce((a, s) => a + s.count, 0);
        const sqlMs = [...u.statements.values()].reduce((a, s) => a + s.ms, 0);
        const others = othersOf(u);
        return [
          LABEL[m.scenario],
          String(m.concurrency),
          coresOf(u.machine),
          coresOf(u.main),
          fmt(u.elu, 2),
          coresOf(u.otherThreads),
          coresOf(u.client),
          coresOf(u.postgres),
          coresOf(others),
          m.scenario === 'raw' ? '' : fmt(statements / Math.max(1, m.completed), 1),
          m.scenario === 'raw' ? '' : fmt(sqlMs / Math.max(1, m.completed), 1),
        ];
      }),
    ),
  );
  for (const m of all) {
    if (m.scenario === 'raw' || m.concurrency !== CONCURRENCY[CONCURRENCY.length - 1]) continue;
    const rows = [...m.usage.statements]
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([sql, s]) => [sql, fmt(s.count / Math.max(1, m.completed), 2), ms(s.ms / s.count)]);
    console.log(`\nSQL per operation, ${LABEL[m.scenario]}, ${m.concurrency} clients (mean time from send to answer, pool wait excluded)`);
    console.log(table(['Statement', 'Per op', 'Mean'], rows));
  }
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

const cleanups: Array<() => Promise<void>> = [];
let cleaning: Promise<void> | undefined;

/** Runs the registered clean-ups once, newest first, reporting (not throwing) failures. */
async function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) {
      await step().catch((error: unknown) => console.error(`clean-up: ${error instanceof Error ? error.message : String(error)}`));
    }
  })();
  await cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}

const seconds = (since: number) => `${fmt((performance.now() - since) / 1000, 1)} s`;

async function main(): Promise<void> {
  const runId = `${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`;
  const workDir = path.join(WORK_ROOT, runId);
  await mkdir(workDir, { recursive: true });
  cleanups.push(async () => {
    await rm(workDir, { recursive: true, force: true });
    await rmdir(WORK_ROOT).catch(() => undefined); // only when empty
  });
  const dataDir = path.join(workDir, 'data');
  const otpUsers = Math.ceil((OTP_FLOWS * CONCURRENCY.length) / CODES_PER_USER);

  console.log('Sign-in benchmark');
  console.log(`  machine:   ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model ?? ''}, ${fmt(os.totalmem() / 2 ** 30, 1)} GiB RAM`);
  console.log(`  node:      ${process.version}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);
  console.log(
    `  load avg:  ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `  plan:      raw argon2 and (a) ${SECONDS} s each; (b) ${fmt(OTP_FLOWS)} prepared flows per run; clients ${CONCURRENCY.join(' and ')}; ` +
      `${DEVICE_USERS} device users, ${otpUsers} OTP users`,
  );

  // 1. Clients thread (starts while the database comes up), database, mail.
  let t = performance.now();
  const clientsStarting = ClientThread.start();
  const db = await freshDatabase(dataDir);
  cleanups.push(async () => await db.dispose());
  const ds = createDataSource(db.url, { poolSize: 4, applicationName: 'gatehouse-bench' });
  await ds.initialize();
  cleanups.push(async () => {
    if (ds.isInitialized) await ds.destroy();
  });
  const applied = await migrate(ds);
  const mail = await MailCatcher.start();
  cleanups.push(async () => await mail.stop());
  const clients = await clientsStarting;
  cleanups.push(async () => await clients.stop());
  console.log(`  database:  ${db.mode}`);
  console.log(`  postgres:  ${db.serverVersion}; ${applied.length} migration(s) applied (${seconds(t)})`);

  // 2. The IdP with the default argon2 parameters, mail to our SMTP server, log lines counted and dropped.
  //    The environment given to loadConfig is explicit: nothing from the shell's (ARGON2_*, LOG_LEVEL, …) applies.
  const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir, DATABASE_URL: db.url, SMTP_URL: mail.url, LOG_LEVEL: 'info' });
  const a2 = config.argon2;
  if (a2.memoryKiB !== OWASP_ARGON2.memoryKiB || a2.timeCost !== OWASP_ARGON2.timeCost || a2.parallelism !== OWASP_ARGON2.parallelism) {
    // loadConfig gets no ARGON2_* here, so these are the app's defaults; raw and (a) must use the same parameters.
    throw new Error(`the app's default argon2 parameters ${JSON.stringify(a2)} are no longer OWASP_ARGON2: update the benchmark`);
  }
  let logLines = 0;
  const logStream = new Writable({
    write(_chunk, _encoding, done) {
      logLines++;
      done();
    },
  });
  const profile = new StatementProfile();
  const uninstall = profile.install('gatehouse-idp');
  cleanups.push(async () => uninstall());
  const app: INestApplication = await createIdpApp({ config, databaseUrl: db.url, secrets: testSecrets('bench'), logStream });
  cleanups.push(async () => await app.close());
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}`;
  console.log(
    `  idp:       ${base}, argon2id m=${a2.memoryKiB} KiB t=${a2.timeCost} p=${a2.parallelism}, log level ${config.logLevel} (lines dropped)`,
  );

  // 3. Organization and users, hashed with the app's parameters.
  t = performance.now();
  const hasher = new PasswordHasher(config.argon2);
  const organizationId = await seedOrganization(ds, 'bench');
  const deviceUsers = await seedUsers(ds, organizationId, hasher, 'dev', DEVICE_USERS);
  const codeUsers = await seedUsers(ds, organizationId, hasher, 'otp', otpUsers);
  console.log(`  users:     ${fmt(deviceUsers.length + codeUsers.length)} seeded (${seconds(t)})`);

  // 4. A remembered device per (a) user: one full OTP sign-in with remember=true each.
  t = performance.now();
  const devices: DeviceUser[] = [];
  await eachLimited(deviceUsers, PREPARERS, async (user, i) => {
    devices[i] = await rememberDevice(base, mail, user);
  });
  const pending = await waitForOutboxToDrain(ds);
  await ds.query('ANALYZE');
  console.log(
    `  devices:   ${devices.length} remembered (full OTP sign-ins), ${mail.received} mails received, ${pending} still pending (${seconds(t)})`,
  );

  const postmaster = await postmasterPid(ds);
  const probe: Probe = { postmaster, clientThread: clients.threadId, profile };
  const rawHash = await argon2.hash(PASSWORD, {
    type: argon2.argon2id,
    memoryCost: OWASP_ARGON2.memoryKiB,
    timeCost: OWASP_ARGON2.timeCost,
    parallelism: OWASP_ARGON2.parallelism,
  });

  const all: Measurement[] = [];
  const show = (m: Measurement) => {
    const sorted = [...m.latenciesMs].sort((x, y) => x - y);
    console.log(
      `  ${LABEL[m.scenario].padEnd(33)} ${String(m.concurrency).padStart(2)} clients: ${fmt(m.completed).padStart(6)} in ${fmt(m.elapsedMs / 1000, 2)} s = ` +
        `${fmt(rate(m), 1)}/s, p50 ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}` +
        (m.failed ? `, ${m.failed} FAILED: ${m.errors.join(' | ')}` : ''),
    );
    all.push(m);
  };

  // 5. Raw argon2 and (a) in alternating slices, so that other load on the machine hits both alike.
  console.log('\nmeasuring');
  for (const concurrency of CONCURRENCY) {
    const raw: Measurement[] = [];
    const device: Measurement[] = [];
    for (let slice = 0; slice < SLICES; slice++) {
      raw.push(await measureArgon2(probe, rawHash, concurrency));
      device.push(
        await profiled(`device-${concurrency}-${slice + 1}`, () => measureDeviceSignIns(probe, clients, base, concurrency, devices)),
      );
    }
    show(merge(raw));
    show(merge(device));
  }

  // 6. (b): prepare the flows (not timed), let the outbox settle, then time the verifications only.
  for (const concurrency of CONCURRENCY) {
    t = performance.now();
    const flows = await prepareOtpFlows(base, mail, codeUsers, OTP_FLOWS);
    const left = await waitForOutboxToDrain(ds);
    console.log(
      `  (prepared ${fmt(flows.length)} flows at the OTP step in ${seconds(t)}${left ? `, ${left} messages still pending` : ''})`,
    );
    show(await profiled(`otp-${concurrency}`, () => measureOtpVerifications(probe, clients, base, concurrency, flows)));
  }

  printReport(all);
  const disturbed = Math.max(0, ...all.map((m) => othersOf(m.usage) ?? 0));
  if (disturbed > 0.15) {
    console.log(
      `\n  WARNING: other processes used up to ${fmt(disturbed, 2)} cores during a run; the figures are lower than on a quiet machine.`,
    );
  }
  console.log(`\n  ${fmt(logLines)} log lines written by the app (dropped); ${fmt(mail.received)} mails received`);
  if (postmaster === null) console.log('  PostgreSQL CPU: n/a (the server is not a local process)');
  else if (process.env.DATABASE_URL) console.log('  PostgreSQL CPU: every backend of that server, not only the bench database');

  const broken = all.filter((m) => m.failed > 0);
  if (broken.length > 0) {
    console.error(
      `\nsome operations failed:\n  - ${broken.map((m) => `${LABEL[m.scenario]} (${m.concurrency}): ${m.errors.join(' | ')}`).join('\n  - ')}`,
    );
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (error) {
  console.error(`\nbenchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
