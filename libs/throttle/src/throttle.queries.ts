import type { DataSource, EntityManager } from 'typeorm';
import { runStatement, type BatchPart, type WriteBatch } from '#libs/database';
import type { ThrottleCounter } from './throttle.service.js';

/**
 * The statements on throttle_counters (the throttle aggregate). They run as prepared statements
 * on the pool (`runStatement`, sign-in's hot path): their texts are fixed.
 */

/** A rule's `lockAfter` as stored: none is the largest integer column value. */
const NO_LOCK = 2_147_483_647;

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

/** Counts one attempt against each counter (sorted by key) unless one is blocked or locked now; answers the keys it counted. */
export async function reserveCounters(dataSource: DataSource, sorted: readonly ThrottleCounter[], now: Date): Promise<string[]> {
  const { rows } = await runStatement<{ key: string }>(dataSource, RESERVE, [
    sorted.map(([key]) => key),
    now,
    sorted.map(([, r]) => r.freeFailures),
    sorted.map(([, r]) => r.baseDelay.milliseconds),
    sorted.map(([, r]) => r.maxDelay.milliseconds),
    sorted.map(([, r]) => r.window.milliseconds),
    sorted.map(([, r]) => r.lockAfter ?? NO_LOCK),
  ]);
  return rows.map((r) => r.key);
}

/** Gives back the `counted` keys and reads why the other `keys` refused. */
export async function readRefusals(
  dataSource: DataSource,
  counted: string[],
  keys: string[],
): Promise<Array<{ key: string; blocked_until: Date | null; locked: boolean }>> {
  const { rows } = await runStatement<{ key: string; blocked_until: Date | null; locked: boolean }>(dataSource, REFUSED, [counted, keys]);
  return rows;
}

/** Deletes the `forgotten` keys and gives the `givenBack` keys their counted attempt back. */
export async function settleCounters(dataSource: DataSource, forgotten: readonly string[], givenBack: readonly string[]): Promise<void> {
  await runStatement(dataSource, SUCCEEDED, [forgotten, givenBack]);
}

/** `settleCounters` as parts of a WriteBatch. */
export function addSucceededParts(batch: WriteBatch, forgotten: readonly string[], givenBack: readonly string[]): BatchPart[] {
  const parts: BatchPart[] = [];
  if (forgotten.length > 0)
    parts.push(
      batch.add('throttle_forgotten', `DELETE FROM throttle_counters WHERE key = ANY(${batch.param(forgotten, 'text[]')}) RETURNING key`),
    );
  if (givenBack.length > 0)
    parts.push(batch.add('throttle_given_back', `${GIVE_BACK.replace('$1::text[]', batch.param(givenBack, 'text[]'))} RETURNING t.key`));
  return parts;
}

export async function deleteCounter(manager: EntityManager, key: string): Promise<void> {
  await manager.query(`DELETE FROM throttle_counters WHERE key = $1`, [key]);
}

/** Deletes counters with nothing left to remember; answers how many. */
export async function purgeCounters(dataSource: DataSource, now: Date, consecutiveSince: Date): Promise<number> {
  const { rowCount } = await runStatement(dataSource, PURGE, [now, consecutiveSince]);
  return rowCount;
}
