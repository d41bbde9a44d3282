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
 *    - (a) password + remembered device: the one-request sign-in, POST /api/v1/signin with
 *      {user_id, password, device_token} (the token from one full OTP sign-in with
 *      remember=true per user, done beforehand) -> step `done` with a session token; and the
 *      same through the two-step API (POST /api/v1/signin, then POST
 *      /api/v1/signin/{id}/credentials), counted per sign-in (both requests).
 *      Raw and both (a) run in alternating slices (4 × 2 s each by default), and each slice
 *      counts only what ends inside its window after a 0.75 s warm-up, so that other load
 *      on a shared machine hits them alike and ramp-up or drain do not count;
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
import argon2 from 'argon2';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { loadConfig } from '#libs/config';
import { OWASP_ARGON2, PasswordHasher } from '#libs/identity';
import {
  MailCatcher,
  eachLimited,
  fmt,
  migratedDatabase,
  ms,
  onCleanUp,
  percentile,
  positiveInt,
  printHeader,
  runBenchmark,
  seconds,
  seedOrganization,
  seedUsers,
  table,
  workDirectory,
  type BenchUser,
} from './support/harness.js';
import {
  ClientThread,
  merge,
  othersOf,
  postmasterPid,
  profiled,
  sample,
  sqlPerOp,
  usageCells,
  usageOverWindow,
  usageSince,
  windowAfter,
  type Measured,
  type Probe,
  type Usage,
} from './support/measure.js';
import { startIdp } from './support/idp.js';
import { sharedNow } from './support/worker.js';
import {
  BENCH_USER_AGENT,
  type ClientJob,
  type ClientResult,
  type DeviceApi,
  type DeviceUser,
  type PreparedOtp,
} from './signin.clients.js';

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

type Clients = ClientThread<ClientJob, ClientResult>;

interface Measurement extends Measured {
  scenario: 'raw' | 'device' | 'device_two_step' | 'otp';
}

/** A window that opens after the warm-up. */
const nextWindow = () => windowAfter(WARMUP_MS, (SECONDS * 1000) / SLICES);

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

/** Device sign-ins: one window. */
async function measureDeviceSignIns(
  probe: Probe,
  clients: Clients,
  base: string,
  concurrency: number,
  users: DeviceUser[],
  api: DeviceApi,
) {
  const window = nextWindow();
  const usage = usageOverWindow(probe, window.windowStart, window.windowEnd);
  const result = await clients.run({ kind: 'device-signin', api, base, concurrency, ...window, users });
  return measurement(api === 'one-request' ? 'device' : 'device_two_step', concurrency, result, await usage);
}

/** OTP verifications: every prepared flow, timed from the first request to the last answer. */
async function measureOtpVerifications(probe: Probe, clients: Clients, base: string, concurrency: number, flows: PreparedOtp[]) {
  const before = sample(probe);
  const result = await clients.run({ kind: 'otp-verify', base, concurrency, flows });
  return measurement('otp', concurrency, result, usageSince(probe, before));
}

