import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Clock, Duration } from '../../core/src/index.js';
import { WriteBatch, runStatement, type BatchPart } from '../../database/src/index.js';

export interface ThrottleRule {
  /** Failures allowed before delays start. */
  freeFailures: number;
  /** First delay; doubles with each further failure. */
  baseDelay: Duration;
  maxDelay: Duration;
  /** Failures older than this are forgotten for the delays (not for `lockAfter`). */
  window: Duration;
  /**
   * Failures in a row, across windows, after which the key is refused until a success of
   * another kind or an unlock forgets them (`reset`). Unset: no such cap.
   */
  lockAfter?: number;
}

/**
 * Per account name typed (known or not). NIST SP 800-63B §5.2.2 allows at most 100
 * consecutive failed attempts on one account: the 100th locks it until a password reset
 * (recovery) or support unlocks it.
 */
export const ACCOUNT_RULE: ThrottleRule = {
  freeFailures: 5,
  baseDelay: Duration.ofSeconds(2),
  maxDelay: Duration.ofMinutes(15),
  window: Duration.ofHours(1),
  lockAfter: 100,
};
/** Per client address: generous (offices and carrier NAT share one), against spraying many accounts. */
export const IP_RULE: ThrottleRule = {
  freeFailures: 20,
  baseDelay: Duration.ofSeconds(1),
  maxDelay: Duration.ofMinutes(15),
  window: Duration.ofHours(1),
};

/** A rule's `lockAfter` as stored: none is the largest integer column value. */
const NO_LOCK = 2_147_483_647;

/** What a form or API answers while a key is blocked: wait this many seconds. */
export function throttledError(wait: number): { code: 'throttled'; message: string; retryAfterSeconds: number } {
  return { code: 'throttled', message: `Too many attempts. Try again in ${wait} second${wait === 1 ? '' : 's'}.`, retryAfterSeconds: wait };
}

/** What a form or API answers once an account's consecutive failures reached its rule's `lockAfter`. */
export function lockedError(): { code: 'locked'; message: string } {
  return {
    code: 'locked',
    message: 'Too many failed attempts. Reset your password with "Forgot password?", or ask support to unlock your account.',
  };
}

export type ThrottleCounter = readonly [key: string, rule: ThrottleRule];

/**
 * An attempt reserved by `reserve`: already counted as a failure against each key. Settle it
 * with `succeeded` (forget or give back) when it turned out right; a failure needs nothing more.
 */
export interface Reservation {
  readonly ok: true;
  readonly keys: readonly string[];
}

/** An attempt `reserve` refused: nothing was evaluated or counted. */
export interface Refusal {
  readonly ok: false;
  /** Seconds to wait (at least 1 unless `locked`). */
  readonly wait: number;
  /** A key reached its rule's `lockAfter`: waiting does not help. */
  readonly locked: boolean;
}

/** The error a refusal answers with. */
export function refusalError(refusal: Refusal): { code: 'throttled' | 'locked'; message: string; retryAfterSeconds?: number } {
  return refusal.locked ? lockedError() : throttledError(refusal.wait);
}

/** SQL of the delay after `n` failures under the rule columns of `r`, from `now` (null: none). */
const blockAfter = (n: string, r: string, now: string) =>
  `CASE WHEN ${n} > ${r}.free_failures THEN ${now} + least(${r}.max_delay_ms::float8,
     ${r}.base_delay_ms::float8 * power(2, least(30, ${n} - ${r}.free_failures - 1))) * interval '1 millisecond' END`;

/**
 * One statement: each key's attempt is counted (inserted or added), unless the key is
 * blocked or locked right now, judged on the row's latest version under its lock (ON
 * CONFLICT DO UPDATE … WHERE), so parallel attempts see each other's counts and at most the
 * rule's allowance is ever evaluated. Keys are locked in key order (no deadlock between two
 * attempts sharing keys). Answers the keys it counted.
 */
