import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackchannelLogout } from '#libs/oidc';
import { AuditService } from '#libs/audit';
import { Duration } from '#libs/core';
import { SessionService } from '#libs/sessions';
import { sessionOf } from '../../support/account-changes.js';
import { expectPage } from '../../support/journeys.js';
import {
  POST_LOGOUT_URI,
  authorizationRequest,
  authorize,
  browse,
  landedOnCallback,
  landedOnPage,
  people,
  registerApp,
  signIn,
  startOidcHarness,
  type OidcHarness,
  type RelyingApp,
} from '../../support/oidc.js';
import { WebClient, seedOrganization } from '../../support/web.js';
import { TestWebhookReceiver, type ReceivedWebhook } from '../../support/webhook.js';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * OpenID Connect Back-Channel Logout: when a Gatehouse session ends, for whatever reason and
 * in whichever process, every relying app that session signed in to gets a logout token
 * POSTed to its back-channel URI (a real HTTP receiver), verified here with jose against
 * the provider's JWKS; the grants of that session are revoked.
 */
describe('OpenID Connect: back-channel logout', () => {
  let h: OidcHarness;
  let receiver: TestWebhookReceiver;
  let org: string;
  let person: ReturnType<typeof people>;

  beforeAll(async () => {
    receiver = await TestWebhookReceiver.start();
    h = await startOidcHarness({
      oidcTimers: { logoutQueue: Duration.ofMilliseconds(100), logoutRetryDelays: [Duration.ofMilliseconds(200)] },
    });
    org = await seedOrganization(h.db.dataSource, 'acme');
    person = people(h, org, 'bcl');
  });

  afterEach(() => {
    receiver.clear();
  });

  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  /** A relying app whose back-channel URI is `<receiver>/<name>`. */
  async function app(name: string, withBackchannel = true): Promise<RelyingApp> {
    return await registerApp(h, {
      name,
      redirectUris: [`https://rp.example.test/${name}/cb`],
      ...(withBackchannel ? { backchannelLogoutUri: receiver.url.replace(/\/hook$/u, `/${name}`) } : {}),
    });
  }

  const logoutTokensTo = (name: string): ReceivedWebhook[] => receiver.requests.filter((r) => r.path === `/${name}`);

  async function logoutTokenTo(name: string): Promise<string> {
    const request = await receiver.waitFor((r) => r.path === `/${name}`, 8000);
    expect(request.method).toBe('POST');
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    return new URLSearchParams(request.raw).get('logout_token')!;
  }

  /** Verifies a logout token as a relying app must (OpenID Connect Back-Channel Logout 1.0, section 2.6). */
  async function verifyLogoutToken(token: string, rp: RelyingApp): Promise<JWTPayload> {
    const jwks = createRemoteJWKSet(new URL(rp.config.serverMetadata().jwks_uri!));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: h.issuer,
      audience: rp.clientId,
      algorithms: ['RS256'],
      typ: 'logout+jwt',
      requiredClaims: ['iat', 'exp', 'jti', 'events', 'sub', 'sid'],
    });
    expect(protectedHeader.kid).toBeDefined();
    expect(payload.events).toEqual({ [LOGOUT_EVENT]: {} });
    expect(payload).not.toHaveProperty('nonce');
    return payload;
  }

  async function accessTokenWorks(accessToken: string): Promise<boolean> {
    return (await fetch(`${h.issuer}/oidc/me`, { headers: { Authorization: `Bearer ${accessToken}` } })).status === 200;
  }

  async function signOutAtGatehouse(web: WebClient): Promise<void> {
    expectPage(await web.get('/account'), 200, 'Sign out');
    const out = await web.post('/signout', {}, false);
    expect(out.status).toBe(303);
  }

  it('signing out on the account page sends every app of the session a signed logout token and revokes its grants', async () => {
    const [a, b, c] = [await app('bcl-a'), await app('bcl-b'), await app('bcl-c', false)];
    const who = await person();
    const web = new WebClient(h.app.url);
    const first = await authorize(h, web, a, who);
    const second = await authorize(h, web, b, null);
    const third = await authorize(h, web, c, null);
    const sidA = first.tokens.claims()!.sid as string;
    const sidB = second.tokens.claims()!.sid as string;
    // Apps with a back-channel URI get `sid` in their ID tokens, to match logout tokens against.
    expect(sidA).toEqual(expect.any(String));
    expect(sidB).toEqual(expect.any(String));
    expect(third.tokens.claims()!.sid).toBeUndefined();
    const session = await sessionOf(h.db.dataSource, web);

    await signOutAtGatehouse(web);

    const tokenA = await verifyLogoutToken(await logoutTokenTo('bcl-a'), a);
    expect(tokenA).toMatchObject({ sub: who.id, sid: sidA });
    const tokenB = await verifyLogoutToken(await logoutTokenTo('bcl-b'), b);
    expect(tokenB).toMatchObject({ sub: who.id, sid: sidB });
    expect(tokenA.jti).not.toBe(tokenB.jti);
    expect(tokenA.exp! - tokenA.iat!).toBeLessThanOrEqual(3600);

    // The session's grants are revoked: no app keeps working tokens, with or without a back-channel URI.
    await expect(client.refreshTokenGrant(a.config, first.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await accessTokenWorks(second.tokens.access_token)).toBe(false);
    expect(await accessTokenWorks(third.tokens.access_token)).toBe(false);
    expect(
      await h.db.dataSource.query(`SELECT id FROM oidc_models WHERE kind = 'Session' AND gatehouse_session_id = $1`, [session.id]),
    ).toEqual([]);

    const audit = await h.db.dataSource.query<Array<{ event_type: string; details: Record<string, unknown> }>>(
      `SELECT event_type, details FROM audit_events WHERE event_type LIKE 'oidc.backchannel_logout%' AND subject_id = $1 ORDER BY details->>'client_id'`,
      [who.id],
    );
    expect(audit).toHaveLength(2);
    for (const entry of audit) {
      expect(entry.event_type).toBe('oidc.backchannel_logout.delivered');
      expect(entry.details).toMatchObject({ session_id: session.id, reason: 'signed_out', delivered: true, attempts: 1 });
    }
    expect(audit.map((e) => e.details.client_id).sort()).toEqual([a.clientId, b.clientId].sort());
    // Exactly one token per app, however many times the queue is drained.
    await sleep(400);
    expect(logoutTokensTo('bcl-a')).toHaveLength(1);
    expect(logoutTokensTo('bcl-b')).toHaveLength(1);
    expect(logoutTokensTo('bcl-c')).toHaveLength(0);
  });

  it('RP-initiated logout: the provider sends logout tokens to the apps of the session, once each', async () => {
    const [a, b] = [await app('rpi-a'), await app('rpi-b')];
    const who = await person();
    const web = new WebClient(h.app.url);
    const first = await authorize(h, web, a, who);
    const second = await authorize(h, web, b, null);

    const logoutUrl = client.buildEndSessionUrl(a.config, {
      id_token_hint: first.tokens.id_token!,
      post_logout_redirect_uri: POST_LOGOUT_URI,
    });
    const confirm = expectPage(await web.get(logoutUrl.href, false), 200, 'Sign out of Gatehouse?');
    const xsrf = /name="xsrf" value="([^"]+)"/u.exec(confirm.html)![1]!;
    const signOut = /name="logout" value="([^"]+)">Sign out</u.exec(confirm.html)![1]!;
    const done = await web.request('POST', '/oidc/session/end/confirm', new URLSearchParams({ xsrf, logout: signOut }), false);
    expect(done.location).toBe(POST_LOGOUT_URI);

    expect(await verifyLogoutToken(await logoutTokenTo('rpi-b'), b)).toMatchObject({ sub: who.id, sid: second.tokens.claims()!.sid });
    expect(await verifyLogoutToken(await logoutTokenTo('rpi-a'), a)).toMatchObject({ sub: who.id, sid: first.tokens.claims()!.sid });
    // Audited once each app answered: a moment after it received its token.
    const delivered = async () =>
      await h.db.dataSource.query<Array<{ details: Record<string, unknown> }>>(
        `SELECT details FROM audit_events WHERE event_type = 'oidc.backchannel_logout.delivered' AND subject_id = $1`,
        [who.id],
      );
    let audit = await delivered();
    for (let i = 0; i < 50 && audit.length < 2; i++) {
      await sleep(100);
      audit = await delivered();
    }
    expect(audit).toHaveLength(2);
    expect(audit[0]!.details).toMatchObject({ reason: 'oidc_logout', delivered: true });
    // The Gatehouse session ended too (queued): nothing is sent twice.
    await sleep(400);
    expect(receiver.requests).toHaveLength(2);
  });

  it('a password change ends the other sessions: their apps are logged out, the apps of the changing session are not', async () => {
    const rp = await app('pwd');
    const who = await person();
    const other = new WebClient(h.app.url);
    const stale = await authorize(h, other, rp, who);
    const here = new WebClient(h.app.url);
    const kept = await authorize(h, here, rp, who);

    expectPage(await here.get('/account/password'), 200, 'Current password');
    const newPassword = 'correct horse battery staple 42';
    const changed = await here.post('/account/password', {
      current_password: who.password,
      new_password: newPassword,
      confirm_password: newPassword,
    });
    expectPage(changed, 200, 'Your password was changed.');

    const token = await verifyLogoutToken(await logoutTokenTo('pwd'), rp);
    expect(token).toMatchObject({ sub: who.id, sid: stale.tokens.claims()!.sid });
    await sleep(400);
    expect(logoutTokensTo('pwd')).toHaveLength(1);
    await expect(client.refreshTokenGrant(rp.config, stale.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The session that made the change keeps its app signed in.
    expect((await client.refreshTokenGrant(rp.config, kept.tokens.refresh_token!)).claims()!.sub).toBe(who.id);
    const [audit] = await h.db.dataSource.query(
      `SELECT details FROM audit_events WHERE event_type = 'oidc.backchannel_logout.delivered' AND subject_id = $1`,
      [who.id],
    );
    expect(audit.details).toMatchObject({ reason: 'password_changed' });
  });

  it('sessions ended by another process (the support console) or a disabled account log their apps out', async () => {
    const rp = await app('support');
    const supportHere = await person();
    await authorize(h, new WebClient(h.app.url), rp, supportHere);
    // The support console runs in its own process with its own SessionService: the database tells the IdP nodes.
    const clock = h.clock;
    const sessions = new SessionService(h.db.dataSource, clock, new AuditService(h.db.dataSource, clock));
    expect(await sessions.endAllForUser(supportHere.id, 'support_signed_out')).toBe(1);
    expect(decodeJwt(await logoutTokenTo('support'))).toMatchObject({ sub: supportHere.id });

    receiver.clear();
    const disabled = await person();
    await authorize(h, new WebClient(h.app.url), rp, disabled);
    await h.db.dataSource.query(`UPDATE users SET status = 'disabled' WHERE id = $1`, [disabled.id]);
    expect(await verifyLogoutToken(await logoutTokenTo('support'), rp)).toMatchObject({ sub: disabled.id });
    // The delivery is audited once the app has answered, so a moment after the app received the token.
    const deliveries = async () =>
      await h.db.dataSource.query<Array<{ subject_id: string; reason: string }>>(
        `SELECT subject_id, details->>'reason' AS reason FROM audit_events WHERE event_type = 'oidc.backchannel_logout.delivered' AND subject_id = ANY($1) ORDER BY id`,
        [[supportHere.id, disabled.id]],
      );
    let audit = await deliveries();
    for (let i = 0; i < 50 && audit.length < 2; i++) {
      await sleep(100);
      audit = await deliveries();
    }
    expect(audit).toEqual([
      { subject_id: supportHere.id, reason: 'support_signed_out' },
      { subject_id: disabled.id, reason: 'user_disabled' },
    ]);
  });

  it('signing in again as the same person (prompt=login) or timing out sends nothing; another person signing in on the browser does', async () => {
    const rp = await app('same');
    const who = await person();
    const web = new WebClient(h.app.url);
    await authorize(h, web, rp, who);

    // Step-up in the same browser: the Gatehouse session is replaced, the provider session moves to the new one.
    const request = await authorizationRequest(rp, { prompt: 'login' });
    landedOnPage(await browse(web, request.url), 'Password');
    const again = await client.authorizationCodeGrant(rp.config, landedOnCallback(await signIn(h, web, who)), request.checks);
    expect(again.claims()!.sub).toBe(who.id);
    await sleep(400);
    expect(logoutTokensTo('same')).toHaveLength(0);
    expect(await accessTokenWorks(again.access_token)).toBe(true);

    // Another person signs in on this browser at Gatehouse: the first person's apps are told.
    const next = await person();
    await web.get('/signin');
    landedOnPage(await signIn(h, web, next), 'Your account');
    expect(await verifyLogoutToken(await logoutTokenTo('same'), rp)).toMatchObject({ sub: who.id, sid: again.claims()!.sid });
    expect(await accessTokenWorks(again.access_token)).toBe(false);

    // A session that times out (idle) logs nobody out: the apps keep their own sessions.
    receiver.clear();
    const idle = await person();
    const idleWeb = new WebClient(h.app.url);
    await authorize(h, idleWeb, rp, idle);
    h.clock.advance(Duration.ofMinutes(31));
    landedOnPage(await browse(idleWeb, (await authorizationRequest(rp)).url), 'Password');
    const [ended] = await h.db.dataSource.query(`SELECT end_reason FROM sessions WHERE user_id = $1`, [idle.id]);
    expect(ended.end_reason).toBe('idle_timeout');
    await sleep(400);
    expect(logoutTokensTo('same')).toHaveLength(0);
  });

  it('retries an app that does not accept the token, and audits one that never does', async () => {
    const rp = await app('flaky');
    const who = await person();
    const web = new WebClient(h.app.url);
    await authorize(h, web, rp, who);
    receiver.respondNext(503);
    await signOutAtGatehouse(web);
    await verifyLogoutToken(await logoutTokenTo('flaky'), rp);
    expect(logoutTokensTo('flaky').map((r) => r.answeredWith)).toEqual([503, 200]);

    const down = await person();
    const downWeb = new WebClient(h.app.url);
    await authorize(h, downWeb, rp, down);
    receiver.respondWith(500);
    await signOutAtGatehouse(downWeb);
    const deadline = Date.now() + 8000;
    let failed: Array<{ details: Record<string, unknown> }> = [];
    while (failed.length === 0 && Date.now() < deadline) {
      await sleep(100);
      failed = await h.db.dataSource.query(
        `SELECT details FROM audit_events WHERE event_type = 'oidc.backchannel_logout.failed' AND subject_id = $1`,
        [down.id],
      );
    }
    expect(failed).toEqual([{ details: expect.objectContaining({ client_id: rp.clientId, delivered: false, attempts: 2 }) }]);
    expect(logoutTokensTo('flaky').filter((r) => r.answeredWith === 500)).toHaveLength(2);
  });

  it('forSession and forUser log out at once, sparing the session that asks', async () => {
    const rp = await app('direct');
    const who = await person();
    const webs = [new WebClient(h.app.url), new WebClient(h.app.url), new WebClient(h.app.url)];
    const issued = [];
    for (const web of webs) issued.push((await authorize(h, web, rp, who)).tokens);
    const [s0, s1, s2] = [
      await sessionOf(h.db.dataSource, webs[0]!),
      await sessionOf(h.db.dataSource, webs[1]!),
      await sessionOf(h.db.dataSource, webs[2]!),
    ];
    const backchannel = h.app.app.get(BackchannelLogout);

    const one = await backchannel.forSession(s0.id as string, 'test');
    expect(one).toEqual([{ clientId: rp.clientId, delivered: true }]);
    expect(decodeJwt(await logoutTokenTo('direct'))).toMatchObject({ sid: issued[0]!.claims()!.sid });

    receiver.clear();
    const rest = await backchannel.forUser(who.id, { exceptSessionId: s2.id as string });
    expect(rest).toEqual([{ clientId: rp.clientId, delivered: true }]);
    expect(decodeJwt(await logoutTokenTo('direct'))).toMatchObject({ sid: issued[1]!.claims()!.sid });
    expect(await accessTokenWorks(issued[2]!.access_token)).toBe(true);
    expect(await accessTokenWorks(issued[1]!.access_token)).toBe(false);
    // The Gatehouse sessions themselves are untouched: forSession/forUser only concern the relying apps.
    expect(
      await h.db.dataSource.query(`SELECT id FROM sessions WHERE id = ANY($1) AND ended_at IS NULL`, [[s0.id, s1.id, s2.id]]),
    ).toHaveLength(3);
  });
});
