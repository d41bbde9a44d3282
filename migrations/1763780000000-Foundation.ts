import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Organizations with their policy, legacy accounts awaiting enrollment, users,
 * and the append-only audit log.
 */
export class Foundation1763780000000 implements MigrationInterface {
  name = 'Foundation1763780000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE organizations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
        name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE organization_policies (
        organization_id uuid PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
        otp_channels text[] NOT NULL DEFAULT '{email,sms,voice}'
          CHECK (otp_channels <@ '{email,sms,voice}'::text[] AND 'email' = ANY (otp_channels)),
        remember_device_enabled boolean NOT NULL DEFAULT true,
        remember_device_days integer NOT NULL DEFAULT 30 CHECK (remember_device_days BETWEEN 1 AND 365),
        security_code_min_length integer NOT NULL DEFAULT 6 CHECK (security_code_min_length BETWEEN 6 AND 9),
        security_code_max_length integer NOT NULL DEFAULT 9 CHECK (security_code_max_length BETWEEN 6 AND 9),
        recovery_max_failures integer NOT NULL DEFAULT 5 CHECK (recovery_max_failures BETWEEN 3 AND 10),
        version integer NOT NULL DEFAULT 1,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (security_code_min_length <= security_code_max_length)
      )`);
    await q.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        enterprise_id text NOT NULL,
        enterprise_id_key text NOT NULL UNIQUE,
        first_name text NOT NULL,
        last_name text NOT NULL,
        email text NOT NULL,
        email_key text NOT NULL,
        email_verified_at timestamptz,
        mobile text,
        mobile_verified_at timestamptz,
        password_hash text NOT NULL,
        security_code_hash text NOT NULL,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
        credential_version integer NOT NULL DEFAULT 1,
        preferred_otp_channel text CHECK (preferred_otp_channel IN ('email', 'sms', 'voice')),
        recovery_failed_attempts integer NOT NULL DEFAULT 0,
        recovery_locked_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX users_email_key_idx ON users (email_key)`);
    await q.query(`CREATE INDEX users_organization_idx ON users (organization_id)`);
    await q.query(`
      CREATE TABLE legacy_accounts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        legacy_user_id text NOT NULL,
        legacy_user_id_key text NOT NULL UNIQUE,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'enrolled')),
        first_name text NOT NULL,
        last_name text NOT NULL,
        email text NOT NULL,
        email_key text NOT NULL,
        mobile text,
        password_hash text,
        hash_format text CHECK (hash_format IN ('bcrypt', 'argon2', 'pbkdf2_sha256')),
        user_id uuid REFERENCES users(id),
        enrolled_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (status <> 'pending' OR (password_hash IS NOT NULL AND hash_format IS NOT NULL AND user_id IS NULL)),
        CHECK (status <> 'enrolled' OR user_id IS NOT NULL)
      )`);
    await q.query(`CREATE INDEX legacy_accounts_organization_idx ON legacy_accounts (organization_id, status)`);
    await q.query(`
      CREATE TABLE audit_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        occurred_at timestamptz NOT NULL,
        event_type text NOT NULL CHECK (event_type ~ '^[a-z_]+(\\.[a-z_]+)+$'),
        actor_type text NOT NULL CHECK (actor_type IN ('user', 'staff', 'operator', 'client', 'system', 'anonymous')),
        actor_id text,
        subject_type text,
        subject_id text,
        organization_id uuid,
        ip inet,
        user_agent text,
        request_id text,
        details jsonb NOT NULL DEFAULT '{}'::jsonb
      )`);
    await q.query(`CREATE INDEX audit_events_subject_idx ON audit_events (subject_type, subject_id, occurred_at)`);
    await q.query(`CREATE INDEX audit_events_type_idx ON audit_events (event_type, occurred_at)`);
    await q.query(`
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`);
    await q.query(`
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_events`);
    await q.query(`DROP FUNCTION audit_events_append_only()`);
    await q.query(`DROP TABLE legacy_accounts`);
    await q.query(`DROP TABLE users`);
    await q.query(`DROP TABLE organization_policies`);
    await q.query(`DROP TABLE organizations`);
  }
}