function measurement(
  scenario: Exclude<Measurement['scenario'], 'raw'>,
  concurrency: number,
  result: ClientResult,
  usage: Usage,
): Measurement {
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

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

const rate = (m: Measurement) => m.completed / (m.elapsedMs / 1000);

const LABEL = {
  raw: 'raw argon2id verify',
  device: '(a) password + remembered device',
  device_two_step: '(a) same, two-step API',
  otp: '(b) OTP verification',
} as const;

function targetNote(m: Measurement, all: Measurement[]): string {
  if (m.scenario === 'raw') return '';
  if (m.scenario === 'otp') return `>= ${fmt(TARGET.otpPerSecond)}/s: ${rate(m) >= TARGET.otpPerSecond ? 'met' : 'MISSED'}`;
  const raw = all.find((r) => r.scenario === 'raw' && r.concurrency === m.concurrency);
  if (!raw) return '';
  const share = rate(m) / rate(raw);
  return `${fmt(share * 100, 1)}% of raw (>= ${TARGET.deviceVsRaw * 100}%): ${share >= TARGET.deviceVsRaw ? 'met' : 'MISSED'}`;
}

/** Cores used by everything else on the machine (other processes, the kernel) during a run. */
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
        const sql = sqlPerOp(m);
        return [
          LABEL[m.scenario],
          String(m.concurrency),
          ...usageCells(u),
          m.scenario === 'raw' ? '' : fmt(sql.statements, 1),
          m.scenario === 'raw' ? '' : fmt(sql.ms, 1),
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

async function main(): Promise<void> {
  const { dataDir } = await workDirectory();
  const otpUsers = Math.ceil((OTP_FLOWS * CONCURRENCY.length) / CODES_PER_USER);

  printHeader('Sign-in benchmark', `, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);
  console.log(
    `  plan:      raw argon2 and (a) ${SECONDS} s each; (b) ${fmt(OTP_FLOWS)} prepared flows per run; clients ${CONCURRENCY.join(' and ')}; ` +
      `${DEVICE_USERS} device users, ${otpUsers} OTP users`,
  );

  // 1. Clients thread (starts while the database comes up), database, mail.
  let t = performance.now();
  const clientsStarting = ClientThread.start<ClientJob, ClientResult>(new URL('./signin.clients.js', import.meta.url));
  const { db, ds, applied } = await migratedDatabase(dataDir, 4);
  const mail = await MailCatcher.start();
  onCleanUp(async () => await mail.stop());
  const clients = await clientsStarting;
  onCleanUp(async () => await clients.stop());
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
  const { base, profile, logLines } = await startIdp(config, db.url);
  console.log(
    `  idp:       ${base}, argon2id m=${a2.memoryKiB} KiB t=${a2.timeCost} p=${a2.parallelism}, log level ${config.logLevel} (lines dropped)`,
  );

  // 3. Organization and users, hashed with the app's parameters.
  t = performance.now();
  const hasher = new PasswordHasher(config.argon2);
  const organizationId = await seedOrganization(ds, 'bench');
  const deviceUsers = await seedUsers(ds, organizationId, hasher, PASSWORD, 'dev', DEVICE_USERS);
  const codeUsers = await seedUsers(ds, organizationId, hasher, PASSWORD, 'otp', otpUsers);
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
    const twoStep: Measurement[] = [];
    for (let slice = 0; slice < SLICES; slice++) {
      raw.push(await measureArgon2(probe, rawHash, concurrency));
      device.push(
        await profiled(PROFILE_DIR, `device-${concurrency}-${slice + 1}`, () =>
          measureDeviceSignIns(probe, clients, base, concurrency, devices, 'one-request'),
        ),
      );
      twoStep.push(
        await profiled(PROFILE_DIR, `device-two-step-${concurrency}-${slice + 1}`, () =>
          measureDeviceSignIns(probe, clients, base, concurrency, devices, 'two-step'),
        ),
      );
    }
    show(merge(raw));
    show(merge(device));
    show(merge(twoStep));
  }

  // 6. (b): prepare the flows (not timed), let the outbox settle, then time the verifications only.
  for (const concurrency of CONCURRENCY) {
    t = performance.now();
    const flows = await prepareOtpFlows(base, mail, codeUsers, OTP_FLOWS);
    const left = await waitForOutboxToDrain(ds);
    console.log(
      `  (prepared ${fmt(flows.length)} flows at the OTP step in ${seconds(t)}${left ? `, ${left} messages still pending` : ''})`,
    );
    show(await profiled(PROFILE_DIR, `otp-${concurrency}`, () => measureOtpVerifications(probe, clients, base, concurrency, flows)));
  }

  printReport(all);
  const disturbed = Math.max(0, ...all.map((m) => othersOf(m.usage) ?? 0));
  if (disturbed > 0.15) {
    console.log(
      `\n  WARNING: other processes used up to ${fmt(disturbed, 2)} cores during a run; the figures are lower than on a quiet machine.`,
    );
  }
  console.log(`\n  ${fmt(logLines())} log lines written by the app (dropped); ${fmt(mail.received)} mails received`);
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

await runBenchmark(main);
