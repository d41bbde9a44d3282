/**
 * HTTP clients of the sign-in benchmark (bench/signin.bench.ts), run in a worker thread so
 * that making requests and reading answers does not take turns with the server on its
 * event loop. The thread is started once and gets one job per scenario; it imports only
 * Node built-ins (fetch is Node's built-in undici, with keep-alive connections).
 */
import { performance } from 'node:perf_hooks';
import { Recorder, readJson, serveJobs, sharedNow, type RunResult } from './support/worker.js';

/** A desktop browser, as a native app's embedded web view would send. */
export const BENCH_USER_AGENT =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

export interface DeviceUser {
  userId: string;
  password: string;
  deviceToken: string;
}

export interface PreparedOtp {
  flowId: string;
  flowToken: string;
  code: string;
}

export type DeviceApi = 'one-request' | 'two-step';

export type ClientJob =
  /**
   * Time-bounded: each client signs in (start + credentials with the device token) again and
   * again, users round-robin, until `windowEnd`; only sign-ins that end inside
   * [windowStart, windowEnd] (sharedNow() times) are counted, so the ramp-up before and the
   * requests still in flight after are not.
   */
  | {
      kind: 'device-signin';
      /** `one-request`: POST /api/v1/signin with the credentials and the device token; `two-step`: start, then credentials. */
      api: DeviceApi;
      base: string;
      concurrency: number;
      windowStart: number;
      windowEnd: number;
      users: DeviceUser[];
    }
  /** Count-bounded: each client takes the next prepared flow and submits its code, until none is left. */
  | { kind: 'otp-verify'; base: string; concurrency: number; flows: PreparedOtp[] };

/** Device sign-in: counted per whole sign-in (both requests) in the window; OTP: per submission, from the first request to the last answer. */
export type ClientResult = RunResult;

type Json = Record<string, unknown>;

async function post(base: string, path: string, body: Json, headers: Record<string, string> = {}): Promise<{ status: number; json: Json }> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'User-Agent': BENCH_USER_AGENT, ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: await readJson(response) };
}

function describe(what: string, status: number, json: Json): string {
  return `${what}: HTTP ${status} ${JSON.stringify(json).slice(0, 300)}`;
}

/** One remembered-device sign-in through the JSON API; throws unless it ends signed in. */
async function deviceSignIn(base: string, user: DeviceUser, api: DeviceApi): Promise<void> {
  if (api === 'one-request') {
    const done = await post(base, '/api/v1/signin', { user_id: user.userId, password: user.password, device_token: user.deviceToken });
    if (done.status !== 200 || done.json.step !== 'done' || typeof done.json.session_token !== 'string') {
      throw new Error(describe('signin', done.status, done.json));
    }
    return;
  }
  const started = await post(base, '/api/v1/signin', {});
  if (started.status !== 201 || typeof started.json.flow_id !== 'string' || typeof started.json.flow_token !== 'string') {
    throw new Error(describe('start', started.status, started.json));
  }
  const done = await post(
    base,
    `/api/v1/signin/${started.json.flow_id}/credentials`,
    { user_id: user.userId, password: user.password, device_token: user.deviceToken },
    { 'X-Flow-Token': started.json.flow_token },
  );
  if (done.status !== 200 || done.json.step !== 'done' || typeof done.json.session_token !== 'string') {
    throw new Error(describe('credentials', done.status, done.json));
  }
}

async function runDeviceSignIns(job: Extract<ClientJob, { kind: 'device-signin' }>): Promise<ClientResult> {
  const rec = new Recorder();
  let next = 0;
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (sharedNow() < job.windowEnd) {
        const user = job.users[next++ % job.users.length]!;
        const t = sharedNow();
        try {
          await deviceSignIn(job.base, user, job.api);
          const end = sharedNow();
          if (end >= job.windowStart && end <= job.windowEnd) {
            rec.result.latenciesMs.push(end - t);
            rec.result.completed++;
          }
        } catch (error) {
          rec.fail(error instanceof Error ? error.message : String(error));
        }
      }
    }),
  );
  rec.result.elapsedMs = job.windowEnd - job.windowStart;
  return rec.result;
}

async function runOtpVerifications(job: Extract<ClientJob, { kind: 'otp-verify' }>): Promise<ClientResult> {
  const rec = new Recorder();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      for (let i = next++; i < job.flows.length; i = next++) {
        const flow = job.flows[i]!;
        const t = performance.now();
        try {
          const done = await post(job.base, `/api/v1/signin/${flow.flowId}/otp`, { code: flow.code }, { 'X-Flow-Token': flow.flowToken });
          const latency = performance.now() - t;
          if (done.status !== 200 || done.json.step !== 'done' || typeof done.json.session_token !== 'string') {
            throw new Error(describe('otp', done.status, done.json));
          }
          rec.result.latenciesMs.push(latency);
          rec.result.completed++;
        } catch (error) {
          rec.fail(error instanceof Error ? error.message : String(error));
        }
      }
    }),
  );
  rec.result.elapsedMs = performance.now() - started;
  return rec.result;
}

serveJobs<ClientJob, ClientResult>((job) => (job.kind === 'device-signin' ? runDeviceSignIns(job) : runOtpVerifications(job)));
