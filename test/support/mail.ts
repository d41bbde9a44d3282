import type { AddressInfo } from 'node:net';
import PostalMime, { type Email } from 'postal-mime';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

/** One message as the test SMTP server received it. */
export interface ReceivedMail {
  /** SMTP envelope (MAIL FROM / RCPT TO), lower-cased as sent. */
  envelope: { from: string; to: string[] };
  /** The message exactly as received (RFC 822). */
  raw: string;
  /** Parsed with postal-mime. */
  parsed: Email;
  subject: string;
  /** The text/plain part ('' when there is none). */
  text: string;
  /** The outbox message id (`X-Gatehouse-Message-Id`), when present. */
  outboxId: string | undefined;
  /** The user name the client authenticated with (credentials in SMTP_URL), if it did. */
  user: string | undefined;
}

type SmtpError = Error & { responseCode: number };

function smtpError(code: number, message: string): SmtpError {
  return Object.assign(new Error(message), { responseCode: code });
}

/**
 * A real SMTP server (the `smtp-server` package) on 127.0.0.1 and a free port, for tests
 * that need to read the mail Gatehouse sends, e.g. to get a one-time code:
 *
 * ```ts
 * const mail = await TestMailServer.start();
 * const config = testConfig({ SMTP_URL: mail.url });
 * // … trigger a sign-in …
 * const code = await mail.waitForCode('ada@example.com');
 * await mail.stop();
 * ```
 *
 * Outages: `failNext(n)` answers the next n messages with a temporary error (451),
 * `rejectRecipient(address)` answers RCPT TO with a permanent 550, and `stop()` then
 * `start()` closes and reopens the port (connection refused in between).
 * Plain SMTP without STARTTLS; authentication is optional and any credentials in the URL are accepted.
 */
export class TestMailServer {
  /** Every accepted message, oldest first. */
  readonly messages: ReceivedMail[] = [];
  private server: SMTPServer | undefined;
  private failures: Array<{ code: number }> = [];
  private readonly rejected = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  private port = 0;

  private constructor() {}

  /** Starts a server on a free port of 127.0.0.1. */
  static async start(): Promise<TestMailServer> {
    const mail = new TestMailServer();
    await mail.start();
    return mail;
  }

  /** `smtp://127.0.0.1:<port>`, for SMTP_URL. */
  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** (Re)opens the port: the same one after a stop(), a free one the first time. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      authOptional: true,
      allowInsecureAuth: true,
      onAuth: (auth, _session, callback) => callback(null, { user: auth.username ?? 'anonymous' }),
      logger: false,
      banner: 'Gatehouse test SMTP',
      onRcptTo: (address, _session, callback) => {
        const code = this.rejected.get(address.address.toLowerCase());
        callback(code ? smtpError(code, 'Mailbox unavailable (test)') : null);
      },
      onData: (stream, session, callback) => this.receive(stream, session, callback),
    });
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the port and every open connection; `start()` reopens it on the same port. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const connection of server.connections) connection.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `n` messages get a temporary failure (`451` by default) after DATA and are not stored. */
  failNext(n = 1, code = 451): void {
    for (let i = 0; i < n; i++) this.failures.push({ code });
  }

  /** RCPT TO for this address is refused with `code` (550: a permanent failure) until `acceptRecipient`. */
  rejectRecipient(address: string, code = 550): void {
    this.rejected.set(address.toLowerCase(), code);
  }

  acceptRecipient(address: string): void {
    this.rejected.delete(address.toLowerCase());
  }

  /** Forgets received messages and pending failures. */
  clear(): void {
    this.messages.length = 0;
    this.failures = [];
    this.rejected.clear();
  }

  /** Messages whose envelope or To: header names this address (case-insensitive). */
  messagesTo(address: string): ReceivedMail[] {
    const wanted = address.toLowerCase();
    return this.messages.filter(
      (m) => m.envelope.to.includes(wanted) || (m.parsed.to ?? []).some((a) => 'address' in a && a.address?.toLowerCase() === wanted),
    );
  }

  /**
   * Resolves with the first received message (already here, or arriving within
   * `timeoutMs`) that matches; rejects on timeout, listing what did arrive.
   */
  async waitFor(predicate: (mail: ReceivedMail) => boolean, timeoutMs = 5000): Promise<ReceivedMail> {
    const found = this.messages.find(predicate);
    if (found) return found;
    return await new Promise<ReceivedMail>((resolve, reject) => {
      const check = () => {
        const match = this.messages.find(predicate);
        if (match) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        const seen = this.messages.map((m) => `${m.envelope.to.join(',')}: ${JSON.stringify(m.subject)}`).join('; ') || 'none';
        reject(new Error(`TestMailServer: no matching message within ${timeoutMs} ms (received: ${seen})`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /**
   * The 6-digit code in the newest message to `address` that arrives after the
   * `alreadySeen` messages to it (default: any). Taken from the subject, checked against the text.
   */
  async waitForCode(address: string, options: { alreadySeen?: number; timeoutMs?: number } = {}): Promise<string> {
    const skip = options.alreadySeen ?? 0;
    await this.waitFor(() => this.messagesTo(address).length > skip, options.timeoutMs ?? 5000);
    const mail = this.messagesTo(address).at(-1)!;
    const code = extractCode(mail.subject) ?? extractCode(mail.text);
    if (!code) throw new Error(`TestMailServer: no 6-digit code in the message to ${address}`);
    return code;
  }

  private receive(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null) => void): void {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (error: Error) => callback(error));
    stream.on('end', () => {
      const failure = this.failures.shift();
      if (failure) {
        callback(smtpError(failure.code, 'Try again later (test)'));
        return;
      }
      const raw = Buffer.concat(chunks);
      PostalMime.parse(raw).then(
        (parsed) => {
          const header = parsed.headers.find((h) => h.key === 'x-gatehouse-message-id');
          const from = session.envelope.mailFrom;
          this.messages.push({
            envelope: { from: from ? from.address.toLowerCase() : '', to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()) },
            raw: raw.toString('utf8'),
            parsed,
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            outboxId: header?.value.trim(),
            user: typeof session.user === 'string' ? session.user : undefined,
          });
          callback(null);
          for (const waiter of [...this.waiters]) waiter();
        },
        (error: unknown) => callback(error instanceof Error ? error : new Error('unparseable message')),
      );
    });
  }
}

/** The first stand-alone run of exactly 6 digits in a text. */
export function extractCode(text: string): string | undefined {
  return /(?<!\d)\d{6}(?!\d)/u.exec(text)?.[0];
}
