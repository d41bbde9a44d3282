/**
 * The worker-thread side of a benchmark's clients (bench/*.clients.ts), and what both
 * sides share. Imports only Node built-ins, so a clients thread stays light.
 */
import { readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort } from 'node:worker_threads';

/** Milliseconds on a clock shared by all threads of the process (each thread's performance.now() has its own origin). */
export const sharedNow = () => performance.timeOrigin + performance.now();

/** What a clients thread answers: once `ready` (with its kernel thread id), then one `result` or `error` per job. */
export type ClientMessage<R> =
  { type: 'ready'; threadId: number | null } | { type: 'result'; result: R } | { type: 'error'; message: string };

/** A response's JSON body, or `{ raw: <its first 200 characters> }` when it is not JSON (for error reports). */
export async function readJson(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { raw: text.slice(0, 200) };
  }
}

/** What the clients report for one job. */
export interface RunResult {
  completed: number;
  failed: number;
  /** Time-bounded jobs: the window; count-bounded ones: from the first request to the last answer. */
  elapsedMs: number;
  /** One per counted operation. */
  latenciesMs: number[];
  /** The first few failures, for the report. */
  errors: string[];
}

/** Collects one job's result, keeping the first few failures' messages. */
export class Recorder {
  readonly result: RunResult = { completed: 0, failed: 0, elapsedMs: 0, latenciesMs: [], errors: [] };

  fail(error: unknown): void {
    this.result.failed++;
    if (this.result.errors.length < 5) this.result.errors.push(error instanceof Error ? error.message : String(error));
  }
}

/** This thread's kernel thread id (from /proc/thread-self), so the main thread can read its CPU time. */
function kernelThreadId(): number | null {
  try {
    const id = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    return Number.isInteger(id) ? id : null;
  } catch {
    return null;
  }
}

/** In a worker thread: runs each job posted by the main thread with `run` and posts its result (one job at a time). */
export function serveJobs<J, R>(run: (job: J) => Promise<R>): void {
  if (isMainThread || !parentPort) return;
  const port = parentPort;
  port.on('message', (job: J) => {
    run(job).then(
      (result) => port.postMessage({ type: 'result', result } satisfies ClientMessage<R>),
      (error: unknown) =>
        port.postMessage({ type: 'error', message: error instanceof Error ? error.message : String(error) } satisfies ClientMessage<R>),
    );
  });
  port.postMessage({ type: 'ready', threadId: kernelThreadId() } satisfies ClientMessage<R>);
}
