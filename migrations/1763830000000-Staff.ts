import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Support console: staff accounts (with their one-time setup code), staff sessions, the
 * staff sign-in flow kind, and accent- and case-insensitive search keys for people.
 *
 * Search keys are generated columns over `gh_search_fold`, an immutable SQL function
 * (NFKD, combining marks stripped, lower-cased, a few letters without a decomposition
 * mapped by hand). The query side folds its input with the same function, so both sides
 * agree whatever the database's locale. No extension (`unaccent`, `pg_trgm`) is needed.
 */
export class Staff1763830000000 implements MigrationInterface {
  name = 'Staff1763830000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(String.raw`
      CREATE FUNCTION gh_search_fold(value text) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT
      AS $$
        SELECT replace(replace(replace(replace(replace(replace(
                 translate(lower(regexp_replace(normalize(value, NFKD),
                   '[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g')),
                   'łŁøØđĐħĦıŀĿ', 'llooddhhill'),
                 'ß', 'ss'), 'ẞ', 'ss'), 'æ', 'ae'), 'Æ', 'ae'), 'œ', 'oe'), 'Œ', 'oe')
      $$`);
    await q.query(`
      ALTER TABLE users ADD COLUMN search_key text GENERATED ALWAYS AS (
        gh_search_fold(first_name || ' ' || last_name || ' ' || enterprise_id || ' ' || email || ' ' || coalesce(mobile, ''))
      ) STORED`);
    await q.query(`
      ALTER TABLE legacy_accounts ADD COLUMN search_key text GENERATED ALWAYS AS (
        gh_search_fold(first_name || ' ' || last_name || ' ' || legacy_user_id || ' ' || email || ' ' || coalesce(mobile, ''))
      ) STORED`);
    await q.query(`CREATE INDEX legacy_accounts_user_idx ON legacy_accounts (user_id) WHERE user_id IS NOT NULL`);

    await q.query(`
      CREATE TABLE staff (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL,
        email_key text NOT NULL UNIQUE,
        name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
        role text NOT NULL CHECK (role IN ('support', 'supervisor')),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'disabled')),
        password_hash text,
        email_verified_at timestamptz,
        setup_selector text UNIQUE,
        setup_code_hmac bytea,
        setup_expires_at timestamptz,
        setup_attempts integer NOT NULL DEFAULT 0,
        created_by text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CHECK (status <> 'active' OR (password_hash IS NOT NULL AND email_verified_at IS NOT NULL)),
        CHECK ((setup_selector IS NULL) = (setup_code_hmac IS NULL) AND (setup_selector IS NULL) = (setup_expires_at IS NULL))
      )`);

    await q.query(`
      CREATE TABLE staff_sessions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        token_hash bytea NOT NULL UNIQUE,
        staff_id uuid NOT NULL REFERENCES staff(id),
        created_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL,
        idle_expires_at timestamptz NOT NULL,
        absolute_expires_at timestamptz NOT NULL,
        ended_at timestamptz,
        end_reason text,
        ip inet,
        user_agent text
      )`);
    await q.query(`CREATE INDEX staff_sessions_staff_idx ON staff_sessions (staff_id) WHERE ended_at IS NULL`);

    await q.query(`ALTER TABLE auth_flows DROP CONSTRAINT auth_flows_kind_check`);
    await q.query(`ALTER TABLE auth_flows ADD CONSTRAINT auth_flows_kind_check
                     CHECK (kind IN ('signin', 'enrollment', 'recovery', 'step_up', 'verification', 'staff_signin'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM auth_flows WHERE kind = 'staff_signin'`);
    await q.query(`ALTER TABLE auth_flows DROP CONSTRAINT auth_flows_kind_check`);
    await q.query(`ALTER TABLE auth_flows ADD CONSTRAINT auth_flows_kind_check
                     CHECK (kind IN ('signin', 'enrollment', 'recovery', 'step_up', 'verification'))`);
    await q.query(`DROP TABLE staff_sessions`);
    await q.query(`DROP TABLE staff`);
    await q.query(`DROP INDEX legacy_accounts_user_idx`);
    await q.query(`ALTER TABLE legacy_accounts DROP COLUMN search_key`);
    await q.query(`ALTER TABLE users DROP COLUMN search_key`);
    await q.query(`DROP FUNCTION gh_search_fold(text)`);
  }
}
