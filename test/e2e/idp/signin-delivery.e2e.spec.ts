import { setTimeout as sleep } from 'node:timers/promises';
import { Duration } from '#libs/core';
import {
  api,
  apiStart,
  codeMails,
  expectPage,
  nextEmailCode,
  errorLines,
  startHarness,
  submitPassword,
  type Harness,
} from '../../support/journeys.js';
import { WebClient, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * A code whose message cannot be delivered: the user is told, never "We sent", and once the
 * provider is back a new code works and nothing is sent twice. The outbox retries at once
 * (zero backoff) and gives up after two attempts, so a failure is final within the request.
 */
describe('sign-in when the code cannot be delivered', () => {
  let h: Harness;
  let org: string;
  const PASSWORD = 'correct horse battery 2';

  beforeAll(async () => {
    h = await startHarness({
      outboxPolicy: { maxAttempts: 2, baseBackoff: Duration.ofMilliseconds(0), maxBackoff: Duration.ofMilliseconds(0) },
    });
    org = await seedOrganization(h.db.dataSource, 'acme');
  });

  afterEach(() => {
    // The JSON API answers an undeliverable code with 502, which pino-http logs at error level.
    expect(errorLines(h.app, [502])).toEqual([]);
  });

  afterAll(async () => {
    await h.mail.start();
    await h.close();
  });

  const db = () => h.db.dataSource;
  const outboxFor = async (recipient: string) =>
    await db().query<Array<{ status: string; attempts: number; last_error: string | null }>>(
      `SELECT status, attempts, last_error FROM outbox_messages WHERE recipient = $1 ORDER BY created_at, id`,
      [recipient],
    );

  it('shows the failure while SMTP is down; once it is back, "Send a new code" works and exactly one message arrives', async () => {
    await seedUser(db(), org, { enterpriseId: 'uma', password: PASSWORD, email: 'uma@example.com' });
    const web = new WebClient(h.app.url);
    await h.mail.stop();
    const failed = await submitPassword(web, 'uma', PASSWORD);
    expect(failed.status).toBe(200);
    const shown = text(failed.html);
    expect(shown).toContain('We could not send the code by email to u***@example.com.');
    expect(shown).toContain('We could not send your code by email. Try again or choose another way.');
    expect(shown).not.toContain('We sent');
    expect(shown).not.toContain('still sending');
    expect(shown).toContain('Send a new code');
    expect(await outboxFor('uma@example.com')).toEqual([{ status: 'failed', attempts: 2, last_error: 'smtp: ECONNREFUSED' }]);

    await h.mail.start();
    // A code that was never delivered starts no resend cooldown: the user may ask again at once
    // (one second later, well inside the 30-second cooldown, so the two messages sort by time).
    h.clock.advance(Duration.ofSeconds(1));
    const resent = await web.post('/signin/otp', { action: 'resend', code: '' });
    expect(text(resent.html)).toContain('We sent a 6-digit code by email to u***@example.com');
    const code = await nextEmailCode(h.mail, 'uma@example.com', 0);
    expectPage(await web.post('/signin/otp', { action: 'verify', code }), 200, 'Your account');

    // Give a stray worker run the chance to send the failed message again: it must not.
    await sleep(1200);
    expect(h.mail.messagesTo('uma@example.com')).toHaveLength(1);
    expect(codeMails(h.mail, 'uma@example.com')).toHaveLength(1);
    expect(await outboxFor('uma@example.com')).toEqual([
      { status: 'failed', attempts: 2, last_error: 'smtp: ECONNREFUSED' },
      { status: 'sent', attempts: 1, last_error: null },
    ]);
  });

  it('reports a failed delivery in the JSON API (502, delivery "failed"), never as sent', async () => {
    await seedUser(db(), org, { enterpriseId: 'vera', password: PASSWORD, email: 'vera@example.com' });
    h.mail.failNext(2);
    const flow = await apiStart(h.app.url);
    const answer = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/credentials`, {
      flowToken: flow.token,
      body: { user_id: 'vera', password: PASSWORD },
    });
    expect(answer.status).toBe(502);
    expect(answer.body).toMatchObject({ step: 'otp', delivery: 'failed', error: { code: 'delivery_failed' } });
    const status = await api(h.app.url, 'GET', `/api/v1/signin/${flow.id}`, { flowToken: flow.token });
    expect(status.body).toMatchObject({ step: 'otp', delivery: 'failed' });
    expect(h.mail.messagesTo('vera@example.com')).toHaveLength(0);

    h.clock.advance(Duration.ofSeconds(30));
    const resent = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/resend`, { flowToken: flow.token, body: {} });
    expect(resent.status).toBe(200);
    expect(resent.body).toMatchObject({ step: 'otp', delivery: 'sent' });
    const code = await nextEmailCode(h.mail, 'vera@example.com', 0);
    const done = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/otp`, { flowToken: flow.token, body: { code } });
    expect(done.body).toMatchObject({ step: 'done', session_token: expect.any(String) });
    await sleep(800);
    expect(h.mail.messagesTo('vera@example.com')).toHaveLength(1);
  });

  it('shows a failed SMS the same way and lets the user get the code by another channel', async () => {
    await seedUser(db(), org, { enterpriseId: 'walt', password: PASSWORD, email: 'walt@example.com', mobile: '+393351234567' });
    const web = new WebClient(h.app.url);
    expectPage(await submitPassword(web, 'walt', PASSWORD), 200, 'Text message');
    h.sms.respondWith(503);
    const failed = await web.post('/signin/otp', { channel: 'sms', action: 'resend' });
    expect(text(failed.html)).toContain('We could not send the code by text message to +39 *** *** 4567.');
    expect(text(failed.html)).not.toContain('We sent');
    expect(h.sms.requests.filter((r) => r.body?.to === '+393351234567').map((r) => r.answeredWith)).toEqual([503, 503]);
    h.sms.respondWith(200);

    h.clock.advance(Duration.ofSeconds(30));
    const byEmail = await web.post('/signin/otp', { channel: 'email', action: 'resend' });
    expect(text(byEmail.html)).toContain('We sent a 6-digit code by email to w***@example.com');
    const code = await nextEmailCode(h.mail, 'walt@example.com', 0);
    expectPage(await web.post('/signin/otp', { channel: 'email', action: 'verify', code }), 200, 'Your account');
    expect(h.sms.accepted.filter((r) => r.body?.to === '+393351234567')).toHaveLength(0);
  });
});
