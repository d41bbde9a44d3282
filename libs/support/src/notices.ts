import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import {
  OutboxService,
  messageLocaleFor,
  mobileReplacedSms,
  noticeMessage,
  type MessageSubject,
  type NoticeKind,
  type NoticeParams,
} from '#libs/notifications';

/**
 * Link-free notices about support actions, written to the outbox in the action's own
 * transaction (so a notice exists exactly when the change committed) and handed to the
 * sender right after the commit (the outbox worker retries what fails).
 */
@Injectable()
export class SupportNotices {
  constructor(private readonly outbox: OutboxService) {}

  /**
   * Queues one notice email in the caller's transaction; returns the message id for `deliver`.
   * `about`: the person (user or legacy account) whose language the notice is written in.
   */
  async email(manager: EntityManager, to: string, kind: NoticeKind, params: NoticeParams, about?: MessageSubject): Promise<string> {
    const locale = params.locale ?? (about ? await messageLocaleFor(manager, about) : undefined);
    const notice = noticeMessage(kind, { ...params, ...(locale ? { locale } : {}) });
    return await this.outbox.enqueue(manager, {
      channel: 'email',
      locale: notice.locale,
      to,
      purpose: `notice.${kind}`,
      subject: notice.subject,
      text: notice.text,
    });
  }

  /** Queues the SMS to a mobile number that support replaced or removed. */
  async mobileReplaced(manager: EntityManager, to: string, at: Date, about?: MessageSubject): Promise<string> {
    const message = mobileReplacedSms({ at, ...(about ? { locale: await messageLocaleFor(manager, about) } : {}) });
    return await this.outbox.enqueue(manager, {
      channel: 'sms',
      to,
      purpose: 'notice.mobile_replaced',
      locale: message.locale,
      text: message.text,
    });
  }

  /** After the commit: sends now without making the caller wait. */
  deliver(ids: readonly string[]): void {
    for (const id of ids) this.outbox.deliverNow(id).catch(() => undefined);
  }
}
