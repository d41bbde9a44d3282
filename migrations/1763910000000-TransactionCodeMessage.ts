import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The outbox worker asks, for each message it claims, whether a transaction code behind it
 * is still worth sending (not expired, used, cancelled or locked): found by `message_id`.
 */
export class TransactionCodeMessage1763910000000 implements MigrationInterface {
  name = 'TransactionCodeMessage1763910000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX transaction_codes_message_idx ON transaction_codes (message_id) WHERE message_id IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX transaction_codes_message_idx`);
  }
}
