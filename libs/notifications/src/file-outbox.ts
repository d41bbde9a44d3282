import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { type Clock } from '#libs/core';
import { DeliveryError, MailSender, SmsSender, VoiceCaller, errorCode, type MailDelivery, type PhoneDelivery } from './senders.js';
import { mailOptions } from './mail-options.js';
import { webhookBody } from './webhook.js';

/** `20260115T090000.123Z`: ISO 8601 basic format, sortable and without `:` (portable file names). */
export function fileTimestamp(at: Date): string {
  return at.toISOString().replace(/[-:]/gu, '');
}

/**
 * Writes a file readable only by its owner (0600), atomically: readers see the whole file
 * or none of it. The directory is created (0700, its parents with the default mode) when missing.
 */
export async function writeOutboxFile(dir: string, name: string, content: string | Buffer): Promise<string> {
  try {
    // Only the outbox itself is private: its parents (e.g. DATA_DIR, where embedded PostgreSQL keeps its data and must
    // reach it as the postgres user when run as root) keep the default mode.
    await mkdir(path.dirname(dir), { recursive: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const target = path.join(dir, name);
    const temp = path.join(dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await writeFile(temp, content, { mode: 0o600, flag: 'wx' });
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return target;
  } catch (error) {
    throw new DeliveryError(`file: ${errorCode((error as NodeJS.ErrnoException).code) ?? 'write failed'}`);
  }
}

/**
 * Development mail: each message becomes `<time>-<id>.eml` (RFC 822, CRLF) in the outbox
 * directory, built by nodemailer's stream transport exactly as SMTP would send it.
 */
export class FileMailSender extends MailSender {
  private readonly composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

  constructor(
    private readonly dir: string,
    private readonly from: string,
    private readonly clock: Clock,
  ) {
    super();
  }

  async send(mail: MailDelivery): Promise<void> {
    let message: Buffer;
    try {
      const info = await this.composer.sendMail(mailOptions(mail, this.from));
      message = info.message as Buffer;
    } catch (error) {
      throw new DeliveryError(`file: ${errorCode((error as NodeJS.ErrnoException).code) ?? 'compose failed'}`, true);
    }
    await writeOutboxFile(this.dir, `${fileTimestamp(this.clock.now())}-${mail.id}.eml`, message);
  }
}

/** Development SMS: `<time>-<id>.sms.json` in the outbox directory, the same JSON a webhook gets. */
export class FileSmsSender extends SmsSender {
  constructor(
    private readonly dir: string,
    private readonly clock: Clock,
  ) {
    super();
  }

  async send(sms: PhoneDelivery): Promise<void> {
    await writeOutboxFile(this.dir, `${fileTimestamp(this.clock.now())}-${sms.id}.sms.json`, `${webhookBody('sms', sms)}\n`);
  }
}

/** Development voice: `<time>-<id>.voice.json` in the outbox directory, the same JSON a webhook gets. */
export class FileVoiceCaller extends VoiceCaller {
  constructor(
    private readonly dir: string,
    private readonly clock: Clock,
  ) {
    super();
  }

  async call(call: PhoneDelivery): Promise<void> {
    await writeOutboxFile(this.dir, `${fileTimestamp(this.clock.now())}-${call.id}.voice.json`, `${webhookBody('voice', call)}\n`);
  }
}
