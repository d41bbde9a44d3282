import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Sign-in journey: one-time codes, the message outbox, flows, sessions, remembered
 * devices, correction requests, throttling, and the confusable skeleton of Enterprise IDs.
 */
export class SignIn1763790000000 implements MigrationInterface {
  name = 'SignIn1763790000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE otp_challenges (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        purpose text NOT NULL CHECK (purpose IN ('login', 'enrollment', 'step_up', 'recovery', 'verification', 'transaction')),
        subject_type text NOT NULL CHECK (subject_type IN ('user', 'legacy_account', 'staff', 'contact')),
        subject_id text NOT NULL,
        flow_id text NOT NULL,
        channel text NOT NULL CHECK (channel IN ('email', 'sms', 'voice')),
        destination text NOT NULL,
        code_hmac bytea NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 10),
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        consumed_at timestamptz,
        invalidated_at timestamptz,
        CHECK (attempts <= max_attempts),
        CHECK (expires_at > created_at)
      )`);
    await q.query(`CREATE INDEX otp_challenges_active_idx ON otp_challenges (purpose, subject_type, subject_id, flow_id)
                     WHERE consumed_at IS NULL AND invalidated_at IS NULL`);
    await q.query(`CREATE INDEX otp_challenges_subject_recent_idx ON otp_challenges (subject_type, subject_id, created_at)`);
    await q.query(`CREATE INDEX otp_challenges_destination_recent_idx ON otp_challenges (destination, created_at)`);

    await q.query(`
      CREATE TABLE outbox_messages (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        channel text NOT NULL CHECK (channel IN ('email', 'sms', 'voice')),
        recipient text NOT NULL,
        purpose text NOT NULL,
        locale text NOT NULL DEFAULT 'en',
        payload bytea,
        otp_challenge_id uuid REFERENCES otp_challenges(id),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL DEFAULT 5,
        next_attempt_at timestamptz NOT NULL,
        locked_until timestamptz,
        last_error text,
        created_at timestamptz NOT NULL,
        sent_at timestamptz,
        failed_at timestamptz,
        CHECK (status = 'pending' OR payload IS NULL)
      )`);
    await q.query(`CREATE INDEX outbox_messages_due_idx ON outbox_messages (next_attempt_at) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX outbox_messages_challenge_idx ON outbox_messages (otp_challenge_id)`);

    await q.query(`
      CREATE TABLE auth_flows (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        kind text NOT NULL CHECK (kind IN ('signin', 'enrollment', 'recovery', 'step_up', 'verification')),
        binding_hash bytea NOT NULL,
        state jsonb NOT NULL,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX auth_flows_expires_idx ON auth_flows (expires_at)`);

    await q.query(`
      CREATE TABLE sessions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        token_hash bytea NOT NULL UNIQUE,
        user_id uuid NOT NULL REFERENCES users(id),
        credential_version integer NOT NULL,
        auth_time timestamptz NOT NULL,
        verifications jsonb NOT NULL,
        acr text NOT NULL,
        created_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL,
        idle_expires_at timestamptz NOT NULL,
        absolute_expires_at timestamptz NOT NULL,
        ended_at timestamptz,
        end_reason text,
        ip inet,
        user_agent text
      )`);
    await q.query(`CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE ended_at IS NULL`);

    await q.query(`
      CREATE TABLE remembered_devices (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users(id),
        token_hash bytea NOT NULL UNIQUE,
        name text NOT NULL,
        credential_version integer NOT NULL,
        policy_version integer NOT NULL,
        created_at timestamptz NOT NULL,
        last_used_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        revoked_reason text,
        revoked_by text
      )`);
    await q.query(`CREATE INDEX remembered_devices_user_idx ON remembered_devices (user_id) WHERE revoked_at IS NULL`);

    await q.query(`
      CREATE TABLE correction_requests (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        legacy_account_id uuid NOT NULL REFERENCES legacy_accounts(id),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        message text NOT NULL CHECK (char_length(message) BETWEEN 1 AND 1000),
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'rejected')),
        created_at timestamptz NOT NULL,
        resolved_at timestamptz,
        resolved_by text,
        resolution text
      )`);
    await q.query(`CREATE INDEX correction_requests_open_idx ON correction_requests (organization_id, created_at) WHERE status = 'open'`);

    await q.query(`
      CREATE TABLE throttle_counters (
        key text PRIMARY KEY,
        failures integer NOT NULL DEFAULT 0,
        window_started_at timestamptz NOT NULL,
        blocked_until timestamptz,
        updated_at timestamptz NOT NULL
      )`);

    // Confusable-folded Enterprise ID: look-alikes ("pau1" vs "paul", Cyrillic "а" vs Latin "a") collide.
    await q.query(`ALTER TABLE users ADD COLUMN enterprise_id_skeleton text`);
    await q.query(`CREATE UNIQUE INDEX users_enterprise_id_skeleton_idx ON users (enterprise_id_skeleton)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX users_enterprise_id_skeleton_idx`);
    await q.query(`ALTER TABLE users DROP COLUMN enterprise_id_skeleton`);
    for (const table of [
      'throttle_counters',
      'correction_requests',
      'remembered_devices',
      'sessions',
      'auth_flows',
      'outbox_messages',
      'otp_challenges',
    ]) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
