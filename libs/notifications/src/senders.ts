/**
 * Ports for the outside world (one per channel) and their adapters. The outbox worker
 * only knows the ports; the factory picks adapters from the configuration.
 *
 * Adapters report failure with a DeliveryError whose `reason` is short and carries no
 * message content (`smtp: ECONNREFUSED`, `webhook: HTTP 503`): it is stored as the
 * message's last_error.
 */

export interface MailDelivery {
  /** Outbox message id; used for file names and as an idempotency hint. */
  id: string;
  to: string;
  subject: string;
  text: string;
  html?: string;
  locale: string;
}

export interface PhoneDelivery {
  id: string;
  /** E.164 */
  to: string;
  text: string;
  locale: string;
}

/** Sends one email. */
export abstract class MailSender {
  abstract send(mail: MailDelivery): Promise<void>;
}

/** Sends one text message. */
export abstract class SmsSender {
  abstract send(sms: PhoneDelivery): Promise<void>;
}

/** Places one voice call that reads the text out. */
export abstract class VoiceCaller {
  abstract call(call: PhoneDelivery): Promise<void>;
}

/** A delivery that did not happen. `reason` never contains message content. */
export class DeliveryError extends Error {
  constructor(
    readonly reason: string,
    /** True when trying again cannot help (e.g. SMTP 550): the message fails at once. */
    readonly permanent = false,
  ) {
    super(reason);
    this.name = 'DeliveryError';
  }
}

const CODE = /^[A-Z][A-Z0-9_]{1,39}$/u;

/** An error code (`ECONNREFUSED`, `ETIMEDOUT`) if the value looks like one, else undefined. Never free text. */
export function errorCode(value: unknown): string | undefined {
  return typeof value === 'string' && CODE.test(value) ? value : undefined;
}
