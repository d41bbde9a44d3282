import { Global, Logger, Module, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import PostalMime from 'postal-mime';
import { DataSource } from 'typeorm';
import { APP_CONFIG, SECRETS, loadConfig, testSecrets, type AppConfig } from '#libs/config';
import { Clock, DomainError, Duration, FixedClock } from '#libs/core';
import {
  FileMailSender,
  MailSender,
  NotificationsModule,
  OutboxService,
  OutboxWorker,
  SmsSender,
  SmtpMailSender,
  createOutbox,
  otpMessage,
  type OutboxParts,
  type OutgoingMessage,
} from '#libs/notifications';
import { createDataSource } from '#libs/platform';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { TestMailServer } from '../support/mail.js';
import { TestWebhookReceiver } from '../support/webhook.js';
import { codeOccurrences } from '../support/codes.js';

/** Every log line the outbox writes, to prove none carries a code. */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown): void {
    this.lines.push(String(message));
  }
  error(message: unknown): void {
    this.lines.push(String(message));
  }
  warn(message: unknown): void {
    this.lines.push(String(message));
  }
}

const START = '2026-05-01T10:00:00.000Z';
const POLICY = {
  maxAttempts: 3,
  baseBackoff: Duration.ofSeconds(1),
  webhookTimeout: Duration.ofMilliseconds(300),
  smtpTimeout: Duration.ofSeconds(3),
  lease: Duration.ofSeconds(60),
};

