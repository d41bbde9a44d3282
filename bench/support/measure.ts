/**
 * Where a benchmark's time goes: CPU per thread and process from /proc, the event loop
 * utilization of the server's thread, the SQL the app's pool sends, V8 CPU profiles, and
 * the clients' worker thread. Shared by bench/signin.bench.ts and bench/oidc.bench.ts.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import inspector from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { coresOf, fmt } from './harness.js';
import { sharedNow, type ClientMessage } from './worker.js';

export type StatementStats = Map<string, { count: number; ms: number }>;

/**
 * Counts and times (send to answer) every statement the app's pool sends, by statement text
 * (whitespace folded, cut at 90 characters). Installed on pg's Client prototype and keyed on
 * the connection's application_name, so the bench's own connections are not counted.
 */
export class StatementProfile {
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
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: unknown } | undefined)?.text;
      const counted = this.connectionParameters?.application_name === applicationName && typeof text === 'string';
      const key = counted ? text.replace(/\s+/gu, ' ').trim().slice(0, 90) : '';
      // pg.Pool#query (the app's prepared statements) passes a callback; TypeORM uses the promise.
      const last = args.length - 1;
      if (counted && typeof args[last] === 'function') {
        const callback = args[last] as (...a: unknown[]) => unknown;
        args[last] = (...a: unknown[]) => {
          record(key, performance.now() - t);
          return callback(...a);
        };
      }
      const result = original.apply(this, args);
      if (counted && result instanceof Promise) {
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
export async function postmasterPid(ds: DataSource): Promise<number | null> {
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

export interface Probe {
  postmaster: number | null;
  clientThread: number | null;
  profile: StatementProfile;
}

export interface Sample {
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
export interface Usage {
  /** The whole machine: every process, including anyone else's. */
  machine: number | null;
  /** The server's main thread: Nest, Express, TypeORM, pg, JSON, logging, crypto. */
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

export function sample(probe: Probe): Sample {
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

export function usageSince(probe: Probe, before: Sample): Usage {
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

/**
 * Samples usage at the start and the end of a window (sharedNow() times), for a load that
 * runs from before the start to after the end.
 */
export function usageOverWindow(probe: Probe, windowStart: number, windowEnd: number): Promise<Usage> {
  return (async () => {
    await sleep(Math.max(0, windowStart - sharedNow()));
    const before = sample(probe);
    await sleep(Math.max(0, windowEnd - sharedNow()));
    return usageSince(probe, before);
  })();
}

/** A measurement window (sharedNow() times) that opens after `warmupMs` from now and lasts `lengthMs`. */
export function windowAfter(warmupMs: number, lengthMs: number): { windowStart: number; windowEnd: number } {
  const windowStart = sharedNow() + warmupMs;
  return { windowStart, windowEnd: windowStart + lengthMs };
}

/** One run of one scenario: what the clients counted and what the machine did meanwhile. */
export interface Measured {
  concurrency: number;
  completed: number;
  failed: number;
  elapsedMs: number;
  latenciesMs: number[];
  errors: string[];
  usage: Usage;
}

/** One measurement out of several slices of the same scenario: counts and windows add up, usage is time-weighted. */
export function merge<M extends Measured>(slices: M[]): M {
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
  return {
    ...slices[0]!,
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

/** Cores used by everything else on the machine (other processes, the kernel) during a run. */
export function othersOf(u: Usage): number | null {
  const ours = [u.main, u.otherThreads, u.client, u.postgres];
  if (u.machine === null || ours.some((c) => c === null)) return null;
  return Math.max(0, u.machine - ours.reduce((a, b) => a! + b!, 0)!);
}

/** Machine, server thread, ELU, other threads, clients thread, PostgreSQL and others, formatted for a report row. */
export function usageCells(u: Usage): string[] {
  return [
    coresOf(u.machine),
    coresOf(u.main),
    fmt(u.elu, 2),
    coresOf(u.otherThreads),
    coresOf(u.client),
    coresOf(u.postgres),
    coresOf(othersOf(u)),
  ];
}

/** Statements and their summed time (send to answer) per completed operation. */
export function sqlPerOp(m: Measured): { statements: number; ms: number } {
  const all = [...m.usage.statements.values()];
  const per = Math.max(1, m.completed);
  return { statements: all.reduce((a, s) => a + s.count, 0) / per, ms: all.reduce((a, s) => a + s.ms, 0) / per };
}

/** A benchmark's clients in a worker thread (a bench/*.clients.js module that calls serveJobs), started once, one job at a time. */
export class ClientThread<J, R> {
  private constructor(
    private readonly worker: Worker,
    readonly threadId: number | null,
  ) {}

  static async start<J, R>(module: URL): Promise<ClientThread<J, R>> {
    const worker = new Worker(module, { name: 'bench-clients' });
    const ready = await new Promise<ClientMessage<R>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    return new ClientThread<J, R>(worker, ready.type === 'ready' ? ready.threadId : null);
  }

  async run(job: J): Promise<R> {
    return await new Promise<R>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.worker.once('error', onError);
      this.worker.once('message', (message: ClientMessage<R>) => {
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

/** V8 CPU profile of this (the server's) thread. */
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

/** Runs `work` under a V8 CPU profile of this (the server's) thread, saved as `<dir>/<name>.cpuprofile`, when `dir` is set. */
export async function profiled<T>(dir: string | undefined, name: string, work: () => Promise<T>): Promise<T> {
  if (!dir) return await work();
  const profiler = await startProfiler();
  try {
    return await work();
  } finally {
    await profiler.stop(path.join(dir, `${name}.cpuprofile`));
  }
}
