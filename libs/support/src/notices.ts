import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { OutboxService, mobileReplacedSms, noticeMessage, type NoticeKind, type NoticeParams } from '../../notifications/src/index.js';

/**
 * Link-free notices about support actions, written to the outbox in the action's own
 * transaction (so a notice exists exactly when the change committed) and handed to the
 * sender right after the commit (the outbox worker retries what fails).
 */
@Injectable()
export class SupportNotices {
  constructor(private readonly outbox: OutboxService) {}

  /** Queues one notice email in the caller's transaction; returns the message id for `deliver`. */
  async email(manager: EntityManager, to: string, kind: NoticeKind, params: NoticeParams): Promise<string> {
    const notice = noticeMessage(kind, params);
    return await this.outbox.enqueue(manager, {
      channel: 'email',
      to,
      purpose: `notice.${kind}`,
      subject: notice.subject,
      text: notice.text,
    });
  }

  /** Queues the SMS to a mobile number that support replaced or removed. */
  async mobileReplaced(manager: EntityManager, to: string, at: Date): Promise<string> {
    const message = mobileReplacedSms({ at });
    return await this.outbox.enqueue(manager, { channel: 'sms', to, purpose: 'notice.mobile_replaced', text: message.text });
  }

  /** After the commit: sends now without making the caller wait. */
  deliver(ids: readonly string[]): void {
    for (const id of ids) this.outbox.deliverNow(id).catch(() => undefined);
  }
}
