import { type Duration } from '#libs/core';
import { DeliveryError, SmsSender, VoiceCaller, errorCode, type PhoneDelivery } from './senders.js';

/** The contract's JSON body, keys in the contract's order: `{"channel","to","text","locale"}`. */
export function webhookBody(channel: 'sms' | 'voice', message: PhoneDelivery): string {
  return JSON.stringify({ channel, to: message.to, text: message.text, locale: message.locale });
}

/**
 * POSTs the JSON body; a 2xx answer means accepted. Anything else, a timeout or a network
 * error is a retryable DeliveryError. The request carries `Idempotency-Key: <message id>`
 * so a provider can drop the duplicate when an attempt timed out after it was accepted.
 * The URL may hold a token: it never appears in an error.
 */
export async function postWebhook(url: string, channel: 'sms' | 'voice', message: PhoneDelivery, timeout: Duration): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': message.id, 'user-agent': 'Gatehouse-Outbox' },
      body: webhookBody(channel, message),
      redirect: 'error',
      signal: AbortSignal.timeout(timeout.milliseconds),
    });
  } catch (error) {
    throw new DeliveryError(`webhook: ${fetchFailure(error)}`);
  }
  // The answer's body is not needed; free the connection.
  await response.body?.cancel().catch(() => undefined);
  if (response.status < 200 || response.status > 299) throw new DeliveryError(`webhook: HTTP ${response.status}`);
}

/** Duck-typed: fetch errors may come from another realm (DOMException, undici), where `instanceof Error` fails. */
function fetchFailure(error: unknown): string {
  const { name, cause } = (typeof error === 'object' && error !== null ? error : {}) as { name?: unknown; cause?: unknown };
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  const { code, name: causeName } = (typeof cause === 'object' && cause !== null ? cause : {}) as { code?: unknown; name?: unknown };
  if (causeName === 'ConnectTimeoutError' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  return errorCode(code) ?? 'network error';
}

export class WebhookSmsSender extends SmsSender {
  constructor(
    private readonly url: string,
    private readonly timeout: Duration,
  ) {
    super();
  }

  async send(sms: PhoneDelivery): Promise<void> {
    await postWebhook(this.url, 'sms', sms, this.timeout);
  }
}

export class WebhookVoiceCaller extends VoiceCaller {
  constructor(
    private readonly url: string,
    private readonly timeout: Duration,
  ) {
    super();
  }

  async call(call: PhoneDelivery): Promise<void> {
    await postWebhook(this.url, 'voice', call, this.timeout);
  }
}
