import type { DataSource, EntityManager } from 'typeorm';
import type { Channel } from '#libs/core';
import { runStatement, type BatchPart, type WriteBatch } from '#libs/database';
import type { OtpBinding, OtpSubject } from './types.js';

/** The statements on otp_challenges (the one-time code aggregate). */

/** Counts one attempt while the challenge is live and bound as claimed (prepared: the hot path of every code check). */
const COUNT = `UPDATE otp_challenges SET attempts = attempts + 1
  WHERE id = $1 AND purpose = $2 AND subject_type = $3 AND subject_id = $4 AND flow_id = $5
    AND consumed_at IS NULL AND invalidated_at IS NULL AND expires_at > $6 AND attempts < max_attempts
  RETURNING id::text AS id, code_hmac, attempts, max_attempts, channel`;

/** The advisory-lock space of code issues. */
const OTP_LOCK_SPACE = 0x4f5450; // "OTP"

export interface ChallengeRow {
  id: string;
  purpose: string;
  subject_type: string;
  subject_id: string;
  flow_id: string;
  channel: Channel;
  attempts: number;
  max_attempts: number;
  expires_at: Date;
  consumed_at: Date | null;
  invalidated_at: Date | null;
}

/** A live challenge counted by COUNT. */
export type CountedChallenge = { id: string; code_hmac: Buffer; attempts: number; max_attempts: number; channel: Channel };

/** Counts one attempt while the challenge is live and bound as claimed (prepared on the pool: the hot path). */
export async function countAttempt(dataSource: DataSource, values: unknown[]): Promise<CountedChallenge | undefined> {
  const { rows } = await runStatement<CountedChallenge>(dataSource, COUNT, values);
  return rows[0];
}

/** COUNT in the transaction of `m`. */
export async function countAttemptIn(m: EntityManager, values: unknown[]): Promise<CountedChallenge | undefined> {
  const counted = await m.query<CountedChallenge[]>(`WITH counted AS (${COUNT}) SELECT * FROM counted`, values);
  return counted[0];
}

/** The batch part marking a checked challenge used, if it is still unused, not superseded and not expired at `now`. */
export function addUseChallengePart(batch: WriteBatch, challengeId: string, b: OtpBinding, now: Date): BatchPart {
  const at = batch.param(now, 'timestamptz');
  return batch.add(
    'otp_use',
    `UPDATE otp_challenges SET consumed_at = ${at}
        WHERE id = ${batch.param(challengeId, 'uuid')} AND purpose = ${batch.param(b.purpose, 'text')}
          AND subject_type = ${batch.param(b.subject.type, 'text')} AND subject_id = ${batch.param(b.subject.id, 'text')}
          AND flow_id = ${batch.param(b.flowId, 'text')} AND consumed_at IS NULL AND invalidated_at IS NULL AND expires_at > ${at}
        RETURNING id`,
  );
}

/** Marks a challenge used; answers whether this call did. */
export async function consumeChallenge(m: EntityManager, id: string, now: Date): Promise<boolean> {
  const consumed = await m.query<Array<{ id: string }>>(
    `WITH consumed AS (UPDATE otp_challenges SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL RETURNING id::text AS id)
       SELECT id FROM consumed`,
    [id, now],
  );
  return consumed[0] !== undefined;
}

/** Serializes issues per key (subject, destination) across nodes: advisory locks in hash order (no deadlock). */
export async function lockIssueKeys(m: EntityManager, lockKeys: string[]): Promise<void> {
  const keys = await m.query<Array<{ k: number }>>(`SELECT DISTINCT hashtext(k) AS k FROM unnest($1::text[]) AS k ORDER BY 1`, [lockKeys]);
  for (const { k } of keys) await m.query(`SELECT pg_advisory_xact_lock($1::int, $2::int)`, [OTP_LOCK_SPACE, k]);
}

/** Supersedes the open challenges of this binding (values: purpose, subject_type, subject_id, flow_id, now). */
export async function supersedeOpenChallenges(m: EntityManager, values: unknown[]): Promise<void> {
  await m.query(
    `UPDATE otp_challenges SET invalidated_at = $5
        WHERE purpose = $1 AND subject_type = $2 AND subject_id = $3 AND flow_id = $4
          AND consumed_at IS NULL AND invalidated_at IS NULL`,
    values,
  );
}

/** Inserts a challenge (values in column order). */
export async function insertChallenge(m: EntityManager, values: unknown[]): Promise<void> {
  await m.query(
    `INSERT INTO otp_challenges (id, purpose, subject_type, subject_id, flow_id, channel, destination, code_hmac, max_attempts, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    values,
  );
}

/** What the issue caps and the cooldown look at: recent codes of the subject and of the destination, and this binding's last one. */
export async function recentIssues(
  m: EntityManager,
  r: { purpose: string; subject: OtpSubject; flowId: string; destinationKey: string },
  since: Date,
): Promise<{ bySubject: Array<{ created_at: Date }>; byDestination: Array<{ created_at: Date }>; last: Array<{ last: Date | null }> }> {
  const bySubject = await m.query<Array<{ created_at: Date }>>(
    `SELECT created_at FROM otp_challenges WHERE subject_type = $1 AND subject_id = $2 AND created_at > $3 ORDER BY created_at`,
    [r.subject.type, r.subject.id, since],
  );
  const byDestination = await m.query<Array<{ created_at: Date }>>(
    `SELECT created_at FROM otp_challenges WHERE destination = $1 AND created_at > $2 ORDER BY created_at`,
    [r.destinationKey, since],
  );
  const last = await m.query<Array<{ last: Date | null }>>(
    // A code whose delivery failed for good does not hold the user back: they may ask again at once (the caps still count it).
    `SELECT max(c.created_at) AS last FROM otp_challenges c
        WHERE c.purpose = $1 AND c.subject_type = $2 AND c.subject_id = $3 AND c.flow_id = $4
          AND NOT EXISTS (SELECT 1 FROM outbox_messages o WHERE o.otp_challenge_id = c.id AND o.status = 'failed')`,
    [r.purpose, r.subject.type, r.subject.id, r.flowId],
  );
  return { bySubject, byDestination, last };
}

export async function challengeById(m: EntityManager, challengeId: string): Promise<ChallengeRow | null> {
  const rows = await m.query<ChallengeRow[]>(
    `SELECT id::text AS id, purpose, subject_type, subject_id, flow_id, channel, attempts, max_attempts, expires_at, consumed_at, invalidated_at
         FROM otp_challenges WHERE id = $1`,
    [challengeId],
  );
  return rows[0] ?? null;
}

/** The test double's (RecordingOtpQueue) row for a code message: already `sent`, without payload. */
export function insertSentCodeMessage(db: EntityManager, values: unknown[]) {
  return db.query<Array<{ id: string }>>(
    `INSERT INTO outbox_messages (channel, recipient, purpose, locale, payload, otp_challenge_id, status, next_attempt_at, created_at, sent_at)
       VALUES ($1, $2, $3, $4, NULL, $5, 'sent', $6, $6, $6) RETURNING id::text AS id`,
    values,
  );
}