const RESERVE = (() => {
  const failures = `CASE WHEN t.window_started_at <= $2::timestamptz - t.window_ms * interval '1 millisecond' THEN 1 ELSE t.failures + 1 END`;
  return `INSERT INTO throttle_counters AS t
      (key, failures, consecutive_failures, window_started_at, blocked_until, updated_at,
       free_failures, base_delay_ms, max_delay_ms, window_ms, lock_after)
    SELECT i.key, 1, 1, $2::timestamptz, ${blockAfter('1', 'i', '$2::timestamptz')}, $2::timestamptz,
           i.free_failures, i.base_delay_ms, i.max_delay_ms, i.window_ms, i.lock_after
      FROM unnest($1::text[], $3::int[], $4::int[], $5::int[], $6::bigint[], $7::int[])
           AS i(key, free_failures, base_delay_ms, max_delay_ms, window_ms, lock_after)
     ORDER BY i.key
    ON CONFLICT (key) DO UPDATE SET
      free_failures = EXCLUDED.free_failures, base_delay_ms = EXCLUDED.base_delay_ms, max_delay_ms = EXCLUDED.max_delay_ms,
      window_ms = EXCLUDED.window_ms, lock_after = EXCLUDED.lock_after,
      failures = ${failures},
      consecutive_failures = t.consecutive_failures + 1,
      window_started_at = CASE WHEN t.window_started_at <= $2::timestamptz - t.window_ms * interval '1 millisecond'
                               THEN $2::timestamptz ELSE t.window_started_at END,
      blocked_until = ${blockAfter(failures, 'EXCLUDED', '$2::timestamptz')},
      updated_at = $2::timestamptz
    WHERE (t.blocked_until IS NULL OR t.blocked_until <= $2::timestamptz) AND t.consecutive_failures < EXCLUDED.lock_after
    RETURNING t.key`;
})();

/** Gives one counted attempt back (a success, or an attempt another key refused): a failure fewer, and no delay it no longer earns. */
const GIVE_BACK = `UPDATE throttle_counters t
    SET failures = greatest(t.failures - 1, 0), consecutive_failures = greatest(t.consecutive_failures - 1, 0),
        blocked_until = CASE WHEN t.failures - 1 > t.free_failures THEN t.blocked_until END
  WHERE t.key = ANY($1::text[])`;

/** The refused path: give back what was counted, and read why the others refused (a fresh snapshot: the blocking rows are committed). */
const REFUSED = `WITH given_back AS (${GIVE_BACK} RETURNING t.key)
  SELECT key, blocked_until, consecutive_failures >= lock_after AS locked FROM throttle_counters
   WHERE key = ANY($2::text[]) AND NOT key = ANY($1::text[])`;

/** A success: the keys to forget are deleted, the others get their counted attempt back. */
const SUCCEEDED = `WITH forgotten AS (DELETE FROM throttle_counters WHERE key = ANY($1::text[]) RETURNING key),
  given_back AS (${GIVE_BACK.replace('$1', '$2')} RETURNING t.key)
  SELECT (SELECT count(*) FROM forgotten) + (SELECT count(*) FROM given_back) AS settled`;

/** Counters with nothing left to remember: no delay running, their window over, and no failures in a row that a rule caps. */
const PURGE = `DELETE FROM throttle_counters
  WHERE (blocked_until IS NULL OR blocked_until <= $1::timestamptz)
    AND updated_at <= $1::timestamptz - window_ms * interval '1 millisecond'
    AND (lock_after = ${NO_LOCK} OR consecutive_failures = 0 OR updated_at <= $2::timestamptz)`;

/** How long failures in a row toward a lock are remembered without a new one: 90 days. */
export const CONSECUTIVE_MEMORY = Duration.ofDays(90);

/**
 * Failure counters with progressive delays, kept in PostgreSQL so they survive restarts
 * and are shared by every app node. Keys are opaque (`signin:acct:<key>`, `signin:ip:<ip>`);
 * unknown account names are counted like known ones, so a delay reveals nothing.
 *
 * An attempt is reserved before it is evaluated (`reserve`, one statement that counts it as
 * a failure unless a key is blocked), and settled only when it succeeds (`succeeded`): a
 * burst of parallel attempts is evaluated at most as often as the rule allows in sequence,
 * never more. See docs/security.md for the numbers.
 */