describe('notifications: transactional outbox and delivery', () => {
  let db: TestDatabase;
  let mail: TestMailServer;
  let sms: TestWebhookReceiver;
  let voice: TestWebhookReceiver;
  let dataDir: string;
  let config: AppConfig;
  let outbox: OutboxParts;
  const clock = new FixedClock(START);
  const secrets = testSecrets('notifications');
  const logs = new CapturingLogger();
  const usedCodes = new Set<string>();
  let codeSeed = 402_913;

  /** A fresh 6-digit code, remembered so the last test can look for it in logs and errors. */
  const newCode = () => {
    codeSeed += 7919;
    const code = String((codeSeed % 900_000) + 100_000);
    usedCodes.add(code);
    return code;
  };

  const emailMessage = (code: string, to = 'ada@example.com'): OutgoingMessage => {
    const m = otpMessage({ purpose: 'login', code, channel: 'email', validityMinutes: 10 });
    return { channel: 'email', to, purpose: 'otp.login', subject: m.subject!, text: m.text };
  };
  const phoneMessage = (channel: 'sms' | 'voice', code: string, to = '+393331234567'): OutgoingMessage => ({
    channel,
    to,
    purpose: 'otp.login',
    text: otpMessage({ purpose: 'login', code, channel, validityMinutes: 10 }).text,
  });

  const enqueue = (message: OutgoingMessage, parts: OutboxParts = outbox) =>
    db.dataSource.transaction((manager) => parts.service.enqueue(manager, message));

  const row = async (id: string) => {
    const rows = await db.dataSource.query(`SELECT * FROM outbox_messages WHERE id = $1`, [id]);
    return rows[0] as {
      status: string;
      attempts: number;
      max_attempts: number;
      payload: Buffer | null;
      last_error: string | null;
      next_attempt_at: Date;
      locked_until: Date | null;
      sent_at: Date | null;
      failed_at: Date | null;
      recipient: string;
      locale: string;
    };
  };

  const configFor = (env: Record<string, string>) =>
    loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, MAIL_FROM: 'Gatehouse <no-reply@gatehouse.test>', ...env });

  beforeAll(async () => {
    Logger.overrideLogger(logs);
    [db, mail, sms, voice, dataDir] = await Promise.all([
      createTestDatabase(),
      TestMailServer.start(),
      TestWebhookReceiver.start(),
      TestWebhookReceiver.start(),
      mkdtemp(path.join(tmpdir(), 'gatehouse-outbox-')),
    ]);
    config = configFor({ SMTP_URL: mail.url, SMS_WEBHOOK_URL: sms.url, VOICE_WEBHOOK_URL: voice.url });
    outbox = createOutbox({ dataSource: db.dataSource, clock, secrets, config, policy: POLICY });
  });

  afterAll(async () => {
    await Promise.all([db.drop(), mail.stop(), sms.stop(), voice.stop(), rm(dataDir, { recursive: true, force: true })]);
  });

  // Every last_error any test produced, collected before the next test clears the table.
  const recordedErrors: string[] = [];
  afterEach(async () => {
    const rows: Array<{ last_error: string }> = await db.dataSource.query(
      `SELECT last_error FROM outbox_messages WHERE last_error IS NOT NULL`,
    );
    recordedErrors.push(...rows.map((r) => r.last_error));
  });

  beforeEach(async () => {
    clock.set(START);
    mail.clear();
    sms.clear();
    voice.clear();
    await mail.start();
    await db.dataSource.query(`DELETE FROM outbox_messages`);
  });

  it('sends an email over SMTP with the code in its subject and plain-text part, then erases the payload', async () => {
    const code = newCode();
    const id = await enqueue(emailMessage(code));

    const stored = await row(id);
    expect(stored).toMatchObject({ status: 'pending', attempts: 0, max_attempts: 3, recipient: 'ada@example.com', locale: 'en' });
    expect(stored.payload).toBeInstanceOf(Buffer);

    expect(await outbox.worker.runOnce()).toBe(1);
    const received = await mail.waitFor((m) => m.outboxId === id);
    expect(received.envelope).toEqual({ from: 'no-reply@gatehouse.test', to: ['ada@example.com'] });
    expect(received.parsed.from).toMatchObject({ name: 'Gatehouse', address: 'no-reply@gatehouse.test' });
    expect(received.subject).toContain(code);
    expect(received.text).toContain(code);
    expect(received.text).toContain('10 minutes');
    expect(received.parsed.headers.find((h) => h.key === 'auto-submitted')?.value).toBe('auto-generated');

    const sent = await row(id);
    expect(sent).toMatchObject({ status: 'sent', attempts: 1, payload: null, last_error: null, locked_until: null });
    expect(sent.sent_at?.toISOString()).toBe(START);
    expect(await outbox.service.status(id)).toEqual({ status: 'sent', attempts: 1, lastError: null });
    expect(mail.messages).toHaveLength(1);
  });

  it('stores the payload encrypted (iv | tag | ciphertext), never the code or the text', async () => {
    const code = newCode();
    const message = emailMessage(code);
    const [a, b] = [await enqueue(message), await enqueue(message)];
    const [ra, rb] = [await row(a), await row(b)];
    for (const payload of [ra.payload!, rb.payload!]) {
      for (const encoding of ['utf8', 'latin1', 'hex', 'base64'] as const) {
        expect(payload.toString(encoding)).not.toContain(code);
      }
      expect(payload.toString('latin1')).not.toContain('Gatehouse');
      // 12-byte IV + 16-byte tag + at least the text.
      expect(payload.length).toBeGreaterThan(28 + message.text.length);
    }
    // A random IV per message: the same content never encrypts the same way twice.
    expect(ra.payload!.subarray(0, 12).equals(rb.payload!.subarray(0, 12))).toBe(false);
    const [{ hit }] = await db.dataSource.query(
      `SELECT count(*)::int AS hit FROM outbox_messages WHERE position(convert_to($1, 'UTF8') IN payload) > 0`,
      [code],
    );
    expect(hit).toBe(0);
  });

  it('deliverNow sends at once and answers sent; a second call sends nothing more', async () => {
    const id = await enqueue(emailMessage(newCode(), 'bob@example.com'));
    expect(await outbox.service.deliverNow(id, 5000)).toBe('sent');
    expect(mail.messagesTo('bob@example.com')).toHaveLength(1);
    expect(await outbox.service.deliverNow(id, 5000)).toBe('sent');
    expect(mail.messages).toHaveLength(1);
  });

  it('authenticates with the credentials in SMTP_URL', async () => {
    const url = new URL(mail.url);
    url.username = 'mailer';
    url.password = 's3cret';
    const authed = createOutbox({
      dataSource: db.dataSource,
      clock,
      secrets,
      config: configFor({ SMTP_URL: url.toString() }),
      policy: POLICY,
    });
    const id = await enqueue(emailMessage(newCode(), 'frank@example.com'), authed);
    expect(await authed.service.deliverNow(id, 5000)).toBe('sent');
    expect(mail.messagesTo('frank@example.com')[0]?.user).toBe('mailer');
  });

  it('posts SMS and voice as exactly the contract JSON, with the message id as idempotency key', async () => {
    const code = newCode();
    const smsId = await enqueue(phoneMessage('sms', code));
    const voiceId = await enqueue({ ...phoneMessage('voice', code, '+14155550123'), locale: 'en' });
    expect(await outbox.worker.runOnce()).toBe(2);

    expect(sms.requests).toHaveLength(1);
    const s = sms.requests[0]!;
    expect(s.method).toBe('POST');
    expect(s.headers['content-type']).toBe('application/json');
    expect(s.headers['idempotency-key']).toBe(smsId);
    expect(Object.keys(s.body!)).toEqual(['channel', 'to', 'text', 'locale']);
    expect(s.raw).toBe(JSON.stringify({ channel: 'sms', to: '+393331234567', text: phoneMessage('sms', code).text, locale: 'en' }));
    expect(s.body!.text).toContain(code);

    expect(voice.requests).toHaveLength(1);
    const v = voice.requests[0]!;
    expect(v.headers['idempotency-key']).toBe(voiceId);
    expect(v.body).toEqual({ channel: 'voice', to: '+14155550123', text: phoneMessage('voice', code).text, locale: 'en' });
    const spelled = [...code].join(', ');
    expect(String(v.body!.text).split(spelled)).toHaveLength(3); // read out twice
    expect(await voice.waitForCode('+14155550123')).toBe(code);

    for (const id of [smsId, voiceId]) expect(await outbox.service.status(id)).toEqual({ status: 'sent', attempts: 1, lastError: null });
  });

  it('writes .eml and JSON files (mode 0600) into the outbox directory when no SMTP or webhook is configured', async () => {
    const fileConfig = configFor({});
    expect(fileConfig.outboxDir).toBe(path.join(dataDir, 'outbox'));
    const files = createOutbox({ dataSource: db.dataSource, clock, secrets, config: fileConfig, policy: POLICY });
    expect(files.senders.mail).toBeInstanceOf(FileMailSender);

    const code = newCode();
    const emailId = await enqueue(emailMessage(code, 'carol@example.com'), files);
    const smsId = await enqueue(phoneMessage('sms', code), files);
    const voiceId = await enqueue(phoneMessage('voice', code), files);
    expect(await files.worker.runOnce()).toBe(3);

    const names = await readdir(fileConfig.outboxDir);
    const stamp = '20260501T100000.000Z';
    expect(names.sort()).toEqual([`${stamp}-${emailId}.eml`, `${stamp}-${smsId}.sms.json`, `${stamp}-${voiceId}.voice.json`].sort());
    for (const name of names) expect((await stat(path.join(fileConfig.outboxDir, name))).mode & 0o777).toBe(0o600);

    const eml = await readFile(path.join(fileConfig.outboxDir, `${stamp}-${emailId}.eml`));
    expect(eml.toString('latin1')).toContain('\r\n'); // RFC 822 line ends
    const parsed = await PostalMime.parse(eml);
    expect(parsed.subject).toContain(code);
    expect(parsed.text).toContain(code);
    expect(parsed.to?.[0]).toMatchObject({ address: 'carol@example.com' });
    expect(parsed.from).toMatchObject({ address: 'no-reply@gatehouse.test' });

    const smsFile = JSON.parse(await readFile(path.join(fileConfig.outboxDir, `${stamp}-${smsId}.sms.json`), 'utf8'));
    expect(smsFile).toEqual({ channel: 'sms', to: '+393331234567', text: phoneMessage('sms', code).text, locale: 'en' });
    const voiceFile = JSON.parse(await readFile(path.join(fileConfig.outboxDir, `${stamp}-${voiceId}.voice.json`), 'utf8'));
    expect(voiceFile.channel).toBe('voice');
    expect(mail.messages).toHaveLength(0);
    expect(sms.requests).toHaveLength(0);
    for (const id of [emailId, smsId, voiceId]) expect((await row(id)).status).toBe('sent');
  });

  it('SMTP down: retries with doubling backoff on the clock, then fails after max attempts; SMTP back: the next message goes out once', async () => {
    await mail.stop();
    const code = newCode();
    const id = await enqueue(emailMessage(code));

    expect(await outbox.worker.runOnce()).toBe(1);
    let r = await row(id);
    expect(r).toMatchObject({ status: 'pending', attempts: 1, last_error: 'smtp: ECONNREFUSED', locked_until: null });
    expect(r.next_attempt_at.toISOString()).toBe('2026-05-01T10:00:01.000Z');
    expect(await outbox.service.status(id)).toEqual({ status: 'pending', attempts: 1, lastError: 'smtp: ECONNREFUSED' });

    // Not due before the backoff has passed.
    expect(await outbox.worker.runOnce()).toBe(0);
    clock.advance(Duration.ofMilliseconds(999));
    expect(await outbox.worker.runOnce()).toBe(0);
    clock.advance(Duration.ofMilliseconds(1));
    expect(await outbox.worker.runOnce()).toBe(1);
    r = await row(id);
    expect(r.attempts).toBe(2);
    expect(r.next_attempt_at.toISOString()).toBe('2026-05-01T10:00:03.000Z'); // +2 s

    clock.advance(Duration.ofSeconds(2));
    expect(await outbox.worker.runOnce()).toBe(1);
    r = await row(id);
    expect(r).toMatchObject({ status: 'failed', attempts: 3, payload: null, last_error: 'smtp: ECONNREFUSED' });
    expect(r.failed_at?.toISOString()).toBe('2026-05-01T10:00:03.000Z');
    expect(await outbox.service.status(id)).toEqual({ status: 'failed', attempts: 3, lastError: 'smtp: ECONNREFUSED' });
    expect(await outbox.service.deliverNow(id, 0)).toBe('failed');

    // A failed message stays failed, however much time passes.
    clock.advance(Duration.ofHours(1));
    expect(await outbox.worker.runOnce()).toBe(0);

    await mail.start();
    const next = await enqueue(emailMessage(newCode()));
    expect(await outbox.worker.runOnce()).toBe(1);
    expect(await outbox.worker.runOnce()).toBe(0);
    expect(mail.messages.map((m) => m.outboxId)).toEqual([next]);
    expect((await row(next)).status).toBe('sent');
  });

  it('a temporary SMTP refusal (451) is retried and delivered once; a permanent one (550) fails at once', async () => {
    mail.failNext(1, 451);
    const id = await enqueue(emailMessage(newCode(), 'dan@example.com'));
    expect(await outbox.worker.runOnce()).toBe(1);
    expect(await outbox.service.status(id)).toEqual({ status: 'pending', attempts: 1, lastError: 'smtp: 451 EMESSAGE' });
    expect(mail.messages).toHaveLength(0);
    clock.advance(Duration.ofSeconds(1));
    expect(await outbox.worker.runOnce()).toBe(1);
    expect(mail.messagesTo('dan@example.com').map((m) => m.outboxId)).toEqual([id]);
    expect((await outbox.service.status(id)).status).toBe('sent');

    mail.rejectRecipient('nobody@example.com');
    const bounced = await enqueue(emailMessage(newCode(), 'nobody@example.com'));
    expect(await outbox.service.deliverNow(bounced, 5000)).toBe('failed');
    expect(await outbox.service.status(bounced)).toEqual({ status: 'failed', attempts: 1, lastError: 'smtp: 550 EENVELOPE' });
    expect((await row(bounced)).payload).toBeNull();
  });

  it('webhook 500 then 200: delivered on the retry, exactly once', async () => {
    sms.respondNext(500);
    const code = newCode();
    const id = await enqueue(phoneMessage('sms', code));
    expect(await outbox.worker.runOnce()).toBe(1);
    expect(await outbox.service.status(id)).toEqual({ status: 'pending', attempts: 1, lastError: 'webhook: HTTP 500' });
    expect(sms.accepted).toHaveLength(0);

    clock.advance(Duration.ofSeconds(1));
    expect(await outbox.worker.runOnce()).toBe(1);
    clock.advance(Duration.ofMinutes(10));
    expect(await outbox.worker.runOnce()).toBe(0);

    expect(sms.requests.map((r) => r.answeredWith)).toEqual([500, 200]);
    expect(sms.accepted.map((r) => r.headers['idempotency-key'])).toEqual([id]);
    expect(await sms.waitForCode('+393331234567')).toBe(code);
    expect(await outbox.service.status(id)).toEqual({ status: 'sent', attempts: 2, lastError: 'webhook: HTTP 500' });
    expect((await row(id)).payload).toBeNull();
  });

  it('webhook timeout or refused connection: retried, then failed after max attempts', async () => {
    voice.hangNext();
    const id = await enqueue(phoneMessage('voice', newCode()));
    expect(await outbox.worker.runOnce()).toBe(1);
    expect(await outbox.service.status(id)).toEqual({ status: 'pending', attempts: 1, lastError: 'webhook: timeout' });
    clock.advance(Duration.ofSeconds(1));
    expect(await outbox.worker.runOnce()).toBe(1);
    expect(await outbox.service.status(id)).toEqual({ status: 'sent', attempts: 2, lastError: 'webhook: timeout' });
    expect(voice.accepted).toHaveLength(1);

    // Nobody listening at all: connection refused, three attempts, failed.
    const gone = await TestWebhookReceiver.start();
    const deadUrl = gone.url;
    await gone.stop();
    const dead = createOutbox({
      dataSource: db.dataSource,
      clock,
      secrets,
      config: configFor({ SMS_WEBHOOK_URL: deadUrl }),
      policy: POLICY,
    });
    const failing = await enqueue(phoneMessage('sms', newCode()), dead);
    for (const wait of [0, 1, 2]) {
      clock.advance(Duration.ofSeconds(wait));
      expect(await dead.worker.runOnce()).toBe(1);
    }
    expect(await dead.service.status(failing)).toEqual({ status: 'failed', attempts: 3, lastError: 'webhook: ECONNREFUSED' });
  });

  it('two workers on separate connections never send a message twice', async () => {
    const second = await createDataSource(db.url, { poolSize: 4 }).initialize();
    try {
      const other = createOutbox({ dataSource: second, clock, secrets, config, policy: POLICY });
      sms.delay(20); // keep both workers mid-send at the same time
      const ids: string[] = [];
      for (let i = 0; i < 24; i++) ids.push(await enqueue(phoneMessage('sms', newCode(), `+3933312345${String(i).padStart(2, '0')}`)));

      // Both claim from the same due set at the same moment, then keep draining in small batches.
      const drain = async (worker: OutboxWorker) => {
        let total = 0;
        for (let n = await worker.runOnce(4); n > 0; n = await worker.runOnce(4)) total += n;
        return total;
      };
      const [a, b] = await Promise.all([drain(outbox.worker), drain(other.worker)]);
      expect(a + b).toBe(24);
      expect(a).toBeGreaterThan(0);
      expect(b).toBeGreaterThan(0);

      // And both kicking the same message at once.
      const raced = await enqueue(phoneMessage('sms', newCode()));
      const answers = await Promise.all([outbox.service.deliverNow(raced, 5000), other.service.deliverNow(raced, 5000)]);
      expect(answers).toEqual(['sent', 'sent']);

      const keys = sms.requests.map((r) => r.headers['idempotency-key']);
      expect(keys).toHaveLength(25);
      expect(new Set(keys).size).toBe(25);
      expect([...keys].sort()).toEqual([...ids, raced].sort());
      const [{ sent, maxAttempts }] = await db.dataSource.query(
        `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, max(attempts)::int AS "maxAttempts" FROM outbox_messages`,
      );
      expect(sent).toBe(25);
      expect(maxAttempts).toBe(1);
    } finally {
      await second.destroy();
    }
  });

  it("a crashed node's claim expires with its lease; an abandoned last attempt ends failed", async () => {
    const id = await enqueue(phoneMessage('sms', newCode()));
    // A node claims the message and dies before sending.
    await db.dataSource.query(`UPDATE outbox_messages SET attempts = 1, locked_until = $2 WHERE id = $1`, [
      id,
      new Date('2026-05-01T10:01:00Z'),
    ]);
    expect(await outbox.worker.runOnce()).toBe(0);
    expect(await outbox.worker.deliver(id)).toBe(false);
    clock.advance(Duration.ofSeconds(60));
    expect(await outbox.worker.runOnce()).toBe(1);
    expect(await outbox.service.status(id)).toEqual({ status: 'sent', attempts: 2, lastError: null });
    expect(sms.accepted).toHaveLength(1);

    const last = await enqueue(phoneMessage('sms', newCode()));
    await db.dataSource.query(`UPDATE outbox_messages SET attempts = 3, locked_until = $2 WHERE id = $1`, [
      last,
      new Date('2026-05-01T10:02:00Z'),
    ]);
    expect(await outbox.worker.runOnce()).toBe(0);
    expect((await row(last)).status).toBe('pending');
    clock.advance(Duration.ofSeconds(60));
    await outbox.worker.runOnce();
    expect(await row(last)).toMatchObject({ status: 'failed', payload: null, last_error: 'worker: lease expired' });
    expect(sms.accepted).toHaveLength(1);
  });

  it('enqueue inside a transaction that rolls back leaves no message', async () => {
    let id: string | undefined;
    await expect(
      db.dataSource.transaction(async (manager) => {
        id = await outbox.service.enqueue(manager, emailMessage(newCode()));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(id).toMatch(/^[0-9a-f-]{36}$/u);
    const [{ count }] = await db.dataSource.query(`SELECT count(*)::int AS count FROM outbox_messages`);
    expect(count).toBe(0);
    await expect(outbox.service.status(id!)).rejects.toMatchObject({ code: 'outbox_message_not_found' });
    expect(await outbox.worker.runOnce()).toBe(0);
    expect(mail.messages).toHaveLength(0);
  });

  it('links a message to its OTP challenge', async () => {
    const [{ id: challenge }] = await db.dataSource.query(
      `INSERT INTO otp_challenges (purpose, subject_type, subject_id, flow_id, channel, destination, code_hmac, created_at, expires_at)
       VALUES ('login', 'user', 'u1', 'f1', 'sms', '+393331234567', '\\x00', $1, $2) RETURNING id`,
      [clock.now(), Duration.ofMinutes(10).after(clock.now())],
    );
    const id = await db.dataSource.transaction((m) =>
      outbox.service.enqueue(m, phoneMessage('sms', newCode()), { otpChallengeId: challenge }),
    );
    const [{ otp_challenge_id }] = await db.dataSource.query(`SELECT otp_challenge_id FROM outbox_messages WHERE id = $1`, [id]);
    expect(otp_challenge_id).toBe(challenge);
  });

  it('does not send a code that was superseded, used or expired while it waited', async () => {
    const before = sms.requests.length;
    for (const change of ['invalidated_at = $2', 'consumed_at = $2', 'expires_at = $2']) {
      const [{ id: challenge }] = await db.dataSource.query(
        `INSERT INTO otp_challenges (purpose, subject_type, subject_id, flow_id, channel, destination, code_hmac, created_at, expires_at)
         VALUES ('login', 'user', 'u2', 'f2', 'sms', '+393331234567', '\\x00', $1, $2) RETURNING id`,
        [Duration.ofMinutes(1).before(clock.now()), Duration.ofMinutes(10).after(clock.now())],
      );
      const id = await db.dataSource.transaction((m) =>
        outbox.service.enqueue(m, phoneMessage('sms', newCode()), { otpChallengeId: challenge }),
      );
      await db.dataSource.query(`UPDATE otp_challenges SET ${change} WHERE id = $1`, [challenge, clock.now()]);
      await outbox.worker.runOnce();
      await expect(outbox.service.status(id)).resolves.toMatchObject({ status: 'failed', lastError: 'otp: code no longer valid' });
    }
    expect(sms.requests.length).toBe(before);
  });

  it('a payload moved to another recipient cannot be decrypted, so it is never sent there', async () => {
    const id = await enqueue(phoneMessage('sms', newCode()));
    await db.dataSource.query(`UPDATE outbox_messages SET recipient = '+15550000000' WHERE id = $1`, [id]);
    expect(await outbox.worker.runOnce()).toBe(1);
    expect(await outbox.service.status(id)).toEqual({ status: 'failed', attempts: 1, lastError: 'payload: cannot decrypt' });
    expect(sms.requests).toHaveLength(0);
  });

  it('refuses messages no adapter could send, and unknown ids', async () => {
    const bad: OutgoingMessage[] = [
      { channel: 'email', to: 'ada@example.com', purpose: 'otp.login', text: 'no subject' },
      { channel: 'email', to: 'ada@example.com\r\nBcc: eve@example.com', purpose: 'otp.login', subject: 's', text: 't' },
      { channel: 'email', to: 'ada@example.com', purpose: 'otp.login', subject: 'two\nlines', text: 't' },
      { channel: 'sms', to: '3331234567', purpose: 'otp.login', text: 't' },
      { channel: 'voice', to: '+393331234567', purpose: 'otp.login', text: 't', subject: 'no' },
      { channel: 'fax' as 'sms', to: '+393331234567', purpose: 'otp.login', text: 't' },
      { channel: 'sms', to: '+393331234567', purpose: 'Not A Purpose', text: 't' },
      { channel: 'sms', to: '+393331234567', purpose: 'otp.login', text: ' ' },
    ];
    for (const message of bad) {
      await expect(enqueue(message)).rejects.toBeInstanceOf(DomainError);
    }
    const [{ count }] = await db.dataSource.query(`SELECT count(*)::int AS count FROM outbox_messages`);
    expect(count).toBe(0);
    await expect(outbox.service.status('not-a-uuid')).rejects.toMatchObject({ code: 'outbox_message_not_found' });
    await expect(outbox.service.status('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'outbox_message_not_found' });
  });

  it('the periodic loop sends on its own, and stop() waits for the send in progress', async () => {
    const loop = createOutbox({
      dataSource: db.dataSource,
      clock,
      secrets,
      config,
      policy: { ...POLICY, pollInterval: Duration.ofMilliseconds(20), webhookTimeout: Duration.ofSeconds(2) },
    });
    loop.worker.start();
    loop.worker.start(); // idempotent
    try {
      const first = await enqueue(phoneMessage('sms', newCode()));
      await sms.waitFor((r) => r.headers['idempotency-key'] === first, 5000);

      sms.delay(250);
      const second = await enqueue(phoneMessage('sms', newCode()));
      // Once the loop has claimed it, its send is in flight (the receiver answers after 250 ms).
      for (let i = 0; i < 200 && (await row(second)).attempts === 0; i++) await sleep(5);
      expect((await row(second)).status).toBe('pending');
      await loop.worker.stop();
      expect((await row(second)).status).toBe('sent');

      const third = await enqueue(phoneMessage('sms', newCode()));
      await sleep(100);
      expect(await row(third)).toMatchObject({ status: 'pending', attempts: 0 });
    } finally {
      await loop.worker.stop();
    }
  });

  it('wires through NotificationsModule with APP_CONFIG, Clock, SECRETS and the DataSource', async () => {
    @Global()
    @Module({
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: Clock, useValue: clock },
        { provide: SECRETS, useValue: secrets },
        { provide: DataSource, useValue: db.dataSource },
      ],
      exports: [APP_CONFIG, Clock, SECRETS, DataSource],
    })
    class TestPlatform {}

    const moduleRef = await Test.createTestingModule({
      imports: [TestPlatform, NotificationsModule.forRoot({ policy: { maxAttempts: 2 } })],
    })
      .setLogger(logs)
      .compile();
    try {
      expect(moduleRef.get(MailSender)).toBeInstanceOf(SmtpMailSender);
      expect(moduleRef.get(SmsSender)).toBeDefined();
      const service = moduleRef.get(OutboxService);
      expect(moduleRef.get(OutboxWorker)).toBeInstanceOf(OutboxWorker);
      const id = await db.dataSource.transaction((m) => service.enqueue(m, emailMessage(newCode(), 'erin@example.com')));
      expect((await row(id)).max_attempts).toBe(2);
      expect(await service.deliverNow(id, 5000)).toBe('sent');
      expect(mail.messagesTo('erin@example.com')).toHaveLength(1);
    } finally {
      await moduleRef.close();
    }
  });

  it('never records or logs message content: no code in last_error or in any log line', async () => {
    expect(usedCodes.size).toBeGreaterThan(20);
    expect(logs.lines.length).toBeGreaterThan(0);
    expect(recordedErrors).toEqual(expect.arrayContaining(['smtp: ECONNREFUSED', 'webhook: HTTP 500', 'webhook: timeout']));
    const everything = [...logs.lines, ...recordedErrors].join('\n');
    for (const code of usedCodes) expect(codeOccurrences(everything, code)).toEqual([]);
    expect(everything).not.toMatch(/one-time code|never sends links/u);
  });
});
