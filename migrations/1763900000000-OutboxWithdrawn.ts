import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Outbox messages taken back before they went out (`OutboxService.withdraw`): a transaction
 * code cancelled while its email still waits is not delivered afterwards. The row stays, as
 * `withdrawn` with `withdrawn_at` and its content erased, so the record of what was queued
 * and why it never arrived is kept.
 */
export class OutboxWithdrawn1763900000000 implements MigrationInterface {
  name = 'OutboxWithdrawn1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox_messages ADD COLUMN withdrawn_at timestamptz`);
    await q.query(`ALTER TABLE outbox_messages DROP CONSTRAINT outbox_messages_status_check`);
    await q.query(
      `ALTER TABLE outbox_messages ADD CONSTRAINT outbox_messages_status_check CHECK (status IN ('pending', 'sent', 'failed', 'withdrawn'))`,
    );
    await q.query(
      `ALTER TABLE outbox_messages ADD CONSTRAINT outbox_messages_withdrawn_check CHECK ((status = 'withdrawn') = (withdrawn_at IS NOT NULL))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox_messages DROP CONSTRAINT outbox_messages_withdrawn_check`);
    // A withdrawn message was never sent: it goes back as failed, which no worker picks up either.
    await q.query(
      `UPDATE outbox_messages SET status = 'failed', failed_at = withdrawn_at, last_error = 'withdrawn' WHERE status = 'withdrawn'`,
    );
    await q.query(`ALTER TABLE outbox_messages DROP CONSTRAINT outbox_messages_status_check`);
    await q.query(
      `ALTER TABLE outbox_messages ADD CONSTRAINT outbox_messages_status_check CHECK (status IN ('pending', 'sent', 'failed'))`,
    );
    await q.query(`ALTER TABLE outbox_messages DROP COLUMN withdrawn_at`);
  }
}
