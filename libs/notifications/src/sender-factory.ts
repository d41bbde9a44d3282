import type { AppConfig } from '#libs/config';
import type { Clock } from '#libs/core';
import { FileMailSender, FileSmsSender, FileVoiceCaller } from './file-outbox.js';
import type { OutboxPolicy } from './policy.js';
import type { MailSender, SmsSender, VoiceCaller } from './senders.js';
import { SmtpMailSender } from './smtp.js';
import { WebhookSmsSender, WebhookVoiceCaller } from './webhook.js';

export type SenderConfig = Pick<AppConfig, 'smtpUrl' | 'mailFrom' | 'smsWebhookUrl' | 'voiceWebhookUrl' | 'outboxDir'>;

/** SMTP when SMTP_URL is set, else `.eml` files in the outbox directory. */
export function createMailSender(config: SenderConfig, clock: Clock, policy: OutboxPolicy): MailSender {
  return config.smtpUrl
    ? new SmtpMailSender(config.smtpUrl, config.mailFrom, policy.smtpTimeout)
    : new FileMailSender(config.outboxDir, config.mailFrom, clock);
}

/** The SMS webhook when SMS_WEBHOOK_URL is set, else `.sms.json` files in the outbox directory. */
export function createSmsSender(config: SenderConfig, clock: Clock, policy: OutboxPolicy): SmsSender {
  return config.smsWebhookUrl
    ? new WebhookSmsSender(config.smsWebhookUrl, policy.webhookTimeout)
    : new FileSmsSender(config.outboxDir, clock);
}

/** The voice webhook when VOICE_WEBHOOK_URL is set, else `.voice.json` files in the outbox directory. */
export function createVoiceCaller(config: SenderConfig, clock: Clock, policy: OutboxPolicy): VoiceCaller {
  return config.voiceWebhookUrl
    ? new WebhookVoiceCaller(config.voiceWebhookUrl, policy.webhookTimeout)
    : new FileVoiceCaller(config.outboxDir, clock);
}

export interface Senders {
  mail: MailSender;
  sms: SmsSender;
  voice: VoiceCaller;
}

export function createSenders(config: SenderConfig, clock: Clock, policy: OutboxPolicy): Senders {
  return {
    mail: createMailSender(config, clock, policy),
    sms: createSmsSender(config, clock, policy),
    voice: createVoiceCaller(config, clock, policy),
  };
}
