import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One POST as the receiver got it. */
export interface ReceivedWebhook {
  /** The parsed JSON body (undefined when it was not JSON). */
  body: Record<string, unknown> | undefined;
  /** The body exactly as received. */
  raw: string;
  headers: IncomingMessage['headers'];
  method: string;
  path: string;
  /** The status it was answered with ('hang' when it never was). */
  answeredWith: number | 'hang';
}

/**
 * A real HTTP server on 127.0.0.1 standing in for an SMS or voice provider. It records
 * every request and answers 200, or what the test scripts:
 *
 * ```ts
 * const sms = await TestWebhookReceiver.start();
 * const config = testConfig({ SMS_WEBHOOK_URL: sms.url });
 * sms.respondNext(503);            // the next request gets 503
 * sms.hangNext();                  // the next request is never answered (forces a timeout)
 * const code = await sms.waitForCode('+393331234567');
 * await sms.stop();
 * ```
 *
 * `requests` holds everything received, including failed ones; `accepted` only those
 * answered with a 2xx, i.e. what a provider would actually have delivered.
 */
export class TestWebhookReceiver {
  readonly requests: ReceivedWebhook[] = [];
  private readonly script: Array<number | 'hang'> = [];
  private readonly hanging = new Set<ServerResponse>();
  private readonly waiters = new Set<() => void>();
  private defaultStatus = 200;
  private delayMs = 0;

  private constructor(private readonly server: Server) {}

  /** Starts on a free port of 127.0.0.1. */
  static async start(): Promise<TestWebhookReceiver> {
    const holder: { receiver?: TestWebhookReceiver } = {};
    const server = createServer((req, res) => holder.receiver?.handle(req, res));
    const receiver = new TestWebhookReceiver(server);
    holder.receiver = receiver;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return receiver;
  }

  /** `http://127.0.0.1:<port>/hook`, for SMS_WEBHOOK_URL or VOICE_WEBHOOK_URL. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  /** Requests answered with a 2xx. */
  get accepted(): ReceivedWebhook[] {
    return this.requests.filter((r) => typeof r.answeredWith === 'number' && r.answeredWith >= 200 && r.answeredWith < 300);
  }

  /** The next requests get these answers in order (a status, or 'hang' for none); then the default. */
  respondNext(...answers: Array<number | 'hang'>): void {
    this.script.push(...answers);
  }

  /** The next `n` requests are never answered, so the sender's timeout fires. */
  hangNext(n = 1): void {
    for (let i = 0; i < n; i++) this.script.push('hang');
  }

  /** The status for requests with nothing scripted (200 at first). */
  respondWith(status: number): void {
    this.defaultStatus = status;
  }

  /** Waits this long before answering each request (to make concurrent senders overlap). */
  delay(ms: number): void {
    this.delayMs = ms;
  }

  /** Forgets requests and scripted answers, and answers 200 again without delay. */
  clear(): void {
    this.requests.length = 0;
    this.script.length = 0;
    this.defaultStatus = 200;
    this.delayMs = 0;
  }

  /** First accepted request (already here or arriving within `timeoutMs`) that matches. */
  async waitFor(predicate: (request: ReceivedWebhook) => boolean, timeoutMs = 5000): Promise<ReceivedWebhook> {
    const find = () => this.accepted.find(predicate);
    const found = find();
    if (found) return found;
    return await new Promise<ReceivedWebhook>((resolve, reject) => {
      const check = () => {
        const match = find();
        if (match) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`TestWebhookReceiver: no matching accepted request within ${timeoutMs} ms (${this.requests.length} received)`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** The 6-digit code in the newest accepted message to `to` after `alreadySeen` of them. */
  async waitForCode(to: string, options: { alreadySeen?: number; timeoutMs?: number } = {}): Promise<string> {
    const skip = options.alreadySeen ?? 0;
    const toThem = () => this.accepted.filter((r) => r.body?.to === to);
    await this.waitFor(() => toThem().length > skip, options.timeoutMs ?? 5000);
    const last = toThem().at(-1)!.body?.text;
    const text = typeof last === 'string' ? last : '';
    // Voice spells the digits out ("1, 2, 3, 4, 5, 6"): join them first.
    const code = /(?<!\d)\d{6}(?!\d)/u.exec(text)?.[0] ?? /(?<!\d)(\d, ){5}\d(?!\d)/u.exec(text)?.[0]?.replace(/, /gu, '');
    if (!code) throw new Error(`TestWebhookReceiver: no 6-digit code in the message to ${to}`);
    return code;
  }

  /** Answers hanging requests (so clients see a reset) and closes the server. */
  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> | undefined;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      const answer = this.script.shift() ?? this.defaultStatus;
      const record: ReceivedWebhook = {
        body,
        raw,
        headers: req.headers,
        method: req.method ?? '',
        path: req.url ?? '',
        answeredWith: answer,
      };
      const respond = () => {
        this.requests.push(record);
        if (answer === 'hang') {
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          return;
        }
        res.writeHead(answer, { 'content-type': 'application/json' });
        res.end(answer >= 200 && answer < 300 ? '{"accepted":true}' : '{"accepted":false}');
        for (const waiter of [...this.waiters]) waiter();
      };
      if (this.delayMs > 0) setTimeout(respond, this.delayMs);
      else respond();
    });
  }
}
