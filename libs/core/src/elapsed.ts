import { setTimeout as sleep } from 'node:timers/promises';
import type { Duration } from './clock.js';

/**
 * Waits until `floor` has passed since `started` (a `performance.now()` reading), so that an
 * answer whose work varies (which hash, whether an account exists) always takes at least
 * the floor. Elapsed real time on the monotonic clock, not an expiry: the injected Clock may
 * stand still in tests.
 */
export async function waitUntilElapsed(started: number, floor: Duration): Promise<void> {
  const left = floor.milliseconds - (performance.now() - started);
  if (left > 0) await sleep(left);
}
