import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The back-channel logout asks, for each provider session it logs out, whether an
 * authorization in progress holds it (an Interaction whose `session.cookie` is the session's
 * id): such a session is logged out but kept for that flow (see BackchannelLogout).
 */
export class OidcInteractionSession1763920000000 implements MigrationInterface {
  name = 'OidcInteractionSession1763920000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX oidc_models_interaction_session_idx ON oidc_models ((payload->'session'->>'cookie')) WHERE kind = 'Interaction'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX oidc_models_interaction_session_idx`);
  }
}
