import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Clock, Duration } from '../../core/src/index.js';
import { runStatement } from '../../database/src/index.js';

export interface ThrottleRule {
  /** Failures allowed before delays start. */
  freeFailures: number;
  /** First delay; doubles with each further failure. */
  baseDelay: Duration;
  maxDelay: Duration;
  /** Failures older than this are forgotten. */
  window: Duration;
}

export const ACCOUNT_RULE: ThrottleRule = {
  freeFailures: 5,
  baseDelay: Duration.ofSeconds(2),
  maxDelay: Duration.ofMinutes(15),
  window: Duration.ofHours(1),
};
export const IP_RULE: ThrottleRule = {
  freeFailures: 20,
  baseDelay: Duration.ofSeconds(1),
  maxDelay: Duration.ofMinutes(15),
  window: Duration.ofHours(1),
};

/** What a form or API answers while a key is blocked: wait this many seconds. */
export function throttledError(wait: number): { code: 'throttled'; message: string; retryAfterSeconds: number } {
  return { code: 'throttled', message: `Too many attempts. Try again in ${wait} second${wait === 1 ? '' : 's'}.`, retryAfterSeconds: wait };
}

/** What `status` found for some keys: how long to wait, and which keys have a failure counter at all. */
export interface ThrottleStatus {
  /** Seconds to wait before the next attempt (0 = go ahead). */
  wait: number;
  counted: ReadonlySet<string>;
}

const STATUS = `SELECT key, blocked_until FROM throttle_counters WHERE key = ANY($1::text[])`;

/**
 * Failure counters with progressive delays, kept in PostgreSQL so they survive restarts
 * and are shared by every app node. Keys are opaque (`signin:acct:<key>`, `signin:ip:<ip>`);
 * unknown account names are counted like known ones, so a delay reveals nothing.
 */
@Injectable()
export class ThrottleService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  /** Seconds to wait before the next attempt for any of these keys (0 = go ahead). */
  async retryAfter(keys: string[]): Promise<number> {
    return (await this.status(keys)).wait;
  }

  /** How long to wait for any of these keys, and which of them have a counter (see `resetCounted`). */
  async status(keys: string[]): Promise<ThrottleStatus> {
    const now = this.clock.now().getTime();
    const { rows } = await runStatement<{ key: string; blocked_until: Date | null }>(this.dataSource, STATUS, [keys]);
    const latest = Math.max(0, ...rows.map((r) => (r.blocked_until ? r.blocked_until.getTime() : 0)));
    return { wait: latest > now ? Math.ceil((latest - now) / 1000) : 0, counted: new Set(rows.map((r) => r.key)) };
  }

  /**
   * Forgets a key's failures after a success, like `reset`, but sends nothing when `status`
   * (read before the attempt) found no counter for it: the usual sign-in has no failures to
   * forget. A failure counted concurrently after that read is kept, never wiped.
   */
  async resetCounted(status: ThrottleStatus, key: string): Promise<void> {
    if (status.counted.has(key)) await this.reset(key);
  }

  /** Counts one failure atomically and sets the next delay. */
  async fail(key: string, rule: ThrottleRule): Promise<void> {
    const now = this.clock.now();
    const windowStart = rule.window.before(now);
    const rows = await this.dataSource.query<Array<{ failures: number }>>(
      `INSERT INTO throttle_counters (key, failures, window_started_at, updated_at) VALUES ($1, 1, $2, $2)
       ON CONFLICT (key) DO UPDATE SET
         failures = CASE WHEN throttle_counters.window_started_at < $3 THEN 1 ELSE throttle_counters.failures + 1 END,
         window_started_at = CASE WHEN throttle_counters.window_started_at < $3 THEN $2 ELSE throttle_counters.window_started_at END,
         updated_at = $2
       RETURNING failures`,
      [key, now, windowStart],
    );
    const failures = rows[0]!.failures;
    if (failures > rule.freeFailures) {
      const exponent = Math.min(30, failures - rule.freeFailures - 1);
      const delay = Math.min(rule.maxDelay.milliseconds, rule.baseDelay.milliseconds * 2 ** exponent);
      await this.dataSource.query(`UPDATE throttle_counters SET blocked_until = $2 WHERE key = $1`, [
        key,
        Duration.ofMilliseconds(delay).after(now),
      ]);
    }
  }

  /** Counts one failure against each key, by its rule (e.g. the account's and the IP's). */
  async failAll(counters: ReadonlyArray<readonly [key: string, rule: ThrottleRule]>): Promise<void> {
    for (const [key, rule] of counters) await this.fail(key, rule);
  }

  async reset(key: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM throttle_counters WHERE key = $1`, [key]);
  }
}
