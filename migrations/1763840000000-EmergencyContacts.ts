import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Emergency contacts (issue 7, part 1): per user an emergency email and an emergency phone,
 * separate from the sign-in contacts, each with its verification time and the one-time code
 * in flight (only ids and times: the code itself lives hashed in `otp_challenges`). The
 * organization policy says which of them must be verified, and how many times a user may
 * answer "Remind me later" (`reminders_used` counts them per user; a deferral is also kept
 * per session, so one session is asked once).
 */
export class EmergencyContacts1763840000000 implements MigrationInterface {
  name = 'EmergencyContacts1763840000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE organization_policies
        ADD COLUMN require_verified_emergency_email boolean NOT NULL DEFAULT false,
        ADD COLUMN require_verified_emergency_phone boolean NOT NULL DEFAULT false,
        ADD COLUMN contact_reminder_limit integer NOT NULL DEFAULT 3 CHECK (contact_reminder_limit BETWEEN 0 AND 100)`);

    await q.query(`
      CREATE TABLE emergency_contacts (
        user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        email text CHECK (char_length(email) <= 254),
        email_key text,
        email_verified_at timestamptz,
        email_challenge_id uuid,
        email_message_id uuid,
        email_code_expires_at timestamptz,
        phone text CHECK (phone ~ '^\\+[1-9][0-9]{6,14}$'),
        phone_type text CHECK (phone_type IN ('mobile', 'fixed_line', 'fixed_line_or_mobile', 'voice_only')),
        phone_verified_at timestamptz,
        phone_verified_by text CHECK (phone_verified_by IN ('sms', 'voice')),
        phone_challenge_id uuid,
        phone_message_id uuid,
        phone_code_channel text CHECK (phone_code_channel IN ('sms', 'voice')),
        phone_code_expires_at timestamptz,
        reminders_used integer NOT NULL DEFAULT 0 CHECK (reminders_used >= 0),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CHECK ((email IS NULL) = (email_key IS NULL)),
        CHECK (email IS NOT NULL OR (email_verified_at IS NULL AND email_challenge_id IS NULL)),
        CHECK ((phone IS NULL) = (phone_type IS NULL)),
        CHECK (phone IS NOT NULL OR (phone_verified_at IS NULL AND phone_challenge_id IS NULL)),
        CHECK ((phone_verified_at IS NULL) = (phone_verified_by IS NULL))
      )`);

    await q.query(`
      CREATE TABLE emergency_contact_deferrals (
        session_id uuid PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        deferred_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX emergency_contact_deferrals_user_idx ON emergency_contact_deferrals (user_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE emergency_contact_deferrals`);
    await q.query(`DROP TABLE emergency_contacts`);
    await q.query(`
      ALTER TABLE organization_policies
        DROP COLUMN contact_reminder_limit,
        DROP COLUMN require_verified_emergency_phone,
        DROP COLUMN require_verified_emergency_email`);
  }
}
