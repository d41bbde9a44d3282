import { Duration, FixedClock } from '#libs/core';
import { ACCOUNT_RULE, IP_RULE, ThrottleService } from '#libs/throttle';
import { api, errorLines, expectPage, startHarness, type Harness } from '../../support/journeys.js';
import { WebClient, seedLegacyAccount, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * Issue 13, items 1, 2, 3 and 8 over HTTP against the real IdP and PostgreSQL: parallel
 * attempts are reserved before they are evaluated (never more than the rules allow), failures
 * in a row are capped across windows, a failed password check answers no sooner than the floor
 * whatever hash the account holds, weak passwords are refused with a reason, and a NUL or
 * control character in an identifier is a 400 before any query.
 */
describe('sign-in hardening', () => {
  let h: Harness;
  let org: string;
  let ips = 0;
  const PASSWORD = 'correct horse battery 9';

  beforeAll(async () => {
    h = await startHarness();
    org = await seedOrganization(h.db.dataSource, 'acme');
  });

  afterEach(() => {
    expect(errorLines(h.app)).toEqual([]);
  });

  afterAll(async () => {
    await h.close();
  });

  const db = () => h.db.dataSource;
  /** A fresh client address, so one test's per-IP counter does not reach another. */
  const client = () => ({ 'X-Forwarded-For': `203.0.113.${++ips}` });
  const signIn = (body: Record<string, unknown>, headers: Record<string, string>) =>
    api(h.app.url, 'POST', '/api/v1/signin', { body, headers });
  /** How many attempts were evaluated: each evaluated failure is audited once, a refused one never. */
  const failuresAudited = async (since: string) =>
    Number((await db().query(`SELECT count(*)::int AS n FROM audit_events WHERE event_type = 'signin.failed' AND seq > $1`, [since]))[0].n);
  const lastSeq = async () => String((await db().query(`SELECT coalesce(max(seq), 0)::text AS s FROM audit_events`))[0].s);

  describe('throttle reservations (item 1)', () => {
    it('200 parallel wrong passwords against one account: only the free failures and the one that starts the delay are evaluated', async () => {
      await seedUser(db(), org, { enterpriseId: 'race.one', password: PASSWORD, email: 'race.one@example.com' });
      const since = await lastSeq();
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) => signIn({ user_id: 'race.one', password: `wrong guess number ${i}` }, client())),
      );
      const evaluated = answers.filter((a) => a.status === 401).length;
      expect(evaluated).toBe(ACCOUNT_RULE.freeFailures + 1);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(200 - evaluated);
      expect(await failuresAudited(since)).toBe(evaluated);
      const [counter] = await db().query(`SELECT failures, consecutive_failures FROM throttle_counters WHERE key = 'signin:acct:race.one'`);
      expect(counter).toEqual({ failures: evaluated, consecutive_failures: evaluated });
    });

    it('30 wrong passwords and the right one in parallel: at most the rule is evaluated, the right one included', async () => {
      await seedUser(db(), org, { enterpriseId: 'race.two', password: PASSWORD, email: 'race.two@example.com' });
      const since = await lastSeq();
      const attempts = [
        ...Array.from({ length: 30 }, (_, i) => ({ user_id: 'race.two', password: `wrong guess number ${i}` })),
        { user_id: 'race.two', password: PASSWORD },
      ];
      const answers = await Promise.all(attempts.map((body) => signIn(body, client())));
      const evaluated = answers.filter((a) => a.status !== 429);
      expect(evaluated.length).toBeLessThanOrEqual(ACCOUNT_RULE.freeFailures + 1);
      expect(await failuresAudited(since)).toBe(evaluated.filter((a) => a.status === 401).length);
      const right = answers.at(-1)!;
      expect([200, 429]).toContain(right.status);
      if (right.status === 200) expect(right.body).toMatchObject({ step: 'otp' });
    });

    it('40 parallel attempts from one address with different unknown IDs: the address rule caps what is evaluated', async () => {
      const headers = client();
      const since = await lastSeq();
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => signIn({ user_id: `nobody.${i}`, password: 'some guessed password' }, headers)),
      );
      expect(answers.filter((a) => a.status === 401)).toHaveLength(IP_RULE.freeFailures + 1);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(40 - IP_RULE.freeFailures - 1);
      expect(await failuresAudited(since)).toBe(IP_RULE.freeFailures + 1);
      // Nothing is left counted against the unknown IDs that the address refused.
      const counted = await db().query(
        `SELECT count(*)::int AS n FROM throttle_counters WHERE key LIKE 'signin:acct:nobody.%' AND failures > 0`,
      );
      expect(counted[0].n).toBe(IP_RULE.freeFailures + 1);
    });

    it('a right password gives its reservation back: the address is not charged for a success', async () => {
      await seedUser(db(), org, { enterpriseId: 'race.three', password: PASSWORD, email: 'race.three@example.com' });
      const headers = client();
      for (let i = 0; i < 3; i++) expect((await signIn({ user_id: 'race.three', password: PASSWORD }, headers)).status).toBe(200);
      const ip = headers['X-Forwarded-For'];
      expect(await db().query(`SELECT failures FROM throttle_counters WHERE key = $1`, [`signin:ip:${ip}`])).toEqual([{ failures: 0 }]);
      expect(await db().query(`SELECT key FROM throttle_counters WHERE key = 'signin:acct:race.three'`)).toEqual([]);
    });

    it('100 failures in a row lock the account name across windows: the right password is refused until a reset', async () => {
      await seedUser(db(), org, { enterpriseId: 'locked.out', password: PASSWORD, email: 'locked.out@example.com' });
      // The counter as 99 failures spread over days would leave it (each window forgot the delays).
      await db().query(
        `INSERT INTO throttle_counters (key, failures, consecutive_failures, window_started_at, updated_at, free_failures,
           base_delay_ms, max_delay_ms, window_ms, lock_after) VALUES ('signin:acct:locked.out', 1, 99, $1, $1, 5, 2000, 900000, 3600000, 100)`,
        [Duration.ofDays(3).before(h.clock.now())],
      );
      const last = await signIn({ user_id: 'locked.out', password: 'the hundredth guess' }, client());
      expect(last.status).toBe(401);
      for (const password of ['one more guess here', PASSWORD]) {
        const refused = await signIn({ user_id: 'LOCKED.OUT', password }, client());
        expect(refused.status).toBe(423);
        expect(refused.body).toMatchObject({ step: 'credentials', error: { code: 'locked' } });
        expect(refused.headers.get('retry-after')).toBeNull();
      }
      h.clock.advance(Duration.ofDays(2));
      expect((await signIn({ user_id: 'locked.out', password: PASSWORD }, client())).status).toBe(423);
      // An unknown name locks the same way: the lock tells nothing about who exists.
      await db().query(
        `INSERT INTO throttle_counters (key, failures, consecutive_failures, window_started_at, updated_at, lock_after)
         VALUES ('signin:acct:nobody.locked', 0, 100, $1, $1, 100)`,
        [h.clock.now()],
      );
      const stranger = await signIn({ user_id: 'nobody.locked', password: PASSWORD }, client());
      expect(stranger.status).toBe(423);
      expect(stranger.body).toEqual((await signIn({ user_id: 'locked.out', password: PASSWORD }, client())).body);
    });
  });

  describe('the throttle service on PostgreSQL', () => {
    it('keeps counting failures in a row when a window ends, and a reset forgets them', async () => {
      const clock = new FixedClock('2026-07-01T00:00:00Z');
      const throttle = new ThrottleService(db(), clock);
      const rule = { ...ACCOUNT_RULE, lockAfter: 12 };
      for (let i = 1; i <= 12; i++) {
        const reserved = await throttle.reserve([['test:acct:x', rule]]);
        expect(reserved).toMatchObject({ ok: true });
        // Past every delay and, every third failure, past the window.
        clock.advance(i % 3 === 0 ? Duration.ofHours(2) : Duration.ofMinutes(16));
      }
      const [row] = await db().query(`SELECT failures, consecutive_failures FROM throttle_counters WHERE key = 'test:acct:x'`);
      expect(row.consecutive_failures).toBe(12);
      expect(row.failures).toBeLessThan(12);
      expect(await throttle.reserve([['test:acct:x', rule]])).toEqual({ ok: false, locked: true, wait: 0 });
      clock.advance(Duration.ofDays(30));
      expect(await throttle.reserve([['test:acct:x', rule]])).toMatchObject({ ok: false, locked: true });
      await throttle.reset('test:acct:x');
      expect(await throttle.reserve([['test:acct:x', rule]])).toMatchObject({ ok: true });
    });

    it('a refused attempt counts against no key: what one key counted is given back when another refuses', async () => {
      const clock = new FixedClock('2026-07-01T00:00:00Z');
      const throttle = new ThrottleService(db(), clock);
      await db().query(
        `INSERT INTO throttle_counters (key, failures, consecutive_failures, window_started_at, blocked_until, updated_at)
         VALUES ('test:blocked', 9, 9, $1, $2, $1)`,
        [clock.now(), Duration.ofSeconds(30).after(clock.now())],
      );
      const refused = await throttle.reserve([
        ['test:blocked', IP_RULE],
        ['test:free', IP_RULE],
      ]);
      expect(refused).toEqual({ ok: false, locked: false, wait: 30 });
      expect(await db().query(`SELECT failures, consecutive_failures FROM throttle_counters WHERE key = 'test:free'`)).toEqual([
        { failures: 0, consecutive_failures: 0 },
      ]);
      // Purged once nothing is left to remember.
      clock.advance(Duration.ofHours(2));
      expect(await throttle.purge()).toBeGreaterThanOrEqual(2);
      expect(await db().query(`SELECT key FROM throttle_counters WHERE key LIKE 'test:%' AND key <> 'test:acct:x'`)).toEqual([]);
    });
  });

  describe('one floor for every failed password check (item 2)', () => {
    it('a pending legacy account with a cheap hash, an enrolled user and an unknown ID all answer no sooner than the floor', async () => {
      await seedLegacyAccount(db(), org, { legacyUserId: 'LEG-FAST', password: 'legacy password 4', email: 'legfast@example.com' });
      await seedUser(db(), org, { enterpriseId: 'floor.user', password: PASSWORD, email: 'floor.user@example.com' });
      for (const userId of ['LEG-FAST', 'floor.user', 'nobody.at.all']) {
        const started = performance.now();
        const answer = await signIn({ user_id: userId, password: 'not the right one' }, client());
        const elapsed = performance.now() - started;
        expect(answer.status).toBe(401);
        expect(answer.body).toEqual({
          step: 'credentials',
          error: { code: 'invalid_credentials', message: 'The User ID or password is not correct.' },
        });
        expect(elapsed).toBeGreaterThanOrEqual(1000);
      }
    });
  });

  describe('weak passwords (item 3)', () => {
    it('enrollment refuses a password built from the organization and the service, and says why', async () => {
      await seedLegacyAccount(db(), org, { legacyUserId: 'LEG-WEAK', password: 'legacy password 5', email: 'legweak@example.com' });
      const web = new WebClient(h.app.url);
      Object.assign(web.extraHeaders, client());
      await web.get('/signin');
      expectPage(await web.post('/signin', { user_id: 'LEG-WEAK', password: 'legacy password 5' }), 200, 'Confirm your details');
      expectPage(await web.post('/enroll/confirm', { action: 'confirm' }), 200, 'Create your Enterprise ID');
      for (const weak of ['password1234', 'qwertyuiop12', 'Gatehouse Acme 1', 'acme acme acme']) {
        const page = await web.post('/enroll/credentials', {
          enterprise_id: 'weak.walter',
          password: weak,
          confirm_password: weak,
          security_code: '27182818',
          confirm_security_code: '27182818',
          mobile: '',
        });
        expect(page.status).toBe(422);
        expect(text(page.html)).toMatch(/too (easy to guess|common)|leaked/u);
      }
    });
  });

  describe('control characters in identifiers (item 8)', () => {
    it('a NUL in the JSON API, the form and recovery is a 400 that says so, counted nowhere', async () => {
      const headers = client();
      const since = await lastSeq();
      const json = await signIn({ user_id: 'ada\u0000lovelace', password: 'whatever it is' }, headers);
      expect(json.status).toBe(400);
      expect(json.body).toMatchObject({
        step: 'credentials',
        error: { code: 'invalid_characters', message: expect.stringContaining('control') },
      });

      const web = new WebClient(h.app.url);
      Object.assign(web.extraHeaders, headers);
      await web.get('/signin');
      const form = await web.post('/signin', { user_id: 'ada\u0000', password: 'whatever it is' });
      expect(form.status).toBe(400);
      expect(form.headers.get('content-type')).toContain('text/html');
      expect(text(form.html)).toContain('The User ID contains control or invisible characters.');

      await web.get('/recover/password');
      const page = await web.post('/recover/password', { enterprise_id: 'ada\u0000', security_code: '27182818' });
      expect(page.status).toBe(400);
      expect(text(page.html)).toContain('This contains control or invisible characters.');

      for (const goal of ['password', 'enterprise_id'] as const) {
        const started = await api(h.app.url, 'POST', '/api/v1/recovery', { body: { goal }, headers });
        expect(started.status).toBe(201);
        const flow = { id: started.body.flow_id as string, token: started.body.flow_token as string };
        const identify = await api(h.app.url, 'POST', `/api/v1/recovery/${flow.id}/identify`, {
          flowToken: flow.token,
          headers,
          body: { enterprise_id: 'ada\u0000', email: 'ada\u0000@example.com', security_code: '27182818' },
        });
        expect({ goal, status: identify.status }).toEqual({ goal, status: 400 });
        expect(JSON.stringify(identify.body)).toMatch(/control|invisible|NUL/u);
      }

      const ip = headers['X-Forwarded-For'];
      expect(await db().query(`SELECT key FROM throttle_counters WHERE key LIKE $1`, [`%${ip}`])).toEqual([]);
      expect(await failuresAudited(since)).toBe(0);
    });

    it('another control or invisible character in the User ID is refused before any query, and counts no failure', async () => {
      const headers = client();
      const since = await lastSeq();
      for (const userId of ['ada\u0007', 'ada\u200blovelace', 'ada\u202e']) {
        const answer = await signIn({ user_id: userId, password: 'whatever it is' }, headers);
        expect(answer.status).toBe(400);
        expect(answer.body).toMatchObject({
          step: 'credentials',
          error: { code: 'invalid_characters', message: expect.stringContaining('control') },
        });
      }
      expect(await failuresAudited(since)).toBe(0);
    });
  });
});
