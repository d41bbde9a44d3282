import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { SECRETS, type Secrets } from '#libs/config';
import { Clock } from '#libs/core';
import type { MessageContent } from './message.js';
import {
  claimDueMessages,
  failAbandonedMessages,
  recordMessageFailed,
  recordMessageRetry,
  recordMessageSent,
  type ClaimedRow,
} from './outbox.queries.js';
import { PayloadCipher } from './payload-cipher.js';
import { DEFAULT_OUTBOX_POLICY, OUTBOX_POLICY, backoffAfter, type OutboxPolicy } from './policy.js';
import { DeliveryError, MailSender, SmsSender, VoiceCaller } from './senders.js';

type Outcome = { kind: 'sent' } | { kind: 'retry'; reason: string } | { kind: 'failed'; reason: string };

/**
 * Sends what the outbox holds. Runs in every app node, and any number may run at once:
 *
 * - A run claims due messages in one statement (`FOR UPDATE SKIP LOCKED`) and marks each
 *   with a lease (`locked_until = now + lease`) and its attempt number. Other workers skip
 *   a leased message; a crashed node's lease simply runs out.
 * - The attempt number is the fencing token: a result is recorded only if the row still
 *   has that number and is pending, so a worker whose lease was taken over cannot
 *   overwrite the newer attempt.
 * - A failed attempt is retried after `baseBackoff × 2^(attempts-1)` (from the injected
 *   Clock); after `max_attempts` the message is `failed`. On `sent` or `failed` the
 *   encrypted payload is erased.
 *
 * Logs carry the message id, channel, purpose and error code, never the text.
 */
@Injectable()
export class OutboxWorker {
  private readonly logger = new Logger('Outbox');
  private readonly cipher: PayloadCipher;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private consecutiveErrors = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    @Inject(SECRETS) secrets: Secrets,
    private readonly mail: MailSender,
    private readonly sms: SmsSender,
    private readonly voice: VoiceCaller,
    @Optional() @Inject(OUTBOX_POLICY) private readonly policy: OutboxPolicy = DEFAULT_OUTBOX_POLICY,
  ) {
    this.cipher = new PayloadCipher(secrets.outbox);
  }

  /** Claims up to `limit` due messages, sends them (concurrently) and records each result. Returns how many it attempted. */
  async runOnce(limit: number = this.policy.batchSize): Promise<number> {
    const now = this.clock.now();
    await this.failAbandoned(now);
    const claimed = await this.claim(now, limit);
    await Promise.all(claimed.map((row) => this.process(row)));
    return claimed.length;
  }

  /**
   * Attempts one message now if it is due and nobody holds it. Returns false when it was
   * not claimed (not due yet, leased by another worker, or no longer pending).
   */
  async deliver(id: string): Promise<boolean> {
    const claimed = await this.claim(this.clock.now(), 1, id);
    await Promise.all(claimed.map((row) => this.process(row)));
    return claimed.length > 0;
  }

  /** Starts the periodic loop (idempotent). Its timer is unref'd: it never keeps the process alive. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops the loop and waits for a run in progress to finish. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.inFlight = this.tick();
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let processed = 0;
    try {
      processed = await this.runOnce();
      this.consecutiveErrors = 0;
    } catch (error) {
      this.consecutiveErrors += 1;
      this.logger.error(`outbox run failed: ${error instanceof Error ? error.name : 'error'} ${errorText(error)}`);
    } finally {
      this.inFlight = undefined;
    }
    if (!this.running) return;
    const interval = this.policy.pollInterval.milliseconds;
    // A full batch means more may be waiting; a failing database gets a growing pause.
    const delay =
      this.consecutiveErrors > 0
        ? Math.min(30_000, interval * 2 ** Math.min(6, this.consecutiveErrors))
        : processed >= this.policy.batchSize
          ? 0
          : interval;
    this.schedule(delay);
  }

  /** Messages whose last allowed attempt was claimed by a node that never reported back. */
  private async failAbandoned(now: Date): Promise<void> {
    const rows = await failAbandonedMessages(this.dataSource, now);
    for (const row of rows) this.logger.warn(`outbox message ${row.id} failed: its last attempt's lease expired`);
  }

  private async claim(now: Date, limit: number, id?: string): Promise<ClaimedRow[]> {
    const lease = this.policy.lease.after(now);
    return claimDueMessages(this.dataSource, { now, lease, limit, id: id ?? null });
  }

  /** Sends one claimed message and records the outcome. Never throws. */
  private async process(row: ClaimedRow): Promise<void> {
    const outcome = await this.attempt(row);
    try {
      await this.record(row, outcome);
    } catch (error) {
      // The lease runs out and another attempt follows; nothing is lost.
      this.logger.error(`outbox message ${row.id}: could not record the attempt: ${errorText(error)}`);
    }
  }

  private async attempt(row: ClaimedRow): Promise<Outcome> {
    // A code that was replaced by a newer one, used or expired while waiting is not worth sending; nor is a
    // transaction code that expired, was used, cancelled or locked meanwhile.
    if (row.stale) return { kind: 'failed', reason: 'otp: code no longer valid' };
    let content: MessageContent;
    try {
      if (!row.payload) throw new Error('no payload');
      content = this.cipher.decrypt(row.payload, { id: row.id, channel: row.channel, recipient: row.recipient });
    } catch {
      return { kind: 'failed', reason: 'payload: cannot decrypt' };
    }
    try {
      await this.send(row, content);
      return { kind: 'sent' };
    } catch (error) {
      const failure = error instanceof DeliveryError ? error : new DeliveryError(`${row.channel}: ${errorName(error)}`);
      if (failure.permanent || row.attempts >= row.max_attempts) return { kind: 'failed', reason: failure.reason };
      return { kind: 'retry', reason: failure.reason };
    }
  }

  private async send(row: ClaimedRow, content: MessageContent): Promise<void> {
    const base = { id: row.id, to: row.recipient, text: content.text, locale: row.locale };
    switch (row.channel) {
      case 'email':
        await this.mail.send({ ...base, subject: content.subject ?? '', ...(content.html !== undefined ? { html: content.html } : {}) });
        return;
      case 'sms':
        await this.sms.send(base);
        return;
      case 'voice':
        await this.voice.call(base);
        return;
    }
  }

  private async record(row: ClaimedRow, outcome: Outcome): Promise<void> {
    const now = this.clock.now();
    switch (outcome.kind) {
      case 'sent':
        await recordMessageSent(this.dataSource, row, now);
        this.logger.log(`outbox message ${row.id} (${row.channel}, ${row.purpose}) sent on attempt ${row.attempts}`);
        return;
      case 'retry': {
        const next = backoffAfter(row.attempts, this.policy).after(now);
        await recordMessageRetry(this.dataSource, row, next, outcome.reason);
        this.logger.warn(
          `outbox message ${row.id} (${row.channel}, ${row.purpose}) attempt ${row.attempts}/${row.max_attempts} failed: ${outcome.reason}; retry at ${next.toISOString()}`,
        );
        return;
      }
      case 'failed':
        await recordMessageFailed(this.dataSource, row, now, outcome.reason);
        this.logger.warn(
          `outbox message ${row.id} (${row.channel}, ${row.purpose}) failed after ${row.attempts} attempt(s): ${outcome.reason}`,
        );
        return;
    }
  }
}

function errorName(error: unknown): string {
  return error instanceof Error && /^[A-Za-z]{1,40}$/u.test(error.name) ? error.name : 'error';
}

/** Infrastructure errors (database) carry no message content; keep them short anyway. */
function errorText(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 200) : 'unknown error';
}
