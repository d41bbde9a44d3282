import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A user's grants by account: disabling a user revokes every grant the provider holds for
 * them (and, by `grant_id`, everything issued under each) in the disable's transaction
 * (`revokeAccountGrants`). Only `Grant` rows are indexed: one per person and relying app.
 */
export class OidcGrantAccount1763890000000 implements MigrationInterface {
  name = 'OidcGrantAccount1763890000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX oidc_models_grant_account_idx ON oidc_models ((payload->>'accountId')) WHERE kind = 'Grant'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX oidc_models_grant_account_idx`);
  }
}
