import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Remembered devices record each use (time, IP, User-Agent) in the statement that marks them
 * used, and which browser family and OS they were remembered in (`ua_family`, e.g.
 * `Chrome|macOS`): a cookie presented by another browser family or OS is not accepted as the
 * device (a code is asked), and the attempt is recorded on the device (`mismatch_*`) for the
 * account page. Devices remembered before this migration take the family of their next use.
 */
export class DeviceUse1763930200000 implements MigrationInterface {
  name = 'DeviceUse1763930200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE remembered_devices
        ADD COLUMN ua_family text,
        ADD COLUMN last_used_ip inet,
        ADD COLUMN last_used_user_agent text,
        ADD COLUMN mismatch_count integer NOT NULL DEFAULT 0,
        ADD COLUMN last_mismatch_at timestamptz,
        ADD COLUMN last_mismatch_ip inet,
        ADD COLUMN last_mismatch_user_agent text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE remembered_devices
        DROP COLUMN last_mismatch_user_agent,
        DROP COLUMN last_mismatch_ip,
        DROP COLUMN last_mismatch_at,
        DROP COLUMN mismatch_count,
        DROP COLUMN last_used_user_agent,
        DROP COLUMN last_used_ip,
        DROP COLUMN ua_family`);
  }
}
