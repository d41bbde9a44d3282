import { Duration } from '#libs/core';
import { startHarness, withoutCsrf, type Harness } from '../../support/journeys.js';
import {
  GENERIC_TEXT,
  apiRecoveryStart,
  apiRecoveryStep,
  forgotEnterpriseId,
  forgotPassword,
  nextRecoveryCode,
  recoveryCodeMails,
  withoutFlowId,
} from '../../support/recovery.js';
import { WebClient, seedOrganization, seedUser, text, type WebResponse } from '../../support/web.js';

/**
 * No step reveals whether an Enterprise ID or email exists: not by status, body, the
 * channels offered, the answers of the code step, nor (measured over many tries) by timing.
 */
describe('recovery does not reveal who has an account', () => {
  let h: Harness;
  let org: string;
  let ip = 0;

  beforeAll(async () => {
    h = await startHarness();
    org = await seedOrganization(h.db.dataSource, 'acme', { recovery_max_failures: 10 });
    const ds = h.db.dataSource;
    await seedUser(ds, org, {
      enterpriseId: 'email.only',
      password: 'a password for email only',
      email: 'only@example.com',
      securityCode: '40817263',
    });
    await seedUser(ds, org, {
      enterpriseId: 'has.mobile',
      password: 'a password for has mobile',
      email: 'mobile@example.com',
      mobile: '+393337654321',
      securityCode: '40817263',
    });
    await seedUser(ds, org, {
      enterpriseId: 'is.locked',
      password: 'a password for is locked',
      email: 'locked@example.com',
      securityCode: '40817263',
    });
    await ds.query(`UPDATE users SET recovery_locked_at = now(), recovery_failed_attempts = 10 WHERE enterprise_id_key = 'is.locked'`);
    await seedUser(ds, org, {
      enterpriseId: 'is.disabled',
      password: 'a password for is disabled',
      email: 'disabled@example.com',
      securityCode: '40817263',
      status: 'disabled',
    });
  });

  afterAll(async () => {
    await h.close();
  });

  beforeEach(() => {
    h.clock.advance(Duration.ofHours(2));
  });

  /** Every request from its own address: the per-address throttle is another test's subject. */
  const address = () => `198.51.100.${(++ip % 250) + 1}`;
  const browser = () => {
    const web = new WebClient(h.app.url);
    web.extraHeaders['X-Forwarded-For'] = address();
    return web;
  };

  function expectSamePage(pages: Array<[string, WebResponse]>): void {
    const [, reference] = pages[0]!;
    for (const [label, page] of pages) {
      expect({ label, status: page.status, html: withoutCsrf(page.html) }).toEqual({
        label,
        status: reference.status,
        html: withoutCsrf(reference.html),
      });
    }
  }

  it('forgot password: the same page for unknown, wrong code, right code, locked and disabled; channels only after the code is accepted', async () => {
    const pages: Array<[string, WebResponse]> = [
      ['unknown', await forgotPassword(browser(), 'no.such.person', '40817263')],
      ['known, wrong code', await forgotPassword(browser(), 'email.only', '12312312')],
      ['known, right code (code sent)', await forgotPassword(browser(), 'email.only', '40817263')],
      ['known with a mobile, wrong code', await forgotPassword(browser(), 'has.mobile', '12312312')],
      ['locked, right code', await forgotPassword(browser(), 'is.locked', '40817263')],
      ['disabled, right code', await forgotPassword(browser(), 'is.disabled', '40817263')],
    ];
    expectSamePage(pages);
    expect(pages[0]![1].status).toBe(200);
    expect(text(pages[0]![1].html)).toContain(GENERIC_TEXT);
    for (const [, page] of pages) {
      expect(text(page.html)).not.toMatch(/Text message|Voice call|\*\*\*/u);
      expect(page.html).not.toContain('name="channel"');
    }
    await nextRecoveryCode(h.mail, 'only@example.com', 0);

    // Only the matching identity, once its security code is accepted, is offered its own channels.
    const accepted = await forgotPassword(browser(), 'has.mobile', '40817263');
    expect(text(accepted.html)).toContain('Text message');
    expect(text(accepted.html)).toContain('+39 *** *** 4321');
    expect(text(accepted.html)).not.toContain(GENERIC_TEXT);
  });

  it('forgot Enterprise ID: the same page for an unknown email, a wrong code, the right code, locked and disabled', async () => {
    const seen = recoveryCodeMails(h.mail, 'only@example.com').length;
    expectSamePage([
      ['unknown', await forgotEnterpriseId(browser(), 'nobody@example.com', '40817263')],
      ['known, wrong code', await forgotEnterpriseId(browser(), 'only@example.com', '12312312')],
      ['known, right code', await forgotEnterpriseId(browser(), 'ONLY@example.com', '40817263')],
      ['known with a mobile, right code', await forgotEnterpriseId(browser(), 'mobile@example.com', '40817263')],
      ['locked', await forgotEnterpriseId(browser(), 'locked@example.com', '40817263')],
      ['disabled', await forgotEnterpriseId(browser(), 'disabled@example.com', '40817263')],
    ]);
    await nextRecoveryCode(h.mail, 'only@example.com', seen);
    // No notice to an existing email for a wrong code (documented choice): only the code mails of the right ones.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const address of ['locked@example.com', 'disabled@example.com']) expect(h.mail.messagesTo(address)).toHaveLength(0);
  });

  it('the JSON API answers alike: same status, same body but for the flow id', async () => {
    const identify = async (goal: 'enterprise_id' | 'password', details: Record<string, string>) => {
      const headers = { 'X-Forwarded-For': address() };
      const flow = await apiRecoveryStart(h.app.url, goal, headers);
      return await apiRecoveryStep(h.app.url, flow, 'identify', details, headers);
    };
    const answers = [
      await identify('password', { enterprise_id: 'no.such.person', security_code: '40817263' }),
      await identify('password', { enterprise_id: 'email.only', security_code: '12312312' }),
      await identify('password', { enterprise_id: 'email.only', security_code: '40817263' }),
      await identify('password', { enterprise_id: 'is.locked', security_code: '40817263' }),
      await identify('password', { enterprise_id: 'is.disabled', security_code: '40817263' }),
    ];
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(withoutFlowId(a.body)).toEqual({ goal: 'password', step: 'code_sent', message: GENERIC_TEXT });
    }
    const byEmail = [
      await identify('enterprise_id', { email: 'nobody@example.com', security_code: '40817263' }),
      await identify('enterprise_id', { email: 'only@example.com', security_code: '40817263' }),
    ];
    for (const a of byEmail)
      expect({ status: a.status, body: withoutFlowId(a.body) }).toEqual({
        status: 200,
        body: { goal: 'enterprise_id', step: 'code_sent', message: GENERIC_TEXT },
      });
  });

  it('the code step answers alike for a real code and a decoy: wrong codes, attempts, resend cooldown, resend', async () => {
    const real = browser();
    const decoy = browser();
    const seen = recoveryCodeMails(h.mail, 'only@example.com').length;
    await forgotPassword(real, 'email.only', '40817263');
    await forgotPassword(decoy, 'nobody.here', '40817263');
    const code = await nextRecoveryCode(h.mail, 'only@example.com', seen);
    const wrong = code === '000000' ? '000001' : '000000';

    const both = async (fields: Record<string, string>): Promise<Array<[string, WebResponse]>> => [
      ['real', await real.post('/recover/otp', fields)],
      ['decoy', await decoy.post('/recover/otp', fields)],
    ];
    const first = await both({ action: 'verify', code: wrong });
    expectSamePage(first);
    expect(text(first[0]![1].html)).toContain('That code is not correct. 4 attempts left.');
    expectSamePage(await both({ action: 'verify', code: '12ab' }));
    const cooldown = await both({ action: 'resend' });
    expectSamePage(cooldown);
    expect(text(cooldown[0]![1].html)).toContain('Please wait 30 seconds before asking for a new code.');
    h.clock.advance(Duration.ofSeconds(31));
    const resent = await both({ action: 'resend' });
    expectSamePage(resent);
    expect(text(resent[0]![1].html)).toContain(GENERIC_TEXT);
    const second = await nextRecoveryCode(h.mail, 'only@example.com', seen + 1);
    // The new code's attempts start afresh, for both.
    expectSamePage(await both({ action: 'verify', code: second === '000000' ? '000001' : '000000' }));
    for (let i = 0; i < 4; i++) await both({ action: 'verify', code: second === '000000' ? '000001' : '000000' });
    const exhausted = await both({ action: 'verify', code: second });
    expectSamePage(exhausted);
    expect(text(exhausted[0]![1].html)).toContain('Too many wrong codes. Send a new code.');
    h.clock.advance(Duration.ofMinutes(10));
    expectSamePage(await both({ action: 'verify', code: second }));
  });

  it('takes about the same time for unknown and known users (median of 20 tries each, within 0.5x-2x)', async () => {
    const TRIES = 20;
    const samples: Record<'unknown' | 'known_right' | 'known_wrong', number[]> = { unknown: [], known_right: [], known_wrong: [] };
    const timed = async (details: Record<string, string>): Promise<number> => {
      const headers = { 'X-Forwarded-For': address() };
      const flow = await apiRecoveryStart(h.app.url, 'password', headers);
      const started = performance.now();
      const answer = await apiRecoveryStep(h.app.url, flow, 'identify', details, headers);
      const elapsed = performance.now() - started;
      expect({ status: answer.status, body: withoutFlowId(answer.body) }).toEqual({
        status: 200,
        body: { goal: 'password', step: 'code_sent', message: GENERIC_TEXT },
      });
      return elapsed;
    };
    const ds = h.db.dataSource;
    for (let i = -2; i < TRIES; i++) {
      // A new hour-slice each round: hourly code caps and throttle delays never kick in.
      h.clock.advance(Duration.ofMinutes(7));
      await ds.query(`UPDATE users SET recovery_failed_attempts = 0 WHERE enterprise_id_key = 'has.mobile'`);
      const round = {
        unknown: await timed({ enterprise_id: `nobody.${i + 10}`, security_code: '40817263' }),
        known_right: await timed({ enterprise_id: 'email.only', security_code: '40817263' }),
        known_wrong: await timed({ enterprise_id: 'has.mobile', security_code: '12312312' }),
      };
      if (i < 0) continue; // warm-up
      for (const [k, v] of Object.entries(round)) samples[k as keyof typeof samples].push(v);
    }
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return (sorted[Math.floor((sorted.length - 1) / 2)]! + sorted[Math.ceil((sorted.length - 1) / 2)]!) / 2;
    };
    const m = { unknown: median(samples.unknown), known_right: median(samples.known_right), known_wrong: median(samples.known_wrong) };
    for (const known of ['known_right', 'known_wrong'] as const) {
      const ratio = m[known] / m.unknown;
      expect({ known, medians: m, within: ratio >= 0.5 && ratio <= 2 }).toEqual({ known, medians: m, within: true });
    }
    // Each known right-code try really did send a code.
    await h.mail.waitFor(() => recoveryCodeMails(h.mail, 'only@example.com').length >= TRIES);
  });
});
