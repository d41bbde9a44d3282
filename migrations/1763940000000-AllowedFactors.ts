import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An organization's policy lists the factors it allows (libs/factors: their ids, the `method`
 * of the verification record each yields). Every organization allows every current factor, so
 * nothing changes. Remembered devices are checked in SQL on `remember_device_enabled`; the
 * constraint keeps that switch off whenever the remembered_device factor is not allowed.
 * A new factor's migration adds its id to the default (if organizations get it unasked).
 */
export class AllowedFactors1763940000000 implements MigrationInterface {
  name = 'AllowedFactors1763940000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE organization_policies
        ADD COLUMN allowed_factors text[] NOT NULL DEFAULT '{password,legacy_password,otp,remembered_device,security_code}',
        ADD CONSTRAINT organization_policies_remembered_device_allowed
          CHECK (NOT remember_device_enabled OR 'remembered_device' = ANY (allowed_factors))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE organization_policies
        DROP CONSTRAINT organization_policies_remembered_device_allowed,
        DROP COLUMN allowed_factors`);
  }
}
