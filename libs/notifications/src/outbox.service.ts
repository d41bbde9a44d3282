import { Inject, Injectable, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource, type EntityManager } from 'typeorm';
import { SECRETS, type Secrets } from '#libs/config';
import { Clock, DomainError, isUuid } from '#libs/core';
import { messageLocaleFor } from './locale.queries.js';
import { validateMessage, type MessageContent, type OutboxMessageStatus, type OutboxStatus, type OutgoingMessage } from './message.js';
import { insertOutboxMessage, outboxMessageStatus, withdrawPendingMessage } from './outbox.queries.js';
import { PayloadCipher } from './payload-cipher.js';
import { DEFAULT_OUTBOX_POLICY, OUTBOX_POLICY, type OutboxPolicy } from './policy.js';
import { OutboxWorker } from './outbox.worker.js';
import { noticeMessage, type NoticeKind, type NoticeParams } from './templates.js';

/** How often deliverNow looks again (real time: it waits for a send, not for an expiry). */
const DELIVER_NOW_POLL_MS = 100;
export const DEFAULT_DELIVER_NOW_TIMEOUT_MS = 8000;

/**
 * The transactional outbox: a message is written in the caller's transaction (with the OTP
 * row it belongs to, say), so it exists exactly when that transaction commits. Its content
 * is stored encrypted (AES-256-GCM under Secrets.outbox) until it is sent or has failed.
 */
@Injectable()
export class OutboxService {
  private readonly cipher: PayloadCipher;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    @Inject(SECRETS) secrets: Secrets,
    private readonly worker: OutboxWorker,
    @Optional() @Inject(OUTBOX_POLICY) private readonly policy: OutboxPolicy = DEFAULT_OUTBOX_POLICY,
  ) {
    this.cipher = new PayloadCipher(secrets.outbox);
  }

  /**
   * Stores one message in the caller's transaction and returns its id. It is due at once;
   * the worker (or deliverNow after the commit) sends it. Throws `invalid_message` for a
   * message no adapter could send (bad address, email without subject, …).
   */
  async enqueue(manager: EntityManager, message: OutgoingMessage, options: { otpChallengeId?: string } = {}): Promise<string> {
    validateMessage(message);
    const id = randomUUID();
    const now = this.clock.now();
    const content: MessageContent = { text: message.text };
    if (message.subject !== undefined) content.subject = message.subject;
    if (message.html !== undefined) content.html = message.html;
    const payload = this.cipher.encrypt(content, { id, channel: message.channel, recipient: message.to });
    await insertOutboxMessage(manager, [
      id,
      message.channel,
      message.to,
      message.purpose,
      message.locale ?? 'en',
      payload,
      options.otpChallengeId ?? null,
      this.policy.maxAttempts,
      now,
    ]);
    return id;
  }

  /**
   * Takes a message back in the caller's transaction (whatever made it pointless commits with
   * it, e.g. a cancelled transaction code): if it is still `pending` and no worker holds it,
   * it becomes `withdrawn`, its encrypted content is erased and no worker claims it again.
   * Returns false, changing nothing, when it is being sent (a worker's lease is running), was
   * sent or has failed. The row stays, with `withdrawn_at`, for the record.
   *
   * Against a worker: the claim skips a row this transaction holds (`SKIP LOCKED`), and a claim
   * that got there first sets a lease this UPDATE then sees (it re-reads the row it waited for).
   */
  async withdraw(manager: EntityManager, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    return withdrawPendingMessage(manager, id, this.clock.now());
  }

  /** Where a message stands (a withdrawn one: `failed`, `withdrawn`). Throws `outbox_message_not_found` for an unknown id. */
  async status(id: string): Promise<OutboxMessageStatus> {
    if (!isUuid(id)) throw notFound();
    const row = await outboxMessageStatus(this.dataSource, id);
    if (!row) throw notFound();
    return { status: row.status, attempts: row.attempts, lastError: row.last_error };
  }

  /**
   * Stores a security notice (`noticeMessage`) by email to a user, in the user's message
   * language, in the caller's transaction; returns its id (purpose `notice.<kind>`).
   */
  async enqueueNotice(
    manager: EntityManager,
    user: { id: string; email: string; firstName: string },
    kind: NoticeKind,
    params: Omit<NoticeParams, 'firstName' | 'locale'> = {},
  ): Promise<string> {
    const locale = await messageLocaleFor(manager, { type: 'user', id: user.id });
    const notice = noticeMessage(kind, { ...params, firstName: user.firstName, locale });
    return await this.enqueue(manager, {
      channel: 'email',
      locale,
      to: user.email,
      purpose: `notice.${kind}`,
      subject: notice.subject,
      text: notice.text,
    });
  }

  /**
   * Asks the worker to attempt this message now (and again whenever a retry falls due),
   * polling until it is `sent` or `failed` (or withdrawn) or `timeoutMs` has passed; returns the status
   * seen last. Call it after the enqueueing transaction committed.
   */
  async deliverNow(id: string, timeoutMs: number = DEFAULT_DELIVER_NOW_TIMEOUT_MS): Promise<OutboxStatus> {
    // A bound on real waiting time, not an expiry: the monotonic clock fits, the injected Clock (which may stand still in tests) does not.
    const deadline = performance.now() + Math.max(0, timeoutMs);
    for (;;) {
      let { status } = await this.status(id);
      if (status !== 'pending') return status;
      if (await this.worker.deliver(id)) {
        ({ status } = await this.status(id));
        if (status !== 'pending') return status;
      }
      const left = deadline - performance.now();
      if (left <= 0) return status;
      await sleep(Math.min(left, DELIVER_NOW_POLL_MS));
    }
  }
}

function notFound(): DomainError {
  return new DomainError('outbox_message_not_found', 'No such message.');
}
