import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Support console actions: email and mobile changes of enrolled users that wait for a
 * supervisor's approval (four-eyes), optionally raised by a correction request.
 */
export class Support1763835000000 implements MigrationInterface {
  name = 'Support1763835000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE support_contact_changes (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users(id),
        organization_id uuid NOT NULL REFERENCES organizations(id),
        -- {"email": {"before": "...", "after": "..."}, "mobile": {"before": "+39...", "after": null}}
        changes jsonb NOT NULL CHECK (jsonb_typeof(changes) = 'object' AND changes <> '{}'::jsonb
                                      AND (changes - 'email' - 'mobile') = '{}'::jsonb),
        reason text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
        correction_request_id uuid REFERENCES correction_requests(id),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'cancelled')),
        requested_by text NOT NULL,
        requested_at timestamptz NOT NULL,
        decided_by text,
        decided_at timestamptz,
        decision_reason text CHECK (decision_reason IS NULL OR char_length(decision_reason) BETWEEN 1 AND 500),
        CHECK ((status = 'pending') = (decided_at IS NULL)),
        CHECK (status = 'pending' OR decided_by IS NOT NULL),
        -- Four-eyes: whoever asked never approves.
        CHECK (status <> 'approved' OR decided_by <> requested_by)
      )`);
    // One change at a time per user: a second request waits until the first is decided.
    await q.query(
      `CREATE UNIQUE INDEX support_contact_changes_one_pending_idx ON support_contact_changes (user_id) WHERE status = 'pending'`,
    );
    await q.query(`CREATE INDEX support_contact_changes_pending_idx ON support_contact_changes (requested_at) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX support_contact_changes_request_idx ON support_contact_changes (correction_request_id)`);
    await q.query(`CREATE INDEX correction_requests_status_idx ON correction_requests (status, created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX correction_requests_status_idx`);
    await q.query(`DROP TABLE support_contact_changes`);
  }
}
