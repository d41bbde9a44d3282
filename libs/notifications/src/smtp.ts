import nodemailer, { type NodemailerError } from 'nodemailer';
import { type Duration } from '#libs/core';
import { mailOptions } from './mail-options.js';
import { DeliveryError, MailSender, errorCode, type MailDelivery } from './senders.js';

/**
 * Mail over SMTP (`smtp://[user:pass@]host:port`, STARTTLS when offered; `smtps://` for
 * implicit TLS). One connection per message, so an outage costs nothing between messages.
 */
export class SmtpMailSender extends MailSender {
  private readonly transport;

  constructor(
    url: string,
    private readonly from: string,
    timeout: Duration,
  ) {
    super();
    this.transport = nodemailer.createTransport({
      url,
      connectionTimeout: timeout.milliseconds,
      greetingTimeout: timeout.milliseconds,
      socketTimeout: timeout.milliseconds,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  async send(mail: MailDelivery): Promise<void> {
    try {
      await this.transport.sendMail(mailOptions(mail, this.from));
    } catch (error) {
      throw smtpFailure(error as NodemailerError);
    }
  }
}

/** `smtp: ECONNREFUSED`, `smtp: 451 EMESSAGE`, `smtp: 550 EENVELOPE`: codes only, never the server's text. */
export function smtpFailure(error: NodemailerError): DeliveryError {
  const code = errorCode(error.originalCode) ?? errorCode(error.code);
  const response =
    typeof error.responseCode === 'number' && error.responseCode >= 200 && error.responseCode < 600 ? error.responseCode : undefined;
  const parts = [response, code].filter((p) => p !== undefined);
  return new DeliveryError(`smtp: ${parts.length ? parts.join(' ') : 'error'}`, error.permanent === true);
}
