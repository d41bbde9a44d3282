import * as client from 'openid-client';
import { Duration } from '#libs/core';
import { VerifierGrants } from '#libs/transaction-codes';
import { AuditService } from '#libs/audit';
import { OutboxService, OutboxWorker } from '#libs/notifications';
import { authorize, registerApp, signIn, startOidcHarness, type OidcHarness } from '../../support/oidc.js';
import {
  mentionsCode,
  registerService,
  seedPerson,
  serviceToken,
  txApi,
  type ApiAnswer,
  type Service,
} from '../../support/transaction-codes.js';
import { WebClient, seedOrganization, text } from '../../support/web.js';

/**
 * Transaction codes (issue 7, part 2) over HTTP against the real provider, PostgreSQL and
 * SMTP server: services get tokens with openid-client's client_credentials grant, issue a
 * code for a user, the user reads it in the mail and on the account page, and verifiers
 * check it once.
 */
describe('Transaction codes API', () => {
  let h: OidcHarness;
  let org: string;
  let shop: Service; // issues and verifies its own codes
  let courier: Service; // verifies the shop's codes (client:allow-verify)
  let stranger: Service; // may verify, but was never allowed for the shop
  let n = 0;

  beforeAll(async () => {
    h = await startOidcHarness();
    org = await seedOrganization(h.db.dataSource, 'tx');
    shop = await registerService(h, 'Parcel Shop', ['transaction_codes', 'transaction_codes:verify']);
    courier = await registerService(h, 'Courier app', ['transaction_codes:verify']);
    stranger = await registerService(h, 'Other courier', ['transaction_codes:verify']);
    await new VerifierGrants(h.db.dataSource, h.clock, new AuditService(h.db.dataSource, h.clock)).allow(courier.clientId, shop.clientId, {
      type: 'operator',
      id: 'test',
    });
  });

  afterAll(async () => {
    await h.close();
  });

  const person = (status = 'active') => seedPerson(h, org, `p${++n}`, status);
  const ref = () => `ORD-${++n}-${Math.random().toString(36).slice(2, 8)}`;

  async function issue(service: Service, body: Record<string, unknown>): Promise<ApiAnswer> {
    return await txApi(h, 'POST', '', await serviceToken(service, 'transaction_codes'), body);
  }

  async function verify(service: Service, reference: string, code: string): Promise<ApiAnswer> {
    return await txApi(h, 'POST', '/verify', await serviceToken(service, 'transaction_codes:verify'), { reference, code });
  }

  /** Issues a code for a new person and reads it from the mail the SMTP server received. */
  async function issued(options: { reference?: string; description?: string } = {}) {
    const who = await person();
    const reference = options.reference ?? ref();
    const answer = await issue(shop, {
      sub: who.id,
      reference,
      description: options.description ?? 'Parcel with a laptop',
      expires_in: 3600,
    });
    expect(answer.status).toBe(201);
    const mail = await h.mail.waitFor((m) => m.envelope.to.includes(who.email));
    const code = /(?<!\d)(\d{6})(?!\d)/u.exec(mail.text)![1]!;
    return { who, reference, id: answer.body!.id as string, code, mail, answer };
  }

  async function row(id: string): Promise<Record<string, unknown>> {
    const [r] = await h.db.dataSource.query<Array<Record<string, unknown>>>(`SELECT * FROM transaction_codes WHERE id = $1`, [id]);
    return r!;
  }

  async function outboxRow(id: string): Promise<Record<string, unknown>> {
    const [r] = await h.db.dataSource.query<Array<Record<string, unknown>>>(
      `SELECT status, attempts, locked_until, payload, last_error, withdrawn_at FROM outbox_messages WHERE id = $1`,
      [id],
    );
    return r!;
  }

  /** Waits (real time) until `check` holds. */
  async function until(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!(await check())) {
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async function auditOf(type: string, detail: [string, string]): Promise<Array<Record<string, unknown>>> {
    return await h.db.dataSource.query(
      `SELECT event_type, actor_type, actor_id, subject_type, subject_id, details FROM audit_events
        WHERE event_type = $1 AND details ->> $2 = $3 ORDER BY occurred_at, id`,
      [type, ...detail],
    );
  }

  describe('issue', () => {
    it('answers 201 with id, reference and expiry only, and emails the code (link-free) to the user', async () => {
      const { who, reference, id, code, mail, answer } = await issued({ description: 'Parcel 77 (a laptop)' });
      expect(Object.keys(answer.body!).sort()).toEqual(['expires_at', 'id', 'reference']);
      expect(answer.body).toEqual({ id, reference, expires_at: new Date(h.clock.now().getTime() + 3600_000).toISOString() });
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(mentionsCode(JSON.stringify(answer.body), code)).toBe(false);

      expect(mail.subject).toContain(code);
      expect(mail.subject).toContain('Parcel 77 (a laptop)');
      expect(mail.text).toContain('Parcel Shop asked Gatehouse to send you a one-time code to confirm:');
      expect(mail.text).toContain(`(reference ${reference})`);
      expect(mail.text).toMatch(/It is valid until \d{1,2} \w+ \d{4} at \d{2}:\d{2} UTC and can be used once\./u);
      expect(mail.text).toContain('never sends links');
      expect(mail.text).not.toMatch(/https?:|www\.|:\/\//u);
      expect(mail.parsed.html ?? '').toBe('');

      // Stored: a nonce and an HMAC, never the code; the outbox holds the message encrypted.
      const stored = await row(id);
      expect(stored).toMatchObject({ user_id: who.id, issuer_client_id: shop.clientId, reference, attempts: 0, max_attempts: 5 });
      expect(Object.keys(stored)).not.toContain('code');
      expect(mentionsCode(JSON.stringify({ ...stored, code_nonce: null, code_hmac: null }), code)).toBe(false);
      const [outbox] = await h.db.dataSource.query<Array<{ payload: Buffer | null; purpose: string }>>(
        `SELECT payload, purpose FROM outbox_messages WHERE id = $1`,
        [stored.message_id],
      );
      expect(outbox!.purpose).toBe('otp.transaction');
      // (Encrypted while waiting, and dropped once sent.)
      expect(outbox!.payload?.toString('latin1') ?? '').not.toContain(code);

      const events = await auditOf('transaction_code.issued', ['transaction_code_id', id]);
      expect(events).toEqual([
        expect.objectContaining({ actor_type: 'client', actor_id: shop.clientId, subject_type: 'user', subject_id: who.id }),
      ]);
      expect(events[0]!.details).toMatchObject({ reference, channel: 'email', destination: expect.stringContaining('***') });
    });

    it('gives each of a user’s open codes a different number', async () => {
      const who = await person();
      const token = await serviceToken(shop, 'transaction_codes');
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          txApi(h, 'POST', '', token, { sub: who.id, reference: `multi-${n}-${i}`, description: `Parcel ${i}`, expires_in: 600 }),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(8).fill(201));
      const mails = [];
      for (let i = 0; i < 8; i++)
        mails.push(await h.mail.waitFor((m) => m.envelope.to.includes(who.email) && m.subject.includes(`Parcel ${i}`)));
      const codes = mails.map((m) => /(?<!\d)(\d{6})(?!\d)/u.exec(m.text)![1]);
      expect(new Set(codes).size).toBe(8);
    });

    it('answers a repeated reference with 409 and the open code’s id, and accepts it again once that code is cancelled', async () => {
      const { who, reference, id } = await issued();
      const again = await issue(shop, { sub: who.id, reference, description: 'Again', expires_in: 600 });
      expect(again.status).toBe(409);
      expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/u);
      expect(again.body).toMatchObject({ code: 'transaction_code_exists', status: 409, id });
      // Another service may use the same reference for its own order.
      const other = await registerService(h, 'Other shop', ['transaction_codes']);
      expect((await issue(other, { sub: who.id, reference, description: 'Theirs', expires_in: 600 })).status).toBe(201);

      expect((await txApi(h, 'DELETE', `/${id}`, await serviceToken(shop, 'transaction_codes'))).status).toBe(204);
      expect((await issue(shop, { sub: who.id, reference, description: 'Again', expires_in: 600 })).status).toBe(201);
    });

    it('refuses an unknown, disabled or unverified subject with one and the same 422 problem', async () => {
      const disabled = await person('disabled');
      const unverified = await person();
      await h.db.dataSource.query(`UPDATE users SET email_verified_at = NULL WHERE id = $1`, [unverified.id]);
      const answers = [];
      for (const sub of ['00000000-0000-4000-8000-000000000000', disabled.id, unverified.id]) {
        answers.push(await issue(shop, { sub, reference: ref(), description: 'Parcel', expires_in: 600 }));
      }
      for (const a of answers) {
        expect(a.status).toBe(422);
        expect(a.headers.get('content-type')).toMatch(/^application\/problem\+json/u);
      }
      expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
      expect(answers[0]!.body).toMatchObject({ code: 'subject_unavailable' });
      expect(h.mail.messagesTo(disabled.email)).toEqual([]);
      expect(h.mail.messagesTo(unverified.email)).toEqual([]);
    });

    it('refuses malformed requests with a 400 problem that names the field, and stores nothing', async () => {
      const who = await person();
      const base = { sub: who.id, reference: ref(), description: 'Parcel', expires_in: 600 };
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ ...base, sub: 'ada' }, 'sub'],
        [{ ...base, reference: '' }, 'reference'],
        [{ ...base, reference: 'x'.repeat(101) }, 'reference'],
        [{ ...base, reference: 'ORD\u0000' }, 'reference'],
        [{ ...base, description: '   ' }, 'description'],
        [{ ...base, description: 'Parcel\u202eevil' }, 'description'],
        [{ ...base, description: 'line\nbreak' }, 'description'],
        [{ ...base, description: 'x'.repeat(201) }, 'description'],
        [{ ...base, expires_in: 59 }, 'expires_in'],
        [{ ...base, expires_in: 30 * 86400 + 1 }, 'expires_in'],
        [{ ...base, expires_in: '600' }, 'expires_in'],
        [{ ...base, expires_in: 600.5 }, 'expires_in'],
        [{ sub: who.id, reference: ref(), description: 'Parcel' }, 'expires_in'],
        [{ ...base, valid_until_end_of: '2030-01-01', time_zone: 'UTC' }, 'expires_in'],
        [{ ...base, expires_in: undefined, valid_until_end_of: '2030-01-01' }, 'time_zone'],
        [{ ...base, expires_in: undefined, valid_until_end_of: '2030-01-01', time_zone: 'Mars/Base' }, 'time_zone'],
        [{ ...base, expires_in: undefined, valid_until_end_of: '2030-02-30', time_zone: 'Europe/Rome' }, 'valid_until_end_of'],
        [{ ...base, expires_in: undefined, valid_until_end_of: '2020-01-01', time_zone: 'Europe/Rome' }, 'valid_until_end_of'],
        [{ ...base, expires_in: undefined, valid_until_end_of: '2099-01-01', time_zone: 'Europe/Rome' }, 'valid_until_end_of'],
      ];
      for (const [body, field] of cases) {
        const answer = await issue(shop, body);
        expect({ field, status: answer.status, problem: answer.body }).toMatchObject({
          field,
          status: 400,
          problem: { code: 'invalid_request', field, status: 400 },
        });
        expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/u);
      }
      // A JSON array is no request either. (Unparseable JSON is refused by the app's body parser before any route: see the README.)
      const array = await txApi(h, 'POST', '', await serviceToken(shop, 'transaction_codes'), [base]);
      expect(array).toMatchObject({ status: 400, body: { code: 'invalid_request', field: 'body' } });
      expect(array.headers.get('content-type')).toMatch(/^application\/problem\+json/u);
      const [{ count }] = await h.db.dataSource.query(`SELECT count(*)::int AS count FROM transaction_codes WHERE user_id = $1`, [who.id]);
      expect(count).toBe(0);
    });
  });

  describe('verify', () => {
    it('accepts the right code once: a second use, or a wrong code, is {"valid": false}', async () => {
      const { reference, id, code, who } = await issued();
      const wrong = code === '000000' ? '000001' : '000000';
      expect(await verify(shop, reference, wrong)).toMatchObject({ status: 200, body: { valid: false } });
      // Typed with a space or hyphen is the same code.
      const ok = await verify(shop, reference, `${code.slice(0, 3)} ${code.slice(3)}`);
      expect(ok).toMatchObject({ status: 200, body: { valid: true } });
      expect(ok.headers.get('cache-control')).toBe('no-store');
      expect(await verify(shop, reference, code)).toMatchObject({ status: 200, body: { valid: false } });
      expect(await row(id)).toMatchObject({ attempts: 2, consumed_by_client_id: shop.clientId });

      const verified = await auditOf('transaction_code.verified', ['transaction_code_id', id]);
      expect(verified).toEqual([expect.objectContaining({ actor_type: 'client', actor_id: shop.clientId, subject_id: who.id })]);
      const failed = await auditOf('transaction_code.verification_failed', ['reference', reference]);
      expect(failed.map((e) => (e.details as { reason: string }).reason)).toEqual(['wrong_code', 'no_open_code_visible']);
      expect(failed.every((e) => e.actor_id === shop.clientId)).toBe(true);
      for (const e of [...verified, ...failed]) expect(mentionsCode(JSON.stringify(e), code)).toBe(false);
    });

    it('lets an allowed verifier check the code; one without the grant gets the answer of a wrong code and uses no attempt', async () => {
      const { reference, id, code } = await issued();
      const wrong = code === '999999' ? '999998' : '999999';
      const denied = await verify(stranger, reference, code);
      const wrongCode = await verify(courier, reference, wrong);
      const unknown = await verify(courier, `${reference}-unknown`, code);
      for (const answer of [denied, wrongCode, unknown]) {
        expect(answer.status).toBe(200);
        expect(answer.body).toEqual({ valid: false });
        expect(answer.headers.get('content-type')).toBe(denied.headers.get('content-type'));
        expect(answer.headers.get('content-length')).toBe(denied.headers.get('content-length'));
      }
      expect((await row(id)).attempts).toBe(1); // the courier's wrong guess only
      expect(await verify(courier, reference, code)).toMatchObject({ status: 200, body: { valid: true } });
      expect(await row(id)).toMatchObject({ consumed_by_client_id: courier.clientId });
    });

    it('counts parallel attempts atomically: never more than 5, then the code is locked and can be issued again', async () => {
      const { reference, id, code, who } = await issued();
      const token = await serviceToken(courier, 'transaction_codes:verify');
      const guesses = Array.from({ length: 20 }, (_, i) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'));
      const answers = await Promise.all(guesses.map((guess) => txApi(h, 'POST', '/verify', token, { reference, code: guess })));
      expect(answers.every((a) => a.status === 200 && a.body?.valid === false)).toBe(true);
      expect((await row(id)).attempts).toBe(5);
      const counted = await auditOf('transaction_code.verification_failed', ['transaction_code_id', id]);
      expect(counted.map((e) => (e.details as { attempts: number }).attempts).sort()).toEqual([1, 2, 3, 4, 5]);
      expect(counted.filter((e) => (e.details as { locked: boolean }).locked)).toHaveLength(1);

      // Locked: even the right code fails now, and it no longer shows on the account page.
      expect(await verify(courier, reference, code)).toMatchObject({ body: { valid: false } });
      expect((await row(id)).attempts).toBe(5);
      // The issuer can issue a new code for the same reference.
      const again = await issue(shop, { sub: who.id, reference, description: 'New code', expires_in: 600 });
      expect(again.status).toBe(201);
    });

    it('refuses an expired code', async () => {
      const { reference, code } = await issued();
      h.clock.advance(Duration.ofSeconds(3600));
      expect(await verify(courier, reference, code)).toMatchObject({ status: 200, body: { valid: false } });
    });

    it('slows down a verifier that keeps failing (429 with Retry-After), whatever the references', async () => {
      const guesser = await registerService(h, 'Guesser', ['transaction_codes:verify']);
      const token = await serviceToken(guesser, 'transaction_codes:verify');
      for (let i = 0; i < 50; i++) {
        expect((await txApi(h, 'POST', '/verify', token, { reference: `guess-${i}`, code: '123456' })).body).toEqual({ valid: false });
      }
      expect((await txApi(h, 'POST', '/verify', token, { reference: 'guess-50', code: '123456' })).body).toEqual({ valid: false });
      const slowed = await txApi(h, 'POST', '/verify', token, { reference: 'guess-51', code: '123456' });
      expect(slowed.status).toBe(429);
      expect(slowed.headers.get('retry-after')).toBe('1');
      expect(slowed.body).toMatchObject({ code: 'verification_throttled', status: 429 });
      // Another verifier is not slowed down.
      expect((await verify(courier, 'guess-52', '123456')).status).toBe(200);
    });

    it('refuses a malformed verification body with a 400 problem', async () => {
      const token = await serviceToken(courier, 'transaction_codes:verify');
      for (const body of [{ code: '123456' }, { reference: 'x', code: 123456 }, { reference: '', code: '123456' }]) {
        const answer = await txApi(h, 'POST', '/verify', token, body);
        expect(answer.status).toBe(400);
        expect(answer.body).toMatchObject({ code: 'invalid_request' });
      }
      // A code that is not 6 digits is simply not valid.
      expect((await txApi(h, 'POST', '/verify', token, { reference: 'x', code: '12ab56' })).body).toEqual({ valid: false });
    });
  });

  describe('cancel', () => {
    it('lets only the issuer cancel: others get 404 like an unknown id; a cancelled code no longer verifies', async () => {
      const { reference, id, code, who } = await issued();
      const other = await registerService(h, 'Another shop', ['transaction_codes']);
      const notMine = await txApi(h, 'DELETE', `/${id}`, await serviceToken(other, 'transaction_codes'));
      const unknown = await txApi(h, 'DELETE', '/00000000-0000-4000-8000-000000000000', await serviceToken(other, 'transaction_codes'));
      const junk = await txApi(h, 'DELETE', '/not-an-id', await serviceToken(other, 'transaction_codes'));
      for (const answer of [notMine, unknown, junk]) {
        expect(answer.status).toBe(404);
        expect(answer.body).toEqual(notMine.body);
      }
      expect(notMine.body).toMatchObject({ code: 'transaction_code_not_found' });

      const token = await serviceToken(shop, 'transaction_codes');
      const cancelled = await txApi(h, 'DELETE', `/${id}`, token);
      expect(cancelled.status).toBe(204);
      expect(cancelled.body).toBeUndefined();
      expect((await txApi(h, 'DELETE', `/${id}`, token)).status).toBe(204);
      expect(await verify(courier, reference, code)).toMatchObject({ body: { valid: false } });
      const events = await auditOf('transaction_code.cancelled', ['transaction_code_id', id]);
      expect(events).toEqual([expect.objectContaining({ actor_type: 'client', actor_id: shop.clientId, subject_id: who.id })]);
    });

    /** A code whose email the SMTP server turned away once (451): it waits in the outbox for a retry the clock has not reached. */
    async function waitingForRetry(token: string, description: string, expiresIn = 3600) {
      const who = await person();
      h.mail.failNext(1);
      const reference = ref();
      const answer = await txApi(h, 'POST', '', token, { sub: who.id, reference, description, expires_in: expiresIn });
      expect(answer.status).toBe(201);
      const id = answer.body!.id as string;
      const messageId = (await row(id)).message_id as string;
      await until(async () => {
        const m = await outboxRow(messageId);
        return m.status === 'pending' && m.attempts === 1 && m.locked_until === null;
      }, `the first attempt of ${messageId} to fail`);
      return { who, id, messageId, reference };
    }

    it('withdraws the email of a code cancelled while it waits in the outbox: it is never delivered; an uncancelled one is', async () => {
      const token = await serviceToken(shop, 'transaction_codes');
      const cancelled = await waitingForRetry(token, 'Parcel returned to sender');
      const kept = await waitingForRetry(token, 'Parcel still on its way');

      expect((await txApi(h, 'DELETE', `/${cancelled.id}`, token)).status).toBe(204);
      expect(await outboxRow(cancelled.messageId)).toMatchObject({
        status: 'withdrawn',
        payload: null,
        withdrawn_at: h.clock.now(),
        last_error: expect.stringMatching(/^smtp/u) as unknown,
      });
      // To a sender asking, it will not arrive.
      expect(await h.app.app.get(OutboxService, { strict: false }).status(cancelled.messageId)).toEqual({
        status: 'failed',
        attempts: 1,
        lastError: 'withdrawn',
      });
      expect((await auditOf('transaction_code.cancelled', ['transaction_code_id', cancelled.id]))[0]!.details).toMatchObject({
        message_id: cancelled.messageId,
        message_withdrawn: true,
      });

      // Both retries fall due; the worker runs: only the code that was not cancelled is delivered.
      h.clock.advance(Duration.ofMinutes(1));
      await h.app.app.get(OutboxWorker, { strict: false }).runOnce();
      const delivered = await h.mail.waitFor((m) => m.envelope.to.includes(kept.who.email));
      expect(delivered.subject).toContain('Parcel still on its way');
      await until(async () => (await outboxRow(kept.messageId)).status === 'sent', `${kept.messageId} to be sent`);
      expect((await outboxRow(cancelled.messageId)).status).toBe('withdrawn');
      expect(h.mail.messagesTo(cancelled.who.email)).toEqual([]);
    });

    it('does not send the email of a code that expired or was locked while it waited in the outbox; a valid one is sent', async () => {
      const token = await serviceToken(shop, 'transaction_codes');
      const expiring = await waitingForRetry(token, 'Parcel with a short code', 120);
      const locked = await waitingForRetry(token, 'Parcel guessed at');
      const valid = await waitingForRetry(token, 'Parcel on its way');
      // Someone guesses the locked one's code five times before its email is even out.
      for (let i = 0; i < 5; i++) expect((await verify(courier, locked.reference, '000000')).body).toEqual({ valid: false });
      expect((await row(locked.id)).attempts).toBe(5);

      // The retries fall due after the short code expired: only the valid code's email goes out.
      h.clock.advance(Duration.ofMinutes(3));
      await h.app.app.get(OutboxWorker, { strict: false }).runOnce();
      const delivered = await h.mail.waitFor((m) => m.envelope.to.includes(valid.who.email));
      expect(delivered.subject).toContain('Parcel on its way');
      for (const stale of [expiring, locked]) {
        await until(async () => (await outboxRow(stale.messageId)).status === 'failed', `${stale.messageId} to be given up`);
        expect(await outboxRow(stale.messageId)).toMatchObject({
          status: 'failed',
          payload: null,
          last_error: 'otp: code no longer valid',
        });
        expect(h.mail.messagesTo(stale.who.email)).toEqual([]);
      }
    });

    it('leaves alone an email already sent, or being sent, when its code is cancelled', async () => {
      const token = await serviceToken(shop, 'transaction_codes');
      const sent = await issued();
      const sentMessage = (await row(sent.id)).message_id as string;
      expect((await txApi(h, 'DELETE', `/${sent.id}`, token)).status).toBe(204);
      expect((await outboxRow(sentMessage)).status).toBe('sent');

      // A worker holds the message (its lease runs): the send may be under way, so it is not withdrawn.
      const who = await person();
      h.mail.failNext(1);
      const answer = await txApi(h, 'POST', '', token, { sub: who.id, reference: ref(), description: 'Parcel', expires_in: 3600 });
      const messageId = (await row(answer.body!.id as string)).message_id as string;
      await until(async () => (await outboxRow(messageId)).attempts === 1 && (await outboxRow(messageId)).locked_until === null, 'a retry');
      await h.db.dataSource.query(`UPDATE outbox_messages SET locked_until = $2 WHERE id = $1`, [
        messageId,
        new Date(h.clock.now().getTime() + 60_000),
      ]);
      expect((await txApi(h, 'DELETE', `/${answer.body!.id as string}`, token)).status).toBe(204);
      expect(await outboxRow(messageId)).toMatchObject({ status: 'pending', withdrawn_at: null });
      for (const id of [sent.id, answer.body!.id as string]) {
        expect((await auditOf('transaction_code.cancelled', ['transaction_code_id', id]))[0]!.details).toMatchObject({
          message_withdrawn: false,
        });
      }
    });

    it('answers 409 for a code that was used already', async () => {
      const { reference, id, code } = await issued();
      expect((await verify(shop, reference, code)).body).toEqual({ valid: true });
      const answer = await txApi(h, 'DELETE', `/${id}`, await serviceToken(shop, 'transaction_codes'));
      expect(answer).toMatchObject({ status: 409, body: { code: 'transaction_code_used' } });
    });
  });

  describe('access tokens', () => {
    it('without a token: 401 with a Bearer challenge, as problem+json', async () => {
      for (const [method, path] of [
        ['POST', ''],
        ['POST', '/verify'],
        ['DELETE', '/00000000-0000-4000-8000-000000000000'],
      ] as const) {
        const answer = await txApi(h, method, path, undefined, method === 'POST' ? {} : undefined);
        expect(answer.status).toBe(401);
        expect(answer.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');
        expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/u);
        expect(answer.body).toMatchObject({ status: 401, code: 'token_required' });
      }
      // Another scheme is no bearer token either.
      const basic = await fetch(`${h.app.url}/api/v1/transaction-codes/verify`, {
        method: 'POST',
        headers: { Authorization: 'Basic eDp5' },
      });
      expect(basic.status).toBe(401);
    });

    it('an unknown, revoked or expired token: 401 invalid_token', async () => {
      const unknown = await txApi(h, 'POST', '/verify', 'not-a-token-we-issued', { reference: 'x', code: '123456' });
      expect(unknown.status).toBe(401);
      expect(unknown.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse", error="invalid_token"');
      expect(unknown.body).toMatchObject({ code: 'invalid_token' });

      const revoked = await serviceToken(courier, 'transaction_codes:verify');
      expect((await txApi(h, 'POST', '/verify', revoked, { reference: 'x', code: '123456' })).status).toBe(200);
      await client.tokenRevocation(courier.config, revoked);
      expect((await txApi(h, 'POST', '/verify', revoked, { reference: 'x', code: '123456' })).status).toBe(401);

      const expiring = await serviceToken(courier, 'transaction_codes:verify');
      h.clock.advance(Duration.ofMinutes(11));
      const expired = await txApi(h, 'POST', '/verify', expiring, { reference: 'x', code: '123456' });
      expect(expired.status).toBe(401);
      expect(expired.body).toMatchObject({ code: 'invalid_token' });
    });

    it('a token without the scope: 403 insufficient_scope', async () => {
      const verifyOnly = await serviceToken(courier, 'transaction_codes:verify');
      const who = await person();
      const answer = await txApi(h, 'POST', '', verifyOnly, { sub: who.id, reference: ref(), description: 'Parcel', expires_in: 600 });
      expect(answer.status).toBe(403);
      expect(answer.headers.get('www-authenticate')).toBe(
        'Bearer realm="gatehouse", error="insufficient_scope", scope="transaction_codes"',
      );
      expect(answer.body).toMatchObject({ status: 403, code: 'insufficient_scope' });
      const cancel = await txApi(h, 'DELETE', '/00000000-0000-4000-8000-000000000000', verifyOnly);
      expect(cancel.status).toBe(403);
      // The shop asked only for transaction_codes: it cannot verify with that token.
      const issueOnly = await serviceToken(shop, 'transaction_codes');
      expect((await txApi(h, 'POST', '/verify', issueOnly, { reference: 'x', code: '123456' })).status).toBe(403);
      expect(h.mail.messagesTo(who.email)).toEqual([]);
    });

    it('a client not registered for a scope cannot get it into a token, and a client without scopes gets none', async () => {
      await expect(client.clientCredentialsGrant(courier.config, { scope: 'transaction_codes' })).rejects.toMatchObject({
        error: 'invalid_scope',
      });
      const bare = await registerService(h, 'Bare service', []);
      // Registered without scopes, the provider has no allow-list to check a request against and
      // issues the token; Gatehouse honours only the scopes a client is registered for.
      const bareToken = (await client.clientCredentialsGrant(bare.config, { scope: 'transaction_codes' })).access_token;
      const answer = await txApi(h, 'POST', '', bareToken, {
        sub: (await person()).id,
        reference: ref(),
        description: 'x',
        expires_in: 600,
      });
      expect(answer).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
    });

    it("a user's access token (authorization code flow) is not a service's token: 403", async () => {
      const who = await person();
      const rp = await registerApp(h, { name: 'Portal' });
      const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who);
      const answer = await txApi(h, 'POST', '/verify', tokens.access_token, { reference: 'x', code: '123456' });
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({ code: 'insufficient_scope' });
    });
  });

  describe('account page', () => {
    it('shows the signed-in user their open codes with service, description, code and validity; viewing is audited', async () => {
      const { who, id, code, reference } = await issued({ description: 'Parcel with a <b>laptop</b>' });
      const used = await issue(shop, { sub: who.id, reference: ref(), description: 'Used parcel', expires_in: 600 });
      const usedMail = await h.mail.waitFor((m) => m.envelope.to.includes(who.email) && m.subject.includes('Used parcel'));
      const usedCode = /(?<!\d)(\d{6})(?!\d)/u.exec(usedMail.text)![1]!;
      expect((await verify(shop, (await row(used.body!.id as string)).reference as string, usedCode)).body).toEqual({ valid: true });

      const web = new WebClient(h.app.url);
      await web.get('/account');
      const landing = await signIn(h, web, who);
      const page = landing.page!;
      expect(page.status).toBe(200);
      const visible = text(page.html);
      expect(visible).toContain('Transaction codes');
      expect(visible).toContain('Parcel Shop');
      expect(page.html).toContain('Parcel with a &lt;b&gt;laptop&lt;/b&gt;');
      expect(page.html).not.toContain('<b>laptop</b>');
      expect(visible).toContain(`Reference ${reference}`);
      expect(mentionsCode(visible, code)).toBe(true);
      expect(visible).toMatch(/until \d{1,2} \w+ \d{4} at \d{2}:\d{2} UTC/u);
      expect(mentionsCode(visible, usedCode)).toBe(false);
      expect(visible).not.toContain('Used parcel');

      const viewed = await h.db.dataSource.query<Array<{ actor_id: string; details: { transaction_code_ids: string[] } }>>(
        `SELECT actor_id, details FROM audit_events WHERE event_type = 'transaction_code.viewed' AND subject_id = $1`,
        [who.id],
      );
      expect(viewed).toEqual([{ actor_id: who.id, details: { transaction_code_ids: [id] } }]);
    });
  });

  it("records the user's organization on every audit entry of their codes: issued, viewed, verified, failed, cancelled", async () => {
    const other = await seedOrganization(h.db.dataSource, 'tx-other');
    const who = await seedPerson(h, other, `org${++n}`);
    const token = await serviceToken(shop, 'transaction_codes');
    const issueFor = async (description: string) => {
      const answer = await issue(shop, { sub: who.id, reference: ref(), description, expires_in: 3600 });
      expect(answer.status).toBe(201);
      const mail = await h.mail.waitFor((m) => m.envelope.to.includes(who.email) && m.subject.includes(description));
      return {
        id: answer.body!.id as string,
        reference: answer.body!.reference as string,
        code: /(?<!\d)(\d{6})(?!\d)/u.exec(mail.text)![1]!,
      };
    };
    const checked = await issueFor('Checked parcel');
    const dropped = await issueFor('Dropped parcel');
    await issueFor('Open parcel');
    const wrong = checked.code === '000000' ? '111111' : '000000';
    expect((await verify(courier, checked.reference, wrong)).body).toEqual({ valid: false });
    expect((await verify(courier, checked.reference, checked.code)).body).toEqual({ valid: true });
    expect((await txApi(h, 'DELETE', `/${dropped.id}`, token)).status).toBe(204);
    const web = new WebClient(h.app.url);
    await web.get('/account');
    expect((await signIn(h, web, who)).page!.status).toBe(200);

    const events = await h.db.dataSource.query<Array<{ event_type: string; organization_id: string | null }>>(
      `SELECT event_type, organization_id FROM audit_events WHERE event_type LIKE 'transaction_code.%' AND subject_id = $1 ORDER BY id`,
      [who.id],
    );
    expect(events.map((e) => e.event_type)).toEqual([
      'transaction_code.issued',
      'transaction_code.issued',
      'transaction_code.issued',
      'transaction_code.verification_failed',
      'transaction_code.verified',
      'transaction_code.cancelled',
      'transaction_code.viewed',
    ]);
    for (const event of events) expect(event).toEqual({ event_type: event.event_type, organization_id: other });
    // A failure with no code behind it concerns no user, hence no organization.
    expect((await verify(courier, `unknown-${ref()}`, '123456')).body).toEqual({ valid: false });
    const [unknown] = await h.db.dataSource.query<Array<{ subject_id: string | null; organization_id: string | null }>>(
      `SELECT subject_id, organization_id FROM audit_events WHERE event_type = 'transaction_code.verification_failed' ORDER BY id DESC LIMIT 1`,
    );
    expect(unknown).toEqual({ subject_id: null, organization_id: null });
  });

  it('never writes a code to the logs', async () => {
    const codes = await h.db.dataSource.query<Array<{ id: string }>>(`SELECT id FROM transaction_codes`);
    expect(codes.length).toBeGreaterThan(10);
    const mailed = h.mail.messages
      .filter((m) => m.subject.includes('Gatehouse code for'))
      .map((m) => /(?<!\d)(\d{6})(?!\d)/u.exec(m.text)![1]!);
    expect(mailed.length).toBeGreaterThan(10);
    const logs = h.app.logs.text;
    expect(logs.length).toBeGreaterThan(0);
    for (const code of mailed) expect(mentionsCode(logs, code)).toBe(false);
  });
});
