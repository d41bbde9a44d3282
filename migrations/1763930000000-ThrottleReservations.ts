import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Throttle counters become reservations (ThrottleService.reserve): an attempt is counted
 * before it is evaluated, in one statement, so parallel attempts can never exceed a rule.
 * Each counter keeps the rule it was last counted under (so the one upsert and the refund
 * can apply it without another round trip) and the failures in a row across windows
 * (`consecutive_failures`, forgotten only by a success or an unlock), which a rule with
 * `lock_after` caps (NIST SP 800-63B §5.2.2: at most 100 consecutive failures per account).
 */
export class ThrottleReservations1763930000000 implements MigrationInterface {
  name = 'ThrottleReservations1763930000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE throttle_counters
        ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0,
        ADD COLUMN free_failures integer NOT NULL DEFAULT 0,
        ADD COLUMN base_delay_ms integer NOT NULL DEFAULT 1000,
        ADD COLUMN max_delay_ms integer NOT NULL DEFAULT 900000,
        ADD COLUMN window_ms bigint NOT NULL DEFAULT 3600000,
        ADD COLUMN lock_after integer NOT NULL DEFAULT 2147483647`);
    await q.query(`UPDATE throttle_counters SET consecutive_failures = failures`);
    await q.query(`CREATE INDEX throttle_counters_updated_idx ON throttle_counters (updated_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX throttle_counters_updated_idx`);
    await q.query(`
      ALTER TABLE throttle_counters
        DROP COLUMN consecutive_failures, DROP COLUMN free_failures, DROP COLUMN base_delay_ms,
        DROP COLUMN max_delay_ms, DROP COLUMN window_ms, DROP COLUMN lock_after`);
  }
}
