import type { DataSource, EntityManager } from 'typeorm';
import type { Channel } from '#libs/core';
import type { OutboxStatus } from './message.js';

/** The statements on outbox_messages (the outbox aggregate): enqueue and withdraw in the caller's transaction, the worker's claim and outcomes. */

export interface ClaimedRow {
  id: string;
  channel: Channel;
  recipient: string;
  purpose: string;
  locale: string;
  payload: Buffer | null;
  attempts: number;
  max_attempts: number;
  /** Linked to an OTP challenge that is no longer usable. */
  stale: boolean;
}

/** Stores one message (values in column order: id, channel, recipient, purpose, locale, payload, otp_challenge_id, max_attempts, now). */
export async function insertOutboxMessage(manager: EntityManager, values: unknown[]): Promise<void> {
  await manager.query(
    `INSERT INTO outbox_messages (id, channel, recipient, purpose, locale, payload, otp_challenge_id, max_attempts, next_attempt_at, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
    values,
  );
}

/** Withdraws a pending message no worker holds; answers whether it did. */
export async function withdrawPendingMessage(manager: EntityManager, id: string, now: Date): Promise<boolean> {
  const [, count] = await manager.query<[unknown[], number]>(
    `UPDATE outbox_messages SET status = 'withdrawn', payload = NULL, withdrawn_at = $2, locked_until = NULL
        WHERE id = $1 AND status = 'pending' AND (locked_until IS NULL OR locked_until <= $2)`,
    [id, now],
  );
  return count === 1;
}

export async function outboxMessageStatus(
  dataSource: DataSource,
  id: string,
): Promise<{ status: OutboxStatus; attempts: number; last_error: string | null } | undefined> {
  const rows = await dataSource.query<Array<{ status: OutboxStatus; attempts: number; last_error: string | null }>>(
    `SELECT CASE WHEN status = 'withdrawn' THEN 'failed' ELSE status END AS status, attempts,
              CASE WHEN status = 'withdrawn' THEN 'withdrawn' ELSE last_error END AS last_error
         FROM outbox_messages WHERE id = $1`,
    [id],
  );
  return rows[0];
}

/** Fails the messages whose last allowed attempt was claimed by a node that never reported back; answers their ids. */
export async function failAbandonedMessages(dataSource: DataSource, now: Date): Promise<Array<{ id: string }>> {
  // TypeORM answers an UPDATE with [rows, rowCount].
  const [rows] = await dataSource.query<[Array<{ id: string }>, number]>(
    `UPDATE outbox_messages
          SET status = 'failed', payload = NULL, failed_at = $1, locked_until = NULL, last_error = 'worker: lease expired'
        WHERE status = 'pending' AND attempts >= max_attempts AND (locked_until IS NULL OR locked_until <= $1)
        RETURNING id`,
    [now],
  );
  return rows;
}

/** Claims up to `limit` due messages (only `id`, when given) under a lease until `lease`. */
export async function claimDueMessages(
  dataSource: DataSource,
  { now, lease, limit, id }: { now: Date; lease: Date; limit: number; id: string | null },
): Promise<ClaimedRow[]> {
  const [rows] = await dataSource.query<[ClaimedRow[], number]>(
    `UPDATE outbox_messages m
          SET attempts = m.attempts + 1, locked_until = $2
         FROM (SELECT id FROM outbox_messages
                WHERE status = 'pending' AND next_attempt_at <= $1
                  AND (locked_until IS NULL OR locked_until <= $1)
                  AND attempts < max_attempts
                  AND ($4::uuid IS NULL OR id = $4::uuid)
                ORDER BY next_attempt_at, created_at
                LIMIT $3
                FOR UPDATE SKIP LOCKED) due
        WHERE m.id = due.id
        RETURNING m.id, m.channel, m.recipient, m.purpose, m.locale, m.payload, m.attempts, m.max_attempts,
                  (EXISTS (SELECT 1 FROM otp_challenges c WHERE c.id = m.otp_challenge_id
                            AND (c.consumed_at IS NOT NULL OR c.invalidated_at IS NOT NULL OR c.expires_at <= $1))
                   OR EXISTS (SELECT 1 FROM transaction_codes t WHERE t.message_id = m.id
                               AND (t.consumed_at IS NOT NULL OR t.cancelled_at IS NOT NULL OR t.expires_at <= $1
                                    OR t.attempts >= t.max_attempts))) AS stale`,
    [now, lease, limit, id],
  );
  return rows;
}

/** The outcome updates apply only to the attempt that was claimed (its `attempts`) and a still pending message. */
const fence = `WHERE id = $1 AND attempts = $2 AND status = 'pending'`;

export async function recordMessageSent(dataSource: DataSource, row: Pick<ClaimedRow, 'id' | 'attempts'>, now: Date): Promise<void> {
  await dataSource.query(`UPDATE outbox_messages SET status = 'sent', payload = NULL, sent_at = $3, locked_until = NULL ${fence}`, [
    row.id,
    row.attempts,
    now,
  ]);
}

export async function recordMessageRetry(
  dataSource: DataSource,
  row: Pick<ClaimedRow, 'id' | 'attempts'>,
  next: Date,
  reason: string,
): Promise<void> {
  await dataSource.query(`UPDATE outbox_messages SET next_attempt_at = $3, locked_until = NULL, last_error = $4 ${fence}`, [
    row.id,
    row.attempts,
    next,
    reason,
  ]);
}

export async function recordMessageFailed(
  dataSource: DataSource,
  row: Pick<ClaimedRow, 'id' | 'attempts'>,
  now: Date,
  reason: string,
): Promise<void> {
  await dataSource.query(
    `UPDATE outbox_messages SET status = 'failed', payload = NULL, failed_at = $3, locked_until = NULL, last_error = $4 ${fence}`,
    [row.id, row.attempts, now, reason],
  );
}
