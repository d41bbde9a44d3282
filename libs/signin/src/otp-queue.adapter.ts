import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { OutboxService, messageLocaleFor, otpMessage, resolveLocale } from '#libs/notifications';
import { OtpMessageQueue, type CodeMessage, type Delivery } from '#libs/otp';

/** Delivers one-time codes through the transactional outbox, with link-free templates. */
@Injectable()
export class OutboxOtpQueue extends OtpMessageQueue {
  constructor(private readonly outbox: OutboxService) {
    super();
  }

  deliverNow(messageId: string, waitMs: number): Promise<Delivery> {
    return this.outbox.deliverNow(messageId, waitMs);
  }

  async status(messageId: string): Promise<Delivery> {
    return (await this.outbox.status(messageId)).status;
  }

  async enqueueCode(manager: EntityManager, input: CodeMessage): Promise<string> {
    // The person's own language, else their organization's default; `input.locale` only for
    // subjects without a stored one (staff).
    const locale = (await messageLocaleFor(manager, input.subject, null)) ?? resolveLocale(input.locale);
    const message = otpMessage({
      purpose: input.purpose,
      code: input.code,
      channel: input.channel,
      validityMinutes: input.validityMinutes,
      locale,
      ...(input.description ? { description: input.description } : {}),
      ...(input.variant ? { variant: input.variant } : {}),
    });
    return await this.outbox.enqueue(
      manager,
      {
        channel: input.channel,
        to: input.destination,
        purpose: `otp.${input.purpose}`,
        locale: message.locale,
        subject: message.subject,
        text: message.text,
      },
      { otpChallengeId: input.challengeId },
    );
  }
}
