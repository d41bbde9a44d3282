import { Duration } from '#libs/core';
import { containsLink } from '#libs/notifications';
import {
  cli,
  expectNoSecrets,
  seedStaff,
  setupMails,
  signInStaff,
  startConsole,
  waitForSetupCode,
  type ConsoleHarness,
} from '../../support/admin.js';
import { codeMails, expectPage, nextEmailCode } from '../../support/journeys.js';
import { extractCode } from '../../support/mail.js';
import { text, type WebClient } from '../../support/web.js';

/**
 * Staff accounts of the support console end to end: `staff:create` (the CLI, emailing a
 * setup code through a real SMTP server), the setup page, sign-in with password and an
 * emailed one-time code, sign-out, and the staff session's idle and absolute timeouts on a
 * fixed clock.
 */
describe('support console: staff accounts, setup and sign-in', () => {
  let h: ConsoleHarness;

  beforeAll(async () => {
    h = await startConsole();
  });

  afterAll(async () => {
    await h.close();
  });

  /** Every answer of a journey, checked for secrets as it comes. */
  const seen: string[] = [];
  const track = (web: WebClient) => {
    if (web.last) seen.push(web.last.html);
    return web.last!;
  };

  describe('staff:create', () => {
    it('refuses bad usage with exit code 2 and a bad address with 1', async () => {
      expect((await cli(h, ['staff:create', '--email', 'x@example.com', '--name', 'X'])).code).toBe(2);
      expect((await cli(h, ['staff:create', '--email', 'x@example.com', '--name', 'X', '--role', 'admin'])).code).toBe(2);
      const bad = await cli(h, ['staff:create', '--email', 'not-an-address', '--name', 'X', '--role', 'support']);
      expect(bad.code).toBe(1);
      expect(bad.err.at(-1)).toMatch(/^error: --email: Enter a valid email address/u);
      const [{ n }] = await h.db.dataSource.query(`SELECT count(*)::int AS n FROM staff`);
      expect(n).toBe(0);
    });

    it('creates a pending staff member and emails a link-free one-time setup code', async () => {
      const run = await cli(h, ['staff:create', '--email', 'Sam.Super@Example.com', '--name', 'Sam Super', '--role', 'supervisor']);
      expect(run.code).toBe(0);
      expect(run.out[0]).toMatch(/^created staff member Sam\.Super@example\.com \(supervisor, [0-9a-f-]{36}\)$/u);
      expect(run.out[1]).toMatch(/^setup code sent by email to Sam\.Super@example\.com; valid until /u);

      const code = await waitForSetupCode(h.mail, 'sam.super@example.com');
      const mail = setupMails(h.mail, 'sam.super@example.com')[0]!;
      expect(mail.text).toContain('Hello Sam Super,');
      expect(mail.text).toContain('supervisor');
      expect(containsLink(mail.text) || containsLink(mail.subject)).toBe(false);
      expect(mail.subject).not.toContain(code);

      const [row] = await h.db.dataSource.query(
        `SELECT status, role, email, password_hash, email_verified_at, setup_selector, encode(setup_code_hmac, 'hex') AS hmac,
                setup_expires_at, created_by FROM staff WHERE email_key = 'sam.super@example.com'`,
      );
      expect(row).toMatchObject({ status: 'pending', role: 'supervisor', password_hash: null, email_verified_at: null });
      expect(row.created_by).toMatch(/^operator:/u);
      // Only a selector and an HMAC are kept: the code itself is nowhere in the row.
      expect(JSON.stringify(row)).not.toContain(code.replace(/-/gu, ''));
      // 72 hours from its creation (the CLI runs on the system clock).
      const [times] = await h.db.dataSource.query(
        `SELECT setup_expires_at - created_at AS validity FROM staff WHERE email_key = 'sam.super@example.com'`,
      );
      expect(times.validity).toMatchObject({ days: 3 });
      const [audit] = await h.db.dataSource.query(`SELECT actor_type, details FROM audit_events WHERE event_type = 'staff.created'`);
      expect(audit.actor_type).toBe('operator');
      expect(JSON.stringify(audit.details)).not.toContain(code);
    });

    it('refuses a second account for the same address, whatever its case', async () => {
      const again = await cli(h, ['staff:create', '--email', 'SAM.SUPER@example.com', '--name', 'Other', '--role', 'support']);
      expect(again.code).toBe(1);
      expect(again.err.at(-1)).toMatch(/already exists/u);
    });
  });

  describe('setup', () => {
    it('shows the contract labels and refuses a wrong code with one answer for every failure', async () => {
      const web = h.client();
      const page = await web.get('/setup');
      expect(page.status).toBe(200);
      for (const label of ['Setup code', 'New password', 'Confirm new password']) expect(page.html).toContain(`>${label}</label>`);
      expect(page.html).toMatch(/<button type="submit">Continue<\/button>/u);

      const code = await waitForSetupCode(h.mail, 'sam.super@example.com');
      const wrong = `${code.slice(0, -1)}${code.endsWith('0') ? '1' : '0'}`;
      const answers = [];
      for (const attempt of [wrong, 'ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ', 'nonsense']) {
        const res = await web.post('/setup', {
          code: attempt,
          password: 'a long enough pass phrase',
          confirm_password: 'a long enough pass phrase',
        });
        expect(res.status).toBe(422);
        answers.push(text(res.html).replace(/csrf/gu, ''));
      }
      expect(new Set(answers).size).toBe(1);
      expect(answers[0]).toContain('This setup code is not valid or has expired');
      const [{ setup_attempts }] = await h.db.dataSource.query(
        `SELECT setup_attempts FROM staff WHERE email_key = 'sam.super@example.com'`,
      );
      expect(setup_attempts).toBe(1);
    });

    it('applies the password policy without spending the code, then activates the account and proves its email', async () => {
      const web = h.client();
      await web.get('/setup');
      const code = await waitForSetupCode(h.mail, 'sam.super@example.com');
      const short = await web.post('/setup', { code, password: 'short', confirm_password: 'short' });
      expect(short.status).toBe(422);
      expect(text(short.html)).toContain('at least 12 characters');
      const common = await web.post('/setup', { code, password: 'qwerty123456', confirm_password: 'qwerty123456' });
      expect(text(common.html)).toContain('too common');
      const mismatch = await web.post('/setup', { code, password: 'tidal basin lanterns 7', confirm_password: 'tidal basin lanterns 8' });
      expect(text(mismatch.html)).toContain('do not match');
      for (const res of [short, common, mismatch]) expectNoSecrets(res.html, [code]);

      // Lower case and without hyphens is the same code.
      const done = await web.post('/setup', {
        code: code.toLowerCase().replace(/-/gu, ' '),
        password: 'tidal basin lanterns 7',
        confirm_password: 'tidal basin lanterns 7',
      });
      expect(done.status).toBe(200);
      expect(text(done.html)).toContain('Your account is set up');
      const [row] = await h.db.dataSource.query(
        `SELECT status, email_verified_at, setup_selector, setup_code_hmac, password_hash FROM staff WHERE email_key = 'sam.super@example.com'`,
      );
      expect(row.status).toBe('active');
      expect((row.email_verified_at as Date).toISOString()).toBe('2026-06-01T09:00:00.000Z');
      expect(row.setup_selector).toBeNull();
      expect(row.setup_code_hmac).toBeNull();
      expect(row.password_hash).toMatch(/^\$argon2id\$/u);

      // Single use.
      await web.get('/setup');
      const reuse = await web.post('/setup', { code, password: 'another long pass phrase', confirm_password: 'another long pass phrase' });
      expect(reuse.status).toBe(422);
      const events: Array<{ event_type: string }> = await h.db.dataSource.query(
        `SELECT event_type FROM audit_events WHERE event_type LIKE 'staff.setup%' ORDER BY id`,
      );
      expect(events.map((e) => e.event_type)).toEqual([
        'staff.setup_failed',
        'staff.setup_failed',
        'staff.setup_failed',
        'staff.setup_completed',
        'staff.setup_failed',
      ]);
    });

    it('voids a setup code after five wrong guesses at it, and when it expires', async () => {
      expect((await cli(h, ['staff:create', '--email', 'guess@example.com', '--name', 'Guess Target', '--role', 'support'])).code).toBe(0);
      const code = await waitForSetupCode(h.mail, 'guess@example.com');
      const web = h.client();
      await web.get('/setup');
      const last = code.at(-1)!;
      for (let i = 0; i < 5; i++) {
        const wrong = `${code.slice(0, -1)}${'0123456789ABCDEFGHJKMNPQRSTVWXYZ'.replace(last, '')[i]}`;
        expect((await web.post('/setup', { code: wrong, password: 'x', confirm_password: 'x' })).status).toBe(422);
      }
      const right = await web.post('/setup', { code, password: 'sturdy pass phrase 42', confirm_password: 'sturdy pass phrase 42' });
      expect(right.status).toBe(422);
      expect(text(right.html)).toContain('This setup code is not valid or has expired');

      expect((await cli(h, ['staff:create', '--email', 'late@example.com', '--name', 'Late Comer', '--role', 'support'])).code).toBe(0);
      const late = await waitForSetupCode(h.mail, 'late@example.com');
      const [{ setup_expires_at: expiry }] = await h.db.dataSource.query(
        `SELECT setup_expires_at FROM staff WHERE email_key = 'late@example.com'`,
      );
      h.clock.set(expiry);
      try {
        const expired = await web.post('/setup', {
          code: late,
          password: 'sturdy pass phrase 42',
          confirm_password: 'sturdy pass phrase 42',
        });
        expect(expired.status).toBe(422);
      } finally {
        h.clock.set('2026-06-01T09:00:00Z');
      }
    });

    it('refuses a setup post without the CSRF token or from another origin', async () => {
      const web = h.client();
      await web.get('/setup');
      const token = web.csrf();
      const missing = await web.request('POST', '/setup', new URLSearchParams({ code: 'x', password: 'y', confirm_password: 'y' }));
      expect(missing.status).toBe(403);
      const other = await fetch(`${h.admin.url}/setup`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Cookie: [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
          Origin: 'http://127.0.0.1:1',
        },
        body: new URLSearchParams({ csrf: token, code: 'x', password: 'y', confirm_password: 'y' }),
      });
      expect(other.status).toBe(403);
    });
  });

  describe('sign-in', () => {
    const sam = { email: 'sam.super@example.com', password: 'tidal basin lanterns 7' };

    it('shows Email, Password and Sign in, and answers an unknown email, a wrong password and a disabled account alike', async () => {
      await seedStaff(h.db.dataSource, {
        email: 'gone@example.com',
        role: 'support',
        password: 'gone staff pass phrase',
        status: 'disabled',
      });
      const web = h.client();
      const page = await web.get('/signin');
      expect(page.html).toContain('>Email</label>');
      expect(page.html).toContain('>Password</label>');
      expect(page.html).toContain('>Sign in</button>');
      const answers = [];
      for (const [email, password] of [
        ['nobody@example.com', 'whatever pass phrase'],
        [sam.email, 'wrong pass phrase 123'],
        ['gone@example.com', 'gone staff pass phrase'],
        ['guess@example.com', 'not set up yet 1234'],
      ] as const) {
        const res = await web.post('/signin', { email, password });
        expect(res.status).toBe(401);
        answers.push(text(res.html).replace(/value="[^"]*"/gu, ''));
      }
      expect(answers.every((a) => a.includes('The email or password is not correct.'))).toBe(true);
      expect(codeMails(h.mail, 'gone@example.com')).toHaveLength(0);
      expect(codeMails(h.mail, 'guess@example.com')).toHaveLength(0);
      const reasons: Array<{ reason: string }> = await h.db.dataSource.query(
        `SELECT details->>'reason' AS reason FROM audit_events WHERE event_type = 'staff_signin.failed' ORDER BY id`,
      );
      expect(reasons.map((r) => r.reason)).toEqual(['unknown_staff', 'wrong_password', 'staff_disabled', 'not_set_up']);
    });

    it('signs in with password and the emailed one-time code; a wrong code counts down', async () => {
      const web = h.client();
      await web.get('/signin');
      const seenCodes = codeMails(h.mail, sam.email).length;
      const otp = await web.post('/signin', { email: sam.email, password: sam.password });
      track(web);
      expectPage(otp, 200, 'We sent a 6-digit code by email');
      expect(otp.html).toContain('>One-time code</label>');
      expect(otp.html).toMatch(/>Verify<\/button>/u);
      const code = await nextEmailCode(h.mail, sam.email, seenCodes);
      const mail = codeMails(h.mail, sam.email).at(-1)!;
      expect(containsLink(mail.text)).toBe(false);

      const wrong = await web.post('/signin/otp', { action: 'verify', code: code === '000000' ? '111111' : '000000' });
      track(web);
      expect(wrong.status).toBe(401);
      expect(text(wrong.html)).toContain('That code is not correct. 4 attempts left.');

      const done = await web.post('/signin/otp', { action: 'verify', code });
      track(web);
      expect(done.status).toBe(200);
      expect(text(done.html)).toContain('Sam Super (supervisor)');
      const cookie = web.setCookies.find((c) => c.startsWith('gh_admin_session='))!;
      expect(cookie).toMatch(/HttpOnly/u);
      expect(cookie).toMatch(/SameSite=Lax/u);
      expect(cookie).toMatch(/Path=\//u);
      // No cookie of the IdP's is set or used by the console.
      expect(web.setCookies.some((c) => /^gh_(session|signin|device)=/u.test(c))).toBe(false);

      // The code is single use: a second sign-in flow cannot take it.
      const other = h.client();
      await other.get('/signin');
      await other.post('/signin', { email: sam.email, password: sam.password });
      const reuse = await other.post('/signin/otp', { action: 'verify', code });
      expect(reuse.status).toBe(401);

      for (const body of seen) expectNoSecrets(body, [code, sam.password]);
      const [session] = await h.db.dataSource.query(
        `SELECT encode(token_hash, 'hex') AS hash FROM staff_sessions WHERE ended_at IS NULL LIMIT 1`,
      );
      expect(JSON.stringify(seen)).not.toContain(session.hash);
      expect(JSON.stringify(seen)).not.toContain(web.cookie('admin_session'));
    });

    it('locks the code after five wrong attempts; a new code can be sent', async () => {
      const web = h.client();
      await web.get('/signin');
      const seenCodes = codeMails(h.mail, sam.email).length;
      await web.post('/signin', { email: sam.email, password: sam.password });
      const code = await nextEmailCode(h.mail, sam.email, seenCodes);
      const wrongCode = code === '000000' ? '111111' : '000000';
      for (let i = 0; i < 4; i++) await web.post('/signin/otp', { action: 'verify', code: wrongCode });
      const fifth = await web.post('/signin/otp', { action: 'verify', code: wrongCode });
      expect(text(fifth.html)).toContain('no attempts are left');
      const late = await web.post('/signin/otp', { action: 'verify', code });
      expect(late.status).toBe(401);
      expect(text(late.html)).toMatch(/Too many wrong codes|no attempts/u);

      h.clock.advance(Duration.ofSeconds(31));
      const resent = await web.post('/signin/otp', { action: 'resend' });
      expectPage(resent, 200, 'We sent a 6-digit code by email');
      const fresh = await nextEmailCode(h.mail, sam.email, seenCodes + 1);
      expect((await web.post('/signin/otp', { action: 'verify', code: fresh })).status).toBe(200);
    });

    it('throttles failures per account (progressive delays), unknown accounts alike', async () => {
      const web = h.client();
      await web.get('/signin');
      for (let i = 0; i < 5; i++)
        expect((await web.post('/signin', { email: 'target@example.com', password: `wrong ${i} pass phrase` })).status).toBe(401);
      const sixth = await web.post('/signin', { email: 'target@example.com', password: 'wrong 6 pass phrase' });
      expect(sixth.status).toBe(401);
      const blocked = await web.post('/signin', { email: 'Target@Example.com', password: 'wrong 7 pass phrase' });
      expect(blocked.status).toBe(429);
      expect(blocked.headers.get('retry-after')).toBe('2');
      expect(text(blocked.html)).toContain('Too many attempts');
      h.clock.advance(Duration.ofSeconds(3));
      expect((await web.post('/signin', { email: 'target@example.com', password: 'wrong 8 pass phrase' })).status).toBe(401);
    });

    it('rotates the session at every sign-in and ends it at sign-out', async () => {
      const web = h.client();
      await signInStaff(h, web, sam);
      const first = web.cookie('admin_session')!;
      await signInStaff(h, web, sam);
      const second = web.cookie('admin_session')!;
      expect(second).not.toBe(first);
      const [old] = await h.db.dataSource.query(`SELECT end_reason FROM staff_sessions WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, [
        first,
      ]);
      expect(old.end_reason).toBe('replaced');

      const out = await web.post('/signout', {});
      expect(out.status).toBe(200);
      expect(text(out.html)).toContain('You are signed out.');
      expect(web.cookie('admin_session')).toBeUndefined();
      const after = h.client();
      after.cookies.set('gh_admin_session', second);
      const page = await after.get('/search', false);
      expect(page.status).toBe(303);
      expect(page.location).toBe('/signin?return_to=%2Fsearch');
    });

    it('ends a session after 15 idle minutes, and after 8 hours however busy', async () => {
      const web = h.client();
      await signInStaff(h, web, sam);
      const idleToken = web.cookie('admin_session')!;
      h.clock.advance(Duration.ofMinutes(14));
      expect((await web.get('/search', false)).status).toBe(200);
      h.clock.advance(Duration.ofMinutes(14));
      expect((await web.get('/search', false)).status).toBe(200);
      h.clock.advance(Duration.ofMinutes(15));
      const idle = await web.get('/search?q=x', false);
      expect(idle.status).toBe(303);
      expect(idle.location).toBe('/signin?return_to=%2Fsearch%3Fq%3Dx');
      const [ended] = await h.db.dataSource.query(
        `SELECT end_reason FROM staff_sessions WHERE token_hash = sha256(convert_to($1, 'UTF8'))`,
        [idleToken],
      );
      expect(ended.end_reason).toBe('idle_timeout');

      const busy = h.client();
      await signInStaff(h, busy, sam);
      const busyToken = busy.cookie('admin_session')!;
      for (let minutes = 0; minutes < 8 * 60 - 10; minutes += 10) {
        h.clock.advance(Duration.ofMinutes(10));
        expect((await busy.get('/search', false)).status).toBe(200);
      }
      h.clock.advance(Duration.ofMinutes(10));
      expect((await busy.get('/search', false)).status).toBe(303);
      const [absolute] = await h.db.dataSource.query(
        `SELECT end_reason FROM staff_sessions WHERE token_hash = sha256(convert_to($1, 'UTF8'))`,
        [busyToken],
      );
      expect(absolute.end_reason).toBe('absolute_timeout');
      // The redirect landed on sign-in, and the dead cookie was cleared.
      expect(busy.cookie('admin_session')).toBeUndefined();
    });

    it('sends staff codes only for staff: a staff code is bound to subject type staff', async () => {
      const rows = await h.db.dataSource.query(`SELECT DISTINCT purpose, subject_type FROM otp_challenges`);
      expect(rows).toEqual([{ purpose: 'login', subject_type: 'staff' }]);
      expect(extractCode(codeMails(h.mail, sam.email)[0]!.subject)).toMatch(/^\d{6}$/u);
    });
  });
});
