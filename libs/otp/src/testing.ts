import type { EntityManager } from 'typeorm';
import type { Clock } from '#libs/core';
import { OtpMessageQueue, type CodeMessage, type Delivery } from './types.js';
import { insertSentCodeMessage } from './otp.queries.js';

export type EnqueuedCode = CodeMessage & { messageId: string };

/**
 * Test double of the outbox port: remembers every code it was handed (in memory, so tests
 * can "read the message"), and writes a real `outbox_messages` row in the issuing
 * transaction, already `sent` and without payload, so commits and rollbacks are real.
 * Not for production: it keeps plaintext codes in memory.
 */
export class RecordingOtpQueue extends OtpMessageQueue {
  readonly sent: EnqueuedCode[] = [];
  private failures = 0;

  constructor(private readonly clock: Clock) {
    super();
  }

  /** Makes the next `n` enqueues throw, as an outbox that refuses the message would. */
  failNext(n = 1): void {
    this.failures = n;
  }

  /** The latest code sent for a challenge. */
  codeFor(challengeId: string): string {
    const found = this.sent.findLast((m) => m.challengeId === challengeId);
    if (!found) throw new Error(`no code was enqueued for challenge ${challengeId}`);
    return found.code;
  }

  /** The rows are written `sent`: there is nothing to wait for. */
  async deliverNow(_messageId: string, _waitMs: number): Promise<Delivery> {
    return 'sent';
  }

  async status(_messageId: string): Promise<Delivery> {
    return 'sent';
  }

  async enqueueCode(manager: EntityManager, input: CodeMessage): Promise<string> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('outbox unavailable');
    }
    const now = this.clock.now();
    const rows = await insertSentCodeMessage(manager, [
      input.channel,
      input.destination,
      `otp.${input.purpose}`,
      input.locale,
      input.challengeId,
      now,
    ]);
    const messageId = rows[0]!.id;
    this.sent.push({ ...input, messageId });
    return messageId;
  }
}
