import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * OpenID Connect back-channel logout and signing-key rotation.
 *
 * - `oidc_clients.backchannel_logout_uri`: where a relying app wants its logout tokens.
 * - `oidc_models.gatehouse_session_id`: the Gatehouse session a provider session mirrors
 *   (set for `kind = 'Session'` rows), so ending the one logs out the other.
 * - `oidc_logout_queue`: sessions whose end may concern relying apps. Triggers fill it in the
 *   transaction that ends a session (whoever ends it: sign-out, a credential change, a
 *   password reset, the support console, a disabled user), and every IdP node drains it
 *   (`FOR UPDATE SKIP LOCKED`), so no code path can forget to tell the relying apps and
 *   no logout is sent twice. Which ends warrant a logout is decided when the queue is read.
 * - `oidc_signing_keys.activates_at`: a rotated key is published first and signs only from
 *   this time, so every node serves it in JWKS before any token carries its `kid`.
 */
export class OidcLogout1763860000000 implements MigrationInterface {
  name = 'OidcLogout1763860000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE oidc_clients ADD COLUMN backchannel_logout_uri text`);

    await q.query(`ALTER TABLE oidc_models ADD COLUMN gatehouse_session_id uuid`);
    await q.query(
      `CREATE INDEX oidc_models_gatehouse_session_idx ON oidc_models (gatehouse_session_id) WHERE gatehouse_session_id IS NOT NULL`,
    );
    await q.query(`CREATE INDEX oidc_models_session_account_idx ON oidc_models ((payload->>'accountId')) WHERE kind = 'Session'`);

    await q.query(`
      CREATE TABLE oidc_logout_queue (
        id bigserial PRIMARY KEY,
        session_id uuid NOT NULL,
        enqueued_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE FUNCTION oidc_enqueue_ended_session() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO oidc_logout_queue (session_id) VALUES (NEW.id);
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER sessions_oidc_logout AFTER UPDATE OF ended_at ON sessions
        FOR EACH ROW WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL)
        EXECUTE FUNCTION oidc_enqueue_ended_session()`);
    await q.query(`
      CREATE FUNCTION oidc_enqueue_user_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO oidc_logout_queue (session_id) SELECT id FROM sessions WHERE user_id = NEW.id AND ended_at IS NULL;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER users_oidc_logout AFTER UPDATE OF status, credential_version ON users
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.credential_version IS DISTINCT FROM NEW.credential_version)
        EXECUTE FUNCTION oidc_enqueue_user_sessions()`);

    await q.query(`ALTER TABLE oidc_signing_keys ADD COLUMN activates_at timestamptz`);
    await q.query(`UPDATE oidc_signing_keys SET activates_at = created_at`);
    await q.query(`ALTER TABLE oidc_signing_keys ALTER COLUMN activates_at SET NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE oidc_signing_keys DROP COLUMN activates_at`);
    await q.query(`DROP TRIGGER users_oidc_logout ON users`);
    await q.query(`DROP FUNCTION oidc_enqueue_user_sessions()`);
    await q.query(`DROP TRIGGER sessions_oidc_logout ON sessions`);
    await q.query(`DROP FUNCTION oidc_enqueue_ended_session()`);
    await q.query(`DROP TABLE oidc_logout_queue`);
    await q.query(`DROP INDEX oidc_models_session_account_idx`);
    await q.query(`DROP INDEX oidc_models_gatehouse_session_idx`);
    await q.query(`ALTER TABLE oidc_models DROP COLUMN gatehouse_session_id`);
    await q.query(`ALTER TABLE oidc_clients DROP COLUMN backchannel_logout_uri`);
  }
}
