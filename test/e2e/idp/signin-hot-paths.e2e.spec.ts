import { AuditChainVerifier } from '#libs/audit';
import { Duration } from '#libs/core';
import { WriteBatch } from '#libs/database';
import { RememberedDeviceService, SessionService } from '#libs/sessions';
import { StatementProfile } from '../../../bench/support/measure.js';
import {
  api,
  apiStart,
  codeMails,
  errorLines,
  nextEmailCode,
  sha256,
  startHarness,
  type ApiResponse,
  type Harness,
} from '../../support/journeys.js';
import { seedLegacyAccount, seedOrganization, seedUser } from '../../support/web.js';

/**
 * The sign-in hot paths (issue 3, benchmark): the one-request JSON sign-in, the finish of a
 * sign-in in one statement (code used, flow ended, session started, audit appended, all or
 * nothing), and how many statements each step sends, so that a change that adds round trips
 * to these paths fails here rather than only in `npm run bench:signin`.
 */
describe('sign-in hot paths', () => {
  let h: Harness;
  let org: string;
  const profile = new StatementProfile();
  let uninstall: () => void;
  let ips = 0;
  const PASSWORD = 'correct horse battery 9';

  beforeAll(async () => {
    h = await startHarness();
    org = await seedOrganization(h.db.dataSource, 'hot');
    uninstall = profile.install('gatehouse-idp');
  });

  afterEach(() => {
    expect(errorLines(h.app)).toEqual([]);
  });

  afterAll(async () => {
    uninstall();
    await h.close();
  });

  const db = () => h.db.dataSource;
  /** Each test its own client address, so that the per-IP throttle of one does not reach another. */
  const client = () => ({ 'X-Forwarded-For': `198.51.100.${++ips}` });
  const person = async (enterpriseId: string) => {
    const id = await seedUser(db(), org, { enterpriseId, password: PASSWORD, email: `${enterpriseId}@example.com` });
    return { id, enterpriseId, email: `${enterpriseId}@example.com` };
  };
  type Person = Awaited<ReturnType<typeof person>>;
  const signIn = (body: Record<string, unknown>, headers: Record<string, string>) =>
    api(h.app.url, 'POST', '/api/v1/signin', { body, headers });
  const flowsOfKind = async (kind: string) =>
    Number((await db().query(`SELECT count(*)::int AS n FROM auth_flows WHERE kind = $1`, [kind]))[0].n);
  const sessionsOf = async (userId: string) =>
    await db().query<
      Array<{ id: string; acr: string; credential_version: number; verifications: Array<{ method: string; deviceId?: string }> }>
    >(`SELECT id, acr, credential_version, verifications FROM sessions WHERE user_id = $1 ORDER BY created_at, id`, [userId]);
  const auditOf = async (userId: string) =>
    await db().query<Array<{ seq: string; event_type: string; details: Record<string, unknown> }>>(
      `SELECT seq::text AS seq, event_type, details FROM audit_events WHERE subject_id = $1 ORDER BY seq`,
      [userId],
    );

  /** The statements the IdP's pool sent while `work` ran, background work left out (none of the paths here uses a transaction). */
  async function statementsDuring<T>(work: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
    const before = profile.snapshot();
    const result = await work();
    const statements: string[] = [];
    for (const [sql, s] of profile.since(before)) {
      // The outbox worker and the OIDC timers (key refresh in a transaction under an advisory lock, logout queue, purge).
      if (/outbox_messages|oidc_|pg_advisory_xact_lock|^(START TRANSACTION|COMMIT|ROLLBACK)$/u.test(sql)) continue;
      for (let i = 0; i < s.count; i++) statements.push(sql);
    }
    return { result, statements: statements.sort() };
  }

  /** A sign-in at the code step through the one-request API; the code from the mail. */
  async function atCodeStep(p: Person, headers: Record<string, string>): Promise<{ flow: { id: string; token: string }; code: string }> {
    const seen = codeMails(h.mail, p.email).length;
    const started = await signIn({ user_id: p.enterpriseId, password: PASSWORD }, headers);
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ step: 'otp', channel: 'email', delivery: 'sent' });
    const flow = { id: started.body.flow_id as string, token: started.body.flow_token as string };
    return { flow, code: await nextEmailCode(h.mail, p.email, seen) };
  }

  const submitCode = (flow: { id: string; token: string }, body: Record<string, unknown>, headers: Record<string, string>) =>
    api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/otp`, { flowToken: flow.token, body, headers });

  /** One OTP sign-in with "remember this device": the device token the API hands out. */
  async function rememberedDevice(p: Person, headers: Record<string, string>): Promise<string> {
    const { flow, code } = await atCodeStep(p, headers);
    const done = await submitCode(flow, { code, remember: true }, headers);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ flow_id: flow.id, step: 'done', session_token: expect.any(String) });
    return done.body.device_token as string;
  }

  it('without a device, the one-request sign-in creates the flow at the code step, which then continues as usual', async () => {
    const p = await person('ada');
    const headers = client();
    const flows = await flowsOfKind('signin');
    const { flow, code } = await atCodeStep(p, headers);
    expect(await flowsOfKind('signin')).toBe(flows + 1);
    const done = await submitCode(flow, { code, remember: true }, headers);
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ flow_id: flow.id, step: 'done', session_token: expect.any(String), device_token: expect.any(String) });
    expect(await flowsOfKind('signin')).toBe(flows);
    const [session] = await sessionsOf(p.id);
    expect(session!.acr).toBe('urn:gatehouse:loa:2');
    expect(session!.verifications.map((v) => v.method)).toEqual(['password', 'otp']);
  });

  it('signs in with a remembered device in one request and four statements, leaving no flow behind', async () => {
    const p = await person('grace');
    const headers = client();
    const deviceToken = await rememberedDevice(p, headers);
    const [device] = await db().query(`SELECT id FROM remembered_devices WHERE token_hash = $1`, [sha256(deviceToken)]);
    const flows = await flowsOfKind('signin');

    const { result, statements } = await statementsDuring(() =>
      signIn({ user_id: 'GRACE', password: PASSWORD, device_token: deviceToken }, headers),
    );
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ step: 'done', session_token: expect.any(String) });
    // Three statements sent together (the attempt reserved on the throttle counters, the user, the device
    // with its policy), then one statement: the device marked used (re-checked), the session started, its
    // audit event, the throttle settled. One commit.
    expect(statements).toHaveLength(4);
    expect(statements.map((s) => s.split(' ').slice(0, 3).join(' '))).toEqual([
      'INSERT INTO throttle_counters',
      'SELECT d.id, d.user_id,',
      'SELECT u.id, u.organization_id,',
      'WITH device_use_1 AS',
    ]);
    // Settled: the account's reservation forgotten, the address's given back (no failure left on either).
    expect(
      await db().query(`SELECT key FROM throttle_counters WHERE key = 'signin:acct:grace' OR (key LIKE 'signin:ip:%' AND failures > 0)`),
    ).toEqual([]);
    expect(await flowsOfKind('signin')).toBe(flows);

    expect(await sessionsOf(p.id)).toHaveLength(2);
    const [session] = await db().query(`SELECT id, acr, verifications FROM sessions WHERE token_hash = $1`, [
      sha256(result.body.session_token as string),
    ]);
    expect(session.acr).toBe('urn:gatehouse:loa:1');
    expect(session.verifications).toEqual([
      { method: 'password', at: expect.any(String) },
      { method: 'remembered_device', deviceId: device.id, at: expect.any(String) },
    ]);
    const started = (await auditOf(p.id)).filter((e) => e.event_type === 'session.started');
    expect(started.at(-1)!.details).toEqual({
      session_id: session.id,
      acr: 'urn:gatehouse:loa:1',
      methods: ['password', 'remembered_device'],
    });
    // The session token works like one from the two-step API.
    const listed = await api(h.app.url, 'GET', '/api/v1/account/devices', { session: result.body.session_token as string });
    expect(listed.status).toBe(200);
    expect(listed.body.devices).toEqual([expect.objectContaining({ id: device.id })]);
  });

  it('answers an unknown user and a wrong password alike, creates no flow for either, and throttles per account', async () => {
    const p = await person('barbara');
    const headers = client();
    const deviceToken = await rememberedDevice(p, headers);
    const flows = await flowsOfKind('signin');
    const wrong = await signIn({ user_id: 'barbara', password: 'not the password 1' }, headers);
    const unknown = await signIn({ user_id: 'nobody-here', password: 'not the password 1' }, headers);
    for (const r of [wrong, unknown]) expect(r.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(wrong.body).toEqual({
      step: 'credentials',
      error: { code: 'invalid_credentials', message: 'The User ID or password is not correct.' },
    });
    expect(await flowsOfKind('signin')).toBe(flows);
    expect((await auditOf(p.id)).filter((e) => e.event_type === 'signin.failed').map((e) => e.details.reason)).toEqual(['wrong_password']);

    // Five free failures per account (one used above), then a delay: even the right password waits.
    for (let i = 0; i < 5; i++) expect((await signIn({ user_id: 'barbara', password: `wrong ${i} attempt` }, headers)).status).toBe(401);
    const blocked: ApiResponse = await signIn({ user_id: 'barbara', password: PASSWORD, device_token: deviceToken }, headers);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('2');
    expect(blocked.body).toMatchObject({ step: 'credentials', error: { code: 'throttled', retry_after: 2 } });

    h.clock.advance(Duration.ofSeconds(3));
    const { result, statements } = await statementsDuring(() =>
      signIn({ user_id: 'barbara', password: PASSWORD, device_token: deviceToken }, headers),
    );
    expect(result.body).toMatchObject({ step: 'done' });
    // The account had failures: they are forgotten in the finishing statement (no statement more than without).
    expect(statements).toHaveLength(4);
    expect(await db().query(`SELECT key FROM throttle_counters WHERE key = 'signin:acct:barbara'`)).toEqual([]);
  });

  it('a pending legacy account signing in in one request starts its enrollment, and no sign-in flow is left', async () => {
    await seedLegacyAccount(db(), org, { legacyUserId: 'LEG-7', password: 'legacy-pass-7', email: 'leg7@example.com' });
    const flows = await flowsOfKind('signin');
    const r = await signIn({ user_id: 'LEG-7', password: 'legacy-pass-7' }, client());
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ step: 'enrollment', enrollment: { flow_id: expect.any(String), flow_token: expect.any(String) } });
    expect(await flowsOfKind('signin')).toBe(flows);
    const enrollment = r.body.enrollment as { flow_id: string; flow_token: string };
    const current = await api(h.app.url, 'GET', `/api/v1/enrollment/${enrollment.flow_id}`, { flowToken: enrollment.flow_token });
    expect(current.body).toMatchObject({ step: 'confirm', prefill: { email: 'leg7@example.com' } });
  });

  it('the two-step API: start is one statement, the credentials step five, and a device sign-in sends no throttle reset', async () => {
    const p = await person('hedy');
    const headers = client();
    const deviceToken = await rememberedDevice(p, headers);
    const { result: flow, statements: atStart } = await statementsDuring(() => apiStart(h.app.url, headers));
    expect(atStart.map((s) => s.slice(0, 22))).toEqual(['INSERT INTO auth_flows']);
    const { result, statements } = await statementsDuring(() =>
      api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/credentials`, {
        flowToken: flow.token,
        headers,
        body: { user_id: 'hedy', password: PASSWORD, device_token: deviceToken },
      }),
    );
    expect(result.body).toEqual({ flow_id: flow.id, step: 'done', session_token: expect.any(String) });
    expect(statements).toHaveLength(5);
    expect(statements.some((s) => s.startsWith('DELETE FROM throttle_counters'))).toBe(false);
    // One statement marks the device used, ends the flow (if still at its version), starts the session and audits it.
    expect(statements.filter((s) => s.startsWith('WITH device_use_1 AS (UPDATE remembered_devices'))).toHaveLength(1);
    expect(await db().query(`SELECT id FROM auth_flows WHERE id = $1`, [flow.id])).toEqual([]);
  });

  it('an OTP verification is four statements; the code, the flow, the session and both audit events commit together, chained in order', async () => {
    const p = await person('katherine');
    const headers = client();
    const { flow, code } = await atCodeStep(p, headers);
    const { result, statements } = await statementsDuring(() => submitCode(flow, { code }, headers));
    expect(result.body).toEqual({ flow_id: flow.id, step: 'done', session_token: expect.any(String) });
    // The flow; the attempt counted (with the user read alongside); then one statement for the rest.
    expect(statements.map((s) => s.split(' ').slice(0, 3).join(' '))).toEqual([
      'SELECT id, kind,',
      'SELECT u.id, u.organization_id,',
      'UPDATE otp_challenges SET',
      'WITH otp_use_1 AS',
    ]);
    const [challenge] = await db().query(`SELECT attempts, consumed_at FROM otp_challenges WHERE flow_id = $1`, [flow.id]);
    expect(challenge.attempts).toBe(1);
    expect(challenge.consumed_at).not.toBeNull();
    const events = (await auditOf(p.id)).filter((e) => ['otp.verified', 'session.started'].includes(e.event_type));
    expect(events.map((e) => e.event_type)).toEqual(['otp.verified', 'session.started']);
    expect(BigInt(events[1]!.seq) - BigInt(events[0]!.seq)).toBe(1n);
    const verification = await new AuditChainVerifier(db()).verify();
    expect(verification).toMatchObject({ ok: true });
  });

  it('two concurrent submits of the same right code start one session and record one otp.verified', async () => {
    const p = await person('dorothy');
    const headers = client();
    const { flow, code } = await atCodeStep(p, headers);
    const answers = await Promise.all([submitCode(flow, { code }, headers), submitCode(flow, { code }, headers)]);
    const done = answers.filter((a) => a.status === 200 && a.body.step === 'done');
    expect(done).toHaveLength(1);
    const other = answers.find((a) => a !== done[0])!;
    expect([404, 409, 422]).toContain(other.status);
    expect(await sessionsOf(p.id)).toHaveLength(1);
    expect((await auditOf(p.id)).filter((e) => e.event_type === 'otp.verified')).toHaveLength(1);
  });

  it('a password reset between the password and the code ends the sign-in: the right code starts no session', async () => {
    const p = await person('frances');
    const headers = client();
    const { flow, code } = await atCodeStep(p, headers);
    await db().query(`UPDATE users SET credential_version = credential_version + 1 WHERE id = $1`, [p.id]);
    const r = await submitCode(flow, { code }, headers);
    expect(r.status).toBe(404);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(await sessionsOf(p.id)).toEqual([]);
    // Nothing half done: the flow is over, and the code cannot be tried again.
    expect((await submitCode(flow, { code }, headers)).status).toBe(404);
  });

  it('a session is only started for a user who is still active with the credentials checked', async () => {
    const p = await person('mary');
    const sessions = h.app.app.get(SessionService);
    const start = async (credentialVersion: number) => {
      const batch = new WriteBatch();
      const created = sessions.createIn(
        batch,
        { id: p.id, credentialVersion },
        [
          { method: 'password', at: new Date().toISOString() },
          { method: 'otp', channel: 'email', at: new Date().toISOString() },
        ],
        {},
      );
      return (await batch.run(db())).ran(created.part);
    };
    expect(await start(2)).toBe(false); // not the current version (1)
    await db().query(`UPDATE users SET status = 'disabled' WHERE id = $1`, [p.id]);
    expect(await start(1)).toBe(false);
    expect(await sessionsOf(p.id)).toEqual([]);
    await db().query(`UPDATE users SET status = 'active' WHERE id = $1`, [p.id]);
    expect(await start(1)).toBe(true);
    expect(await sessionsOf(p.id)).toHaveLength(1);
  });

  it('a device revoked after it was read starts no session: the batch re-checks it, and the sign-in asks for a code instead', async () => {
    const p = await person('annie');
    const headers = client();
    const deviceToken = await rememberedDevice(p, headers);
    const [device] = await db().query(`SELECT id FROM remembered_devices WHERE token_hash = $1`, [sha256(deviceToken)]);
    // The batch as the sign-in builds it, run after a revocation that came in between.
    await db().query(`UPDATE remembered_devices SET revoked_at = now(), revoked_reason = 'test' WHERE id = $1`, [device.id]);
    const batch = new WriteBatch();
    const used = h.app.app.get(RememberedDeviceService).useIn(batch, device.id, { id: p.id, credentialVersion: 1 });
    const at = new Date().toISOString();
    const verifications = [
      { method: 'password' as const, at },
      { method: 'remembered_device' as const, deviceId: device.id as string, at },
    ];
    const created = h.app.app.get(SessionService).createIn(batch, { id: p.id, credentialVersion: 1 }, verifications, {}, [used]);
    const result = await batch.run(db());
    expect([result.ran(used), result.ran(created.part)]).toEqual([false, false]);
    expect(await sessionsOf(p.id)).toHaveLength(1); // only the one that remembered the device

    // Over HTTP: the revoked cookie is refused (audited) and a code is asked for.
    const seen = codeMails(h.mail, p.email).length;
    const r = await signIn({ user_id: 'annie', password: PASSWORD, device_token: deviceToken }, headers);
    expect(r.body).toMatchObject({ step: 'otp', flow_id: expect.any(String), flow_token: expect.any(String) });
    expect(codeMails(h.mail, p.email).length).toBeGreaterThan(seen);
    const refused = (await auditOf(p.id)).filter((e) => e.event_type === 'device.cookie_refused');
    expect(refused.at(-1)!.details).toEqual({ reason: 'revoked', device_id: device.id });
  });
});
