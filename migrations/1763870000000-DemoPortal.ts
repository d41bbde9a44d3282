import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The sample relying app (`apps/demo-portal`): its own server-side sessions and the payment
 * details it protects with a step-up. It shares Gatehouse's database only for convenience
 * (one `npm start`); nothing in Gatehouse reads these tables.
 */
export class DemoPortal1763870000000 implements MigrationInterface {
  name = 'DemoPortal1763870000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE demo_portal_sessions (
        token_hash bytea PRIMARY KEY,
        sub text,
        profile jsonb,
        id_claims jsonb,
        id_token text,
        pending jsonb,
        draft jsonb,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        CHECK ((sub IS NULL) = (id_claims IS NULL))
      )`);
    await q.query(`CREATE INDEX demo_portal_sessions_expires_idx ON demo_portal_sessions (expires_at)`);
    await q.query(`
      CREATE TABLE demo_portal_payment_details (
        sub text PRIMARY KEY,
        iban text NOT NULL CHECK (iban ~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$'),
        account_holder text NOT NULL CHECK (char_length(account_holder) BETWEEN 2 AND 140),
        updated_at timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE demo_portal_payment_details`);
    await q.query(`DROP TABLE demo_portal_sessions`);
  }
}
