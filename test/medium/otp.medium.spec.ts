import { Global, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createHmac, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditService } from '#libs/audit';
import { SECRETS, testSecrets } from '../../libs/config/src/secrets.js';
import { Clock, DomainError, Duration, FixedClock } from '#libs/core';
import {
  OtpMessageQueue,
  OtpModule,
  OtpService,
  type IssueOtp,
  type OtpLimits,
  type OtpPurpose,
  type OtpSubject,
  type VerifyOtpResult,
} from '#libs/otp';
import { RecordingOtpQueue } from '../../libs/otp/src/testing.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('one-time codes (OtpService on PostgreSQL)', () => {
  let db: TestDatabase;
  const clock = new FixedClock('2026-05-01T10:00:00Z');
  const secrets = testSecrets();
  let audit: AuditService;
  let queue: RecordingOtpQueue;
  let otp: OtpService;

  beforeAll(async () => {
    db = await createTestDatabase();
    audit = new AuditService(db.dataSource, clock);
    queue = new RecordingOtpQueue(clock);
    otp = new OtpService(db.dataSource, clock, secrets, audit, queue);
  });
  afterAll(async () => db.drop());

  /** A fresh subject, flow and destination per test, so limits never leak between tests. */
  let seq = 0;
  function fresh(overrides: Partial<IssueOtp> = {}): IssueOtp {
    seq++;
    return {
      purpose: 'login',
      subject: { type: 'user', id: `user-${seq}-${randomUUID()}` },
      flowId: randomUUID(),
      channel: 'email',
      destination: `person${seq}.${randomUUID().slice(0, 8)}@example.com`,
      ...overrides,
    };
  }

  async function issued(input: IssueOtp, service = otp) {
    const result = await service.issue(input);
    return { ...result, code: queue.codeFor(result.challengeId) };
  }

  const verifyInput = (input: IssueOtp, challengeId: string, code: string) => ({
    challengeId,
    purpose: input.purpose,
    subject: input.subject,
    flowId: input.flowId,
    code,
  });

  const wrong = (code: string) => ((Number(code) + 1) % 1_000_000).toString().padStart(6, '0');

  interface StoredChallenge {
    purpose: string;
    subject_type: string;
    subject_id: string;
    flow_id: string;
    destination: string;
    code_hmac: Buffer;
    attempts: number;
    max_attempts: number;
    consumed_at: Date | null;
    invalidated_at: Date | null;
  }

  async function row(id: string): Promise<StoredChallenge> {
    const rows = await db.dataSource.query<StoredChallenge[]>(`SELECT * FROM otp_challenges WHERE id = $1`, [id]);
    expect(rows).toHaveLength(1);
    return rows[0]!;
  }

  async function count(sql: string, params: unknown[] = []): Promise<number> {
    const rows = await db.dataSource.query(`SELECT count(*)::int AS n FROM (${sql}) s`, params);
    return rows[0].n as number;
  }

  async function rejection(promise: Promise<unknown>): Promise<DomainError> {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }

  it('issues a 6-digit code, queues its message in the same transaction, and verifies it once', async () => {
    const input = fresh({ locale: 'it', description: 'Sign in to Gatehouse' });
    const { challengeId, messageId, expiresAt, code } = await issued(input);
    expect(code).toMatch(/^[0-9]{6}$/u);
    expect(expiresAt.toISOString()).toBe('2026-05-01T10:10:00.000Z');
    const sent = queue.sent.at(-1)!;
    expect(sent).toMatchObject({
      challengeId,
      messageId,
      purpose: 'login',
      channel: 'email',
      destination: input.destination,
      validityMinutes: 10,
      locale: 'it',
      description: 'Sign in to Gatehouse',
    });
    const message = await db.dataSource.query(`SELECT otp_challenge_id, recipient, purpose FROM outbox_messages WHERE id = $1`, [
      messageId,
    ]);
    expect(message).toEqual([{ otp_challenge_id: challengeId, recipient: input.destination, purpose: 'otp.login' }]);

    const stored = await row(challengeId);
    expect(stored).toMatchObject({
      purpose: 'login',
      subject_type: 'user',
      subject_id: input.subject.id,
      flow_id: input.flowId,
      attempts: 0,
      max_attempts: 5,
    });
    expect(stored.consumed_at).toBeNull();

    await expect(otp.verify(verifyInput(input, challengeId, code))).resolves.toEqual({ ok: true, challengeId });
    const after = await row(challengeId);
    expect(after.consumed_at?.toISOString()).toBe(clock.now().toISOString());
    expect(after.attempts).toBe(1);
  });

  it('counts a wrong code as an attempt and says how many are left', async () => {
    const input = fresh();
    const { challengeId, code } = await issued(input);
    await expect(otp.verify(verifyInput(input, challengeId, wrong(code)))).resolves.toEqual({
      ok: false,
      reason: 'invalid',
      attemptsLeft: 4,
    });
    await expect(otp.verify(verifyInput(input, challengeId, wrong(wrong(code))))).resolves.toEqual({
      ok: false,
      reason: 'invalid',
      attemptsLeft: 3,
    });
    expect((await row(challengeId)).attempts).toBe(2);
    await expect(otp.verify(verifyInput(input, challengeId, code))).resolves.toEqual({ ok: true, challengeId });
  });

  it('refuses even the right code after 5 wrong ones (exhausted)', async () => {
    const input = fresh();
    const { challengeId, code } = await issued(input);
    const left: number[] = [];
    for (let i = 0; i < 5; i++) {
      const result = await otp.verify(verifyInput(input, challengeId, wrong(code)));
      expect(result.ok).toBe(false);
      if (!result.ok) left.push(result.attemptsLeft);
    }
    expect(left).toEqual([4, 3, 2, 1, 0]);
    await expect(otp.verify(verifyInput(input, challengeId, code))).resolves.toEqual({ ok: false, reason: 'exhausted', attemptsLeft: 0 });
    const stored = await row(challengeId);
    expect(stored.attempts).toBe(5);
    expect(stored.consumed_at).toBeNull();
  });

  it('never counts more than 5 attempts under 20 parallel wrong guesses, and then refuses the code', async () => {
    const input = fresh();
    const { challengeId, code } = await issued(input);
    const guesses = Array.from({ length: 20 }, (_, i) => ((Number(code) + 1 + i) % 1_000_000).toString().padStart(6, '0'));
    const results = await Promise.all(guesses.map((g) => otp.verify(verifyInput(input, challengeId, g))));
    expect(results.filter((r) => r.ok)).toHaveLength(0);
    const reasons = results.map((r) => (r.ok ? 'ok' : r.reason));
    expect(reasons.filter((r) => r === 'invalid')).toHaveLength(5);
    expect(reasons.filter((r) => r === 'exhausted')).toHaveLength(15);
    const left = results.flatMap((r) => (!r.ok && r.reason === 'invalid' ? [r.attemptsLeft] : [])).sort();
    expect(left).toEqual([0, 1, 2, 3, 4]);
    expect((await row(challengeId)).attempts).toBe(5);
    await expect(otp.verify(verifyInput(input, challengeId, code))).resolves.toEqual({ ok: false, reason: 'exhausted', attemptsLeft: 0 });
    expect((await row(challengeId)).attempts).toBe(5);
  });

  it('accepts exactly one of two parallel correct submissions', async () => {
    const input = fresh();
    const { challengeId, code } = await issued(input);
    const results = await Promise.all([
      otp.verify(verifyInput(input, challengeId, code)),
      otp.verify(verifyInput(input, challengeId, code)),
    ]);
    expect(results.filter((r) => r.ok)).toEqual([{ ok: true, challengeId }]);
    expect(results.filter((r) => !r.ok)).toEqual([{ ok: false, reason: 'used', attemptsLeft: 0 }]);
    const verified = await count(`SELECT 1 FROM audit_events WHERE event_type = 'otp.verified' AND details->>'challenge_id' = $1`, [
      challengeId,
    ]);
    expect(verified).toBe(1);
  });

  it('refuses a replayed code as used', async () => {
    const input = fresh();
    const { challengeId, code } = await issued(input);
    expect((await otp.verify(verifyInput(input, challengeId, code))).ok).toBe(true);
    await expect(otp.verify(verifyInput(input, challengeId, code))).resolves.toEqual({ ok: false, reason: 'used', attemptsLeft: 0 });
    expect((await row(challengeId)).attempts).toBe(1);
  });

  it('is still valid at 9:59 and expired at 10:00', async () => {
    const input = fresh();
    const { challengeId, code } = await issued(input);
    clock.advance(Duration.ofSeconds(9 * 60 + 59));
    await expect(otp.verify(verifyInput(input, challengeId, code))).resolves.toEqual({ ok: true, challengeId });

    const later = fresh();
    const second = await issued(later);
    clock.advance(Duration.ofMinutes(10));
    await expect(otp.verify(verifyInput(later, second.challengeId, second.code))).resolves.toEqual({
      ok: false,
      reason: 'expired',
      attemptsLeft: 0,
    });
    expect((await row(second.challengeId)).attempts).toBe(0);
  });

  it('honours a custom validity and attempt limit', async () => {
    const input = fresh({ purpose: 'transaction', ttl: Duration.ofHours(24), maxAttempts: 3 });
    const { challengeId, code, expiresAt } = await issued(input);
    expect(expiresAt.getTime() - clock.now().getTime()).toBe(24 * 3_600_000);
    expect(queue.sent.at(-1)!.validityMinutes).toBe(1440);
    await expect(otp.verify(verifyInput(input, challengeId, wrong(code)))).resolves.toEqual({
      ok: false,
      reason: 'invalid',
      attemptsLeft: 2,
    });
    clock.advance(Duration.ofHours(23));
    await expect(otp.verify(verifyInput(input, challengeId, code))).resolves.toEqual({ ok: true, challengeId });
  });

  it.each<[string, (input: IssueOtp) => { purpose: OtpPurpose; subject: OtpSubject; flowId: string }]>([
    ['purpose (a login code for recovery)', (i) => ({ purpose: 'recovery', subject: i.subject, flowId: i.flowId })],
    ['purpose (a login code for a transaction)', (i) => ({ purpose: 'transaction', subject: i.subject, flowId: i.flowId })],
    ['flow', (i) => ({ purpose: i.purpose, subject: i.subject, flowId: randomUUID() })],
    ['subject id', (i) => ({ purpose: i.purpose, subject: { type: 'user', id: `${i.subject.id}-other` }, flowId: i.flowId })],
    ['subject type', (i) => ({ purpose: i.purpose, subject: { type: 'legacy_account', id: i.subject.id }, flowId: i.flowId })],
  ])('treats a mismatched %s as not_found, without using an attempt', async (_what, mismatch) => {
    const input = fresh();
    const { challengeId, code } = await issued(input);
    await expect(otp.verify({ challengeId, ...mismatch(input), code })).resolves.toEqual({
      ok: false,
      reason: 'not_found',
      attemptsLeft: 0,
    });
    await expect(otp.verify({ challengeId, ...mismatch(input), code: wrong(code) })).resolves.toEqual({
      ok: false,
      reason: 'not_found',
      attemptsLeft: 0,
    });
    const stored = await row(challengeId);
    expect(stored.attempts).toBe(0);
    expect(stored.consumed_at).toBeNull();
    await expect(otp.verify(verifyInput(input, challengeId, code))).resolves.toEqual({ ok: true, challengeId });
  });

  it('does not let a recovery code work for login either', async () => {
    const input = fresh({ purpose: 'recovery' });
    const { challengeId, code } = await issued(input);
    await expect(otp.verify({ ...verifyInput(input, challengeId, code), purpose: 'login' })).resolves.toMatchObject({
      ok: false,
      reason: 'not_found',
    });
    expect((await row(challengeId)).attempts).toBe(0);
  });

  it('answers not_found for an unknown or malformed challenge id', async () => {
    const input = fresh();
    await expect(otp.verify(verifyInput(input, randomUUID(), '123456'))).resolves.toEqual({
      ok: false,
      reason: 'not_found',
      attemptsLeft: 0,
    });
    await expect(otp.verify(verifyInput(input, 'not-a-uuid', '123456'))).resolves.toEqual({
      ok: false,
      reason: 'not_found',
      attemptsLeft: 0,
    });
  });

  it('accepts codes typed with spaces, hyphens or full-width digits', async () => {
    for (const format of [
      (c: string) => ` ${c.slice(0, 3)} ${c.slice(3)} `,
      (c: string) => `${c.slice(0, 3)}-${c.slice(3)}`,
      toFullWidth,
    ]) {
      const input = fresh();
      const { challengeId, code } = await issued(input);
      await expect(otp.verify(verifyInput(input, challengeId, format(code)))).resolves.toEqual({ ok: true, challengeId });
    }
  });

  it('answers malformed input with invalid but uses no attempt', async () => {
    const input = fresh();
    const { challengeId, code } = await issued(input);
    await otp.verify(verifyInput(input, challengeId, wrong(code)));
    for (const bad of ['', '12345', '1234567', 'abcdef', `${code}x`]) {
      await expect(otp.verify(verifyInput(input, challengeId, bad))).resolves.toEqual({ ok: false, reason: 'invalid', attemptsLeft: 4 });
    }
    expect((await row(challengeId)).attempts).toBe(1);
    await expect(otp.verify(verifyInput(input, challengeId, code))).resolves.toEqual({ ok: true, challengeId });
    // And once used, malformed input says so rather than "invalid".
    await expect(otp.verify(verifyInput(input, challengeId, 'abc'))).resolves.toEqual({ ok: false, reason: 'used', attemptsLeft: 0 });
  });

  it('"Send a new code" supersedes the previous code; the new one works', async () => {
    const input = fresh();
    const first = await issued(input);
    clock.advance(Duration.ofSeconds(30));
    const second = await issued(input);
    expect(second.challengeId).not.toBe(first.challengeId);
    expect((await row(first.challengeId)).invalidated_at?.toISOString()).toBe(clock.now().toISOString());
    await expect(otp.verify(verifyInput(input, first.challengeId, first.code))).resolves.toEqual({
      ok: false,
      reason: 'superseded',
      attemptsLeft: 0,
    });
    expect((await row(first.challengeId)).attempts).toBe(0);
    await expect(otp.verify(verifyInput(input, second.challengeId, second.code))).resolves.toEqual({
      ok: true,
      challengeId: second.challengeId,
    });
  });

  it('does not supersede codes of other flows or purposes', async () => {
    const input = fresh();
    const login = await issued(input);
    const otherFlow = await issued({ ...input, flowId: randomUUID() });
    const stepUp = await issued({ ...input, purpose: 'step_up' });
    await expect(otp.verify(verifyInput(input, login.challengeId, login.code))).resolves.toMatchObject({ ok: true });
    await expect(
      otp.verify(verifyInput({ ...input, flowId: (await row(otherFlow.challengeId)).flow_id }, otherFlow.challengeId, otherFlow.code)),
    ).resolves.toMatchObject({
      ok: true,
    });
    await expect(otp.verify(verifyInput({ ...input, purpose: 'step_up' }, stepUp.challengeId, stepUp.code))).resolves.toMatchObject({
      ok: true,
    });
  });

  it('enforces a 30-second cooldown per purpose, subject and flow', async () => {
    const input = fresh();
    const first = await issued(input);
    clock.advance(Duration.ofSeconds(10));
    const error = await rejection(otp.issue(input));
    expect(error.code).toBe('otp_cooldown');
    expect(error.details).toEqual({ retryAfterSeconds: 20 });
    // The refused request changed nothing: the first code is still the live one.
    expect((await row(first.challengeId)).invalidated_at).toBeNull();
    expect(await count(`SELECT 1 FROM otp_challenges WHERE flow_id = $1`, [input.flowId])).toBe(1);

    clock.advance(Duration.ofSeconds(19));
    expect((await rejection(otp.issue(input))).details).toEqual({ retryAfterSeconds: 1 });
    clock.advance(Duration.ofSeconds(1));
    const second = await issued(input);
    await expect(otp.verify(verifyInput(input, second.challengeId, second.code))).resolves.toMatchObject({ ok: true });
  });

  it('caps codes per subject per hour across purposes and flows', async () => {
    const input = fresh();
    const purposes: OtpPurpose[] = ['login', 'step_up', 'recovery', 'verification', 'transaction'];
    for (let i = 0; i < 10; i++) {
      await otp.issue({
        ...input,
        purpose: purposes[i % purposes.length]!,
        flowId: randomUUID(),
        destination: `cap${i}.${input.destination}`,
      });
      clock.advance(Duration.ofMinutes(1));
    }
    const error = await rejection(otp.issue({ ...input, flowId: randomUUID(), destination: `other.${input.destination}` }));
    expect(error.code).toBe('otp_rate_limited');
    // The first of the ten was issued 10 minutes ago: a slot frees in 50 minutes.
    expect(error.details).toMatchObject({ retryAfterSeconds: 50 * 60, limit: 'subject' });
    // Another subject is not affected.
    await expect(otp.issue(fresh())).resolves.toHaveProperty('challengeId');

    clock.advance(Duration.ofMinutes(50));
    await expect(otp.issue({ ...input, flowId: randomUUID() })).resolves.toHaveProperty('challengeId');
  });

  it('caps codes per destination per hour across subjects (case-insensitive for email)', async () => {
    const destination = `shared.${randomUUID().slice(0, 8)}@example.com`;
    for (let i = 0; i < 10; i++) {
      await otp.issue(fresh({ destination: i % 2 ? destination : destination.toUpperCase() }));
    }
    const error = await rejection(otp.issue(fresh({ destination })));
    expect(error.code).toBe('otp_rate_limited');
    expect(error.details).toMatchObject({ retryAfterSeconds: 3600, limit: 'destination' });

    const phone = '+393331234567';
    for (let i = 0; i < 10; i++) await otp.issue(fresh({ channel: i % 2 ? 'sms' : 'voice', destination: phone }));
    await expect(otp.issue(fresh({ channel: 'sms', destination: '+39 333 123 4567' }))).rejects.toMatchObject({ code: 'otp_rate_limited' });

    clock.advance(Duration.ofHours(1));
    await expect(otp.issue(fresh({ destination }))).resolves.toHaveProperty('challengeId');
    await expect(otp.issue(fresh({ channel: 'sms', destination: phone }))).resolves.toHaveProperty('challengeId');
  });

  it('keeps the caps under concurrent requests from many nodes', async () => {
    const limited = new OtpService(db.dataSource, clock, secrets, audit, queue, { perSubject: 3 });
    const input = fresh();
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => limited.issue({ ...input, flowId: randomUUID() })));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(refused).toHaveLength(5);
    expect(refused.every((o) => o.reason instanceof DomainError && o.reason.code === 'otp_rate_limited')).toBe(true);
    expect(await count(`SELECT 1 FROM otp_challenges WHERE subject_id = $1`, [input.subject.id])).toBe(3);
  });

  it("leaves no challenge, message or audit event when the caller's transaction rolls back", async () => {
    const input = fresh();
    let challengeId = '';
    await expect(
      db.dataSource.transaction(async (manager) => {
        challengeId = (await otp.issue(input, manager)).challengeId;
        expect(await manager.query(`SELECT id FROM otp_challenges WHERE id = $1`, [challengeId])).toHaveLength(1);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(challengeId).not.toBe('');
    expect(await count(`SELECT 1 FROM otp_challenges WHERE id = $1`, [challengeId])).toBe(0);
    expect(await count(`SELECT 1 FROM outbox_messages WHERE otp_challenge_id = $1`, [challengeId])).toBe(0);
    expect(await count(`SELECT 1 FROM audit_events WHERE details->>'challenge_id' = $1`, [challengeId])).toBe(0);
    // Nothing was committed, so no cooldown applies either.
    await expect(otp.issue(input)).resolves.toHaveProperty('challengeId');
  });

  it("commits with the caller's transaction", async () => {
    const input = fresh();
    const result = await db.dataSource.transaction((manager) => otp.issue(input, manager));
    expect(await count(`SELECT 1 FROM otp_challenges WHERE id = $1`, [result.challengeId])).toBe(1);
    expect(
      await count(`SELECT 1 FROM outbox_messages WHERE id = $1 AND otp_challenge_id = $2`, [result.messageId, result.challengeId]),
    ).toBe(1);
  });

  it('stores nothing when the message cannot be queued, and keeps the previous code', async () => {
    const input = fresh();
    const first = await issued(input);
    clock.advance(Duration.ofSeconds(30));
    queue.failNext();
    await expect(otp.issue(input)).rejects.toThrow('outbox unavailable');
    expect(await count(`SELECT 1 FROM otp_challenges WHERE flow_id = $1`, [input.flowId])).toBe(1);
    await expect(otp.verify(verifyInput(input, first.challengeId, first.code))).resolves.toMatchObject({ ok: true });
  });

  it('issues varied 6-digit codes (200 codes)', async () => {
    const many = new OtpService(db.dataSource, clock, secrets, audit, queue, { perSubject: 1000, perDestination: 1000 });
    const input = fresh();
    const codes: string[] = [];
    for (let i = 0; i < 200; i++) {
      const { challengeId } = await many.issue({ ...input, flowId: `flow-${i}` });
      codes.push(queue.codeFor(challengeId));
    }
    expect(codes.every((c) => /^[0-9]{6}$/u.test(c))).toBe(true);
    // 200 draws from a million: a repeat is possible (p ~ 2%), more than a few is not.
    expect(new Set(codes).size).toBeGreaterThanOrEqual(195);
    expect(new Set(codes.map((c) => c[0])).size).toBeGreaterThanOrEqual(7);
    const mean = codes.reduce((sum, c) => sum + Number(c), 0) / codes.length;
    // Uniform on 0..999999: mean 500,000, sd of the mean ~20,400; ±150,000 is over 7 sd.
    expect(mean).toBeGreaterThan(350_000);
    expect(mean).toBeLessThan(650_000);
  });

  it('stores only an HMAC bound to the challenge; the code appears in no row and no audit event', async () => {
    const input = fresh({ channel: 'sms', destination: '+14155552671' });
    const { challengeId, messageId, code } = await issued(input);
    await otp.verify(verifyInput(input, challengeId, wrong(code)));
    await otp.verify(verifyInput(input, challengeId, code));

    const stored = await row(challengeId);
    const expected = createHmac('sha256', secrets.otp).update(`${challengeId}:${code}`).digest();
    expect(Buffer.isBuffer(stored.code_hmac)).toBe(true);
    expect(stored.code_hmac.equals(expected)).toBe(true);
    expect(stored.code_hmac.equals(Buffer.from(code))).toBe(false);
    expect(stored.code_hmac.includes(Buffer.from(code))).toBe(false);

    const texts: string[] = [
      ...(await db.dataSource.query(`SELECT row_to_json(c)::text AS t FROM otp_challenges c WHERE id = $1`, [challengeId])),
      ...(await db.dataSource.query(`SELECT row_to_json(m)::text AS t FROM outbox_messages m WHERE id = $1`, [messageId])),
      ...(await db.dataSource.query(`SELECT row_to_json(a)::text AS t FROM audit_events a WHERE details->>'challenge_id' = $1`, [
        challengeId,
      ])),
    ].map((r: { t: string }) => r.t);
    expect(texts.length).toBe(5); // challenge, message, issued, failed, verified
    for (const text of texts) expect(text).not.toContain(code);
    // The HMAC itself stays in its challenge row: not in the message row, not in the audit log.
    expect(texts.filter((t) => t.includes(expected.toString('hex')))).toEqual([texts[0]]);
  });

  it('audits issue and verification with masked destinations, reasons and attempts', async () => {
    const input = fresh({
      channel: 'sms',
      destination: '+393331234567',
      context: { actor: { type: 'user', id: 'u-1' }, ip: '203.0.113.7', requestId: 'req-9' },
    });
    const { challengeId, messageId, code } = await issued(input);
    await otp.verify({ ...verifyInput(input, challengeId, wrong(code)), context: { ip: '203.0.113.8' } });
    await otp.verify(verifyInput(input, challengeId, code));
    const events = await db.dataSource.query(
      `SELECT event_type, actor_type, actor_id, subject_type, subject_id, ip, request_id, details FROM audit_events
        WHERE details->>'challenge_id' = $1 ORDER BY id`,
      [challengeId],
    );
    expect(events).toEqual([
      {
        event_type: 'otp.issued',
        actor_type: 'user',
        actor_id: 'u-1',
        subject_type: 'user',
        subject_id: input.subject.id,
        ip: '203.0.113.7',
        request_id: 'req-9',
        details: {
          purpose: 'login',
          channel: 'sms',
          destination: '+39 *** *** 4567',
          challenge_id: challengeId,
          flow_id: input.flowId,
          message_id: messageId,
          expires_at: Duration.ofMinutes(10).after(clock.now()).toISOString(),
          max_attempts: 5,
        },
      },
      {
        event_type: 'otp.failed',
        actor_type: 'anonymous',
        actor_id: null,
        subject_type: 'user',
        subject_id: input.subject.id,
        ip: '203.0.113.8',
        request_id: null,
        details: {
          purpose: 'login',
          reason: 'invalid',
          attempts: 1,
          attempts_left: 4,
          channel: 'sms',
          challenge_id: challengeId,
          flow_id: input.flowId,
        },
      },
      {
        event_type: 'otp.verified',
        actor_type: 'anonymous',
        actor_id: null,
        subject_type: 'user',
        subject_id: input.subject.id,
        ip: null,
        request_id: null,
        details: { purpose: 'login', channel: 'sms', attempts: 2, challenge_id: challengeId, flow_id: input.flowId },
      },
    ]);
  });

  it('audits a binding mismatch as a failure against the claimed subject', async () => {
    const input = fresh();
    const { challengeId, code } = await issued(input);
    await otp.verify({ ...verifyInput(input, challengeId, code), purpose: 'recovery' });
    const events = await db.dataSource.query(
      `SELECT subject_id, details FROM audit_events WHERE event_type = 'otp.failed' AND details->>'challenge_id' = $1`,
      [challengeId],
    );
    expect(events).toEqual([
      {
        subject_id: input.subject.id,
        details: { purpose: 'recovery', reason: 'not_found', attempts_left: 0, challenge_id: challengeId, flow_id: input.flowId },
      },
    ]);
  });

  it.each<[string, Partial<IssueOtp>]>([
    ['an email channel without an address', { channel: 'email', destination: 'nobody' }],
    ['an SMS to something that is not E.164', { channel: 'sms', destination: '3331234567' }],
    ['an unknown purpose', { purpose: 'coffee' as OtpPurpose }],
    ['an empty flow id', { flowId: '' }],
    ['too many attempts', { maxAttempts: 11 }],
    ['a zero validity', { ttl: Duration.ofSeconds(0) }],
  ])('refuses to issue with %s', async (_what, overrides) => {
    const input = fresh(overrides);
    const error = await rejection(otp.issue(input));
    expect(error.code).toBe('invalid_request');
    expect(await count(`SELECT 1 FROM otp_challenges WHERE subject_id = $1`, [input.subject.id])).toBe(0);
  });

  it('validates its limits', () => {
    const bad: Partial<OtpLimits> = { perSubject: 0 };
    expect(() => new OtpService(db.dataSource, clock, secrets, audit, queue, bad)).toThrow(RangeError);
  });

  it('is provided by OtpModule with the platform providers and a chosen queue', async () => {
    @Global()
    @Module({
      providers: [
        { provide: DataSource, useValue: db.dataSource },
        { provide: Clock, useValue: clock },
        { provide: SECRETS, useValue: secrets },
        AuditService,
      ],
      exports: [DataSource, Clock, SECRETS, AuditService],
    })
    class FakePlatformModule {}

    const moduleRef = await Test.createTestingModule({
      imports: [
        FakePlatformModule,
        OtpModule.forRoot({ queue: { provide: OtpMessageQueue, useValue: queue }, limits: { resendCooldown: Duration.ofSeconds(5) } }),
      ],
    }).compile();
    try {
      const service = moduleRef.get(OtpService);
      expect(service).toBeInstanceOf(OtpService);
      const input = fresh();
      const { challengeId } = await service.issue(input);
      const result: VerifyOtpResult = await service.verify(verifyInput(input, challengeId, queue.codeFor(challengeId)));
      expect(result).toEqual({ ok: true, challengeId });
      // The module's limits apply: 5 s cooldown instead of 30 s.
      clock.advance(Duration.ofSeconds(4));
      expect((await rejection(service.issue(input))).details).toEqual({ retryAfterSeconds: 1 });
      clock.advance(Duration.ofSeconds(1));
      await expect(service.issue(input)).resolves.toHaveProperty('challengeId');
    } finally {
      await moduleRef.close();
    }
  });
});

function toFullWidth(code: string): string {
  return Array.from(code, (d) => String.fromCharCode(0xff10 + Number(d))).join('');
}
