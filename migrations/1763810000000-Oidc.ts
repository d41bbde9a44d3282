import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * OpenID Connect: every oidc-provider model (sessions, interactions, grants, codes, tokens)
 * in one table with an expiry, the registered relying apps with hashed secrets, and the
 * signing keys, encrypted at rest.
 */
export class Oidc1763810000000 implements MigrationInterface {
  name = 'Oidc1763810000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE oidc_models (
        kind text NOT NULL,
        id text NOT NULL,
        payload jsonb NOT NULL,
        grant_id text,
        uid text,
        user_code text,
        expires_at timestamptz,
        consumed_at timestamptz,
        PRIMARY KEY (kind, id)
      )`);
    await q.query(`CREATE INDEX oidc_models_grant_idx ON oidc_models (grant_id) WHERE grant_id IS NOT NULL`);
    await q.query(`CREATE INDEX oidc_models_uid_idx ON oidc_models (uid) WHERE uid IS NOT NULL`);
    await q.query(`CREATE INDEX oidc_models_user_code_idx ON oidc_models (user_code) WHERE user_code IS NOT NULL`);
    await q.query(`CREATE INDEX oidc_models_expires_idx ON oidc_models (expires_at) WHERE expires_at IS NOT NULL`);

    await q.query(`
      CREATE TABLE oidc_clients (
        client_id text PRIMARY KEY,
        name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
        client_secret_hash text,
        public boolean NOT NULL,
        redirect_uris text[] NOT NULL DEFAULT '{}',
        post_logout_redirect_uris text[] NOT NULL DEFAULT '{}',
        grant_types text[] NOT NULL,
        scopes text[] NOT NULL,
        created_at timestamptz NOT NULL,
        CHECK (public = (client_secret_hash IS NULL)),
        CHECK (grant_types <@ ARRAY['authorization_code', 'refresh_token', 'client_credentials']::text[] AND cardinality(grant_types) > 0),
        CHECK (NOT public OR NOT ('client_credentials' = ANY (grant_types)))
      )`);

    await q.query(`
      CREATE TABLE oidc_signing_keys (
        kid text PRIMARY KEY,
        alg text NOT NULL,
        encrypted_jwk bytea NOT NULL,
        created_at timestamptz NOT NULL,
        retired_at timestamptz
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE oidc_signing_keys`);
    await q.query(`DROP TABLE oidc_clients`);
    await q.query(`DROP TABLE oidc_models`);
  }
}