@Injectable()
export class ThrottleService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  /**
   * Counts one attempt against every key at once, before it is evaluated. Refused (with
   * nothing counted) when any key is blocked or locked now.
   */
  async reserve(counters: readonly ThrottleCounter[]): Promise<Reservation | Refusal> {
    const now = this.clock.now();
    const sorted = [...counters].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const keys = sorted.map(([key]) => key);
    const { rows } = await runStatement<{ key: string }>(this.dataSource, RESERVE, [
      keys,
      now,
      sorted.map(([, r]) => r.freeFailures),
      sorted.map(([, r]) => r.baseDelay.milliseconds),
      sorted.map(([, r]) => r.maxDelay.milliseconds),
      sorted.map(([, r]) => r.window.milliseconds),
      sorted.map(([, r]) => r.lockAfter ?? NO_LOCK),
    ]);
    if (rows.length === keys.length) return { ok: true, keys };
    const counted = rows.map((r) => r.key);
    const refused = await runStatement<{ key: string; blocked_until: Date | null; locked: boolean }>(this.dataSource, REFUSED, [
      counted,
      keys,
    ]);
    const locked = refused.rows.some((r) => r.locked);
    const latest = Math.max(0, ...refused.rows.map((r) => (r.blocked_until ? r.blocked_until.getTime() : 0)));
    return { ok: false, locked, wait: locked ? 0 : Math.max(1, Math.ceil((latest - now.getTime()) / 1000)) };
  }

  /**
   * The reserved attempt was right: the keys in `forget` lose their failures (the account's),
   * the others get the attempt back (the address's: a success is no failure). Nothing is
   * wiped that a concurrent failure counted on the keys given back.
   */
  async succeeded(reservation: Reservation, forget: readonly string[]): Promise<void> {
    const { forgotten, givenBack } = this.split(reservation, forget);
    await runStatement(this.dataSource, SUCCEEDED, [forgotten, givenBack]);
  }

  /** `succeeded` as parts of a WriteBatch (the statement that finishes a sign-in), run whatever else the batch does. */
  succeededIn(batch: WriteBatch, reservation: Reservation, forget: readonly string[]): BatchPart[] {
    const { forgotten, givenBack } = this.split(reservation, forget);
    const parts: BatchPart[] = [];
    if (forgotten.length > 0)
      parts.push(
        batch.add('throttle_forgotten', `DELETE FROM throttle_counters WHERE key = ANY(${batch.param(forgotten, 'text[]')}) RETURNING key`),
      );
    if (givenBack.length > 0)
      parts.push(batch.add('throttle_given_back', `${GIVE_BACK.replace('$1::text[]', batch.param(givenBack, 'text[]'))} RETURNING t.key`));
    return parts;
  }

  /**
   * The reserved attempt was neither right nor wrong (it could not be evaluated): every key
   * gets it back.
   */
  async release(reservation: Reservation): Promise<void> {
    await runStatement(this.dataSource, SUCCEEDED, [[], reservation.keys]);
  }

  /** Forgets a key's failures and lock (a password reset, a support unlock). */
  async reset(key: string, manager?: EntityManager): Promise<void> {
    await (manager ?? this.dataSource.manager).query(`DELETE FROM throttle_counters WHERE key = $1`, [key]);
  }

  /** Deletes counters with nothing left to remember (run by the periodic purge). Returns how many. */
  async purge(): Promise<number> {
    const now = this.clock.now();
    const { rowCount } = await runStatement(this.dataSource, PURGE, [now, CONSECUTIVE_MEMORY.before(now)]);
    return rowCount;
  }

  private split(reservation: Reservation, forget: readonly string[]): { forgotten: string[]; givenBack: string[] } {
    return {
      forgotten: reservation.keys.filter((k) => forget.includes(k)),
      givenBack: reservation.keys.filter((k) => !forget.includes(k)),
    };
  }
}
