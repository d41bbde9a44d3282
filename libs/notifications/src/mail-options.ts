import type { MailDelivery } from './senders.js';

/** Message fields shared by the SMTP and file adapters. */
export function mailOptions(mail: MailDelivery, from: string) {
  return {
    from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    ...(mail.html !== undefined ? { html: mail.html } : {}),
    headers: {
      // RFC 3834: no auto-replies to an automatic message.
      'Auto-Submitted': 'auto-generated',
      'Content-Language': mail.locale,
      'X-Gatehouse-Message-Id': mail.id,
    },
    // Content never pulls in local files or remote URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}
