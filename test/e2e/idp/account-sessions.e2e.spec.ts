import * as client from 'openid-client';
import { Duration } from '#libs/core';
import { BackchannelLogout } from '#libs/oidc';
import { postRaw, postWithoutCsrf } from '../../support/account-changes.js';
import { api, errorLines, expectPage, sha256 } from '../../support/journeys.js';
import { authorize, people, registerApp, startOidcHarness, type OidcHarness, type RelyingApp } from '../../support/oidc.js';
import { WebClient, seedOrganization, text } from '../../support/web.js';

const FIREFOX_ON_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';

/**
 * The person's own sessions (issue #13): the account page's "Sessions" section lists where they
 * are signed in, with the relying apps, and signs one or all of them out; `DELETE /api/v1/session`
 * signs a session token out. Each end revokes the session's OIDC grants in its own transaction:
 * the logout queue (which only tells the apps) does not run on its own here (once an hour).
 */
describe('account: sessions', () => {
  let h: OidcHarness;
  let portal: RelyingApp;
  let wiki: RelyingApp;
  let person: ReturnType<typeof people>;

  beforeAll(async () => {
    h = await startOidcHarness({ oidcTimers: { logoutQueue: Duration.ofHours(1) } });
    person = people(h, await seedOrganization(h.db.dataSource, 'acme'), 'sess');
    portal = await registerApp(h, { name: 'Portal' });
    wiki = await registerApp(h, { name: 'Wiki' });
  });

  afterEach(() => {
    expect(errorLines(h.app)).toEqual([]);
  });

  afterAll(async () => {
    await h.close();
  });

  const db = () => h.db.dataSource;
  const introspect = async (rp: RelyingApp, accessToken: string) => (await client.tokenIntrospection(rp.config, accessToken)).active;
  const sessionIdOf = async (web: WebClient) =>
    (await db().query<Array<{ id: string }>>(`SELECT id FROM sessions WHERE token_hash = $1`, [sha256(web.cookie('session')!)]))[0]!.id;
  const sessionRow = async (id: string) =>
    (
      await db().query<Array<{ ended_at: Date | null; end_reason: string | null }>>(
        `SELECT ended_at, end_reason FROM sessions WHERE id = $1`,
        [id],
      )
    )[0]!;
  const audit = async (type: string, subjectId: string) =>
    await db().query<Array<{ actor_type: string; actor_id: string; details: Record<string, unknown> }>>(
      `SELECT actor_type, actor_id, details FROM audit_events WHERE event_type = $1 AND subject_id = $2 ORDER BY seq`,
      [type, subjectId],
    );
  const browser = (ip: string, userAgent?: string) => {
    const web = userAgent ? new WebClient(h.app.url, userAgent) : new WebClient(h.app.url);
    web.extraHeaders['X-Forwarded-For'] = ip;
    return web;
  };
  const signedOut = async (web: WebClient) => (await web.get('/account', false)).location === '/signin?return_to=%2Faccount';

  it('lists where the person is signed in and the apps; signing another session out ends it and revokes its grants at once', async () => {
    const who = await person();
    const laptop = browser('203.0.113.10');
    const laptopPortal = (await authorize(h, laptop, portal, who)).tokens;
    const laptopWiki = (await authorize(h, laptop, wiki, null)).tokens;
    h.clock.advance(Duration.ofMinutes(5));
    const desktop = browser('198.51.100.7', FIREFOX_ON_WINDOWS);
    const desktopPortal = (await authorize(h, desktop, portal, who)).tokens;
    const laptopId = await sessionIdOf(laptop);
    const desktopId = await sessionIdOf(desktop);

    const account = expectPage(await desktop.get('/account'), 200, 'Sessions');
    expect(account.html).toContain('<section aria-labelledby="h-sessions">');
    expect(account.html).toContain('<h2 id="h-sessions">Sessions</h2>');
    const shown = text(account.html);
    // The most recently seen first: this one (it asked just now), then the laptop.
    expect(shown).toMatch(
      /Firefox 128 on Windows \(this session\) 198\.51\.100\.7 .* UTC .* UTC Portal Sign out Chrome 131 on macOS 203\.0\.113\.10 .* UTC .* UTC Portal, Wiki Sign out/u,
    );
    expect(account.html.match(/action="\/account\/sessions\/sign-out"/gu)).toHaveLength(2);
    expect(account.html).toContain(`name="session_id" value="${laptopId}"`);
    expect(shown).toContain('Sign out everywhere');

    // Without the CSRF token, or from another site: refused, nothing ends.
    const csrf = desktop.csrf();
    expect((await postWithoutCsrf(desktop, '/account/sessions/sign-out', { session_id: laptopId })).status).toBe(403);
    const foreign = await postRaw(
      desktop,
      '/account/sessions/sign-out',
      { csrf, session_id: laptopId },
      { Origin: 'https://evil.example' },
    );
    expect(foreign.status).toBe(403);
    expect(await sessionRow(laptopId)).toMatchObject({ ended_at: null });
    expect(await introspect(portal, laptopPortal.access_token)).toBe(true);

    // Someone else's session, by its id: answered like one that does not exist, and it lives on.
    const other = await person();
    const theirs = browser('192.0.2.8');
    const theirTokens = (await authorize(h, theirs, portal, other)).tokens;
    const theirId = await sessionIdOf(theirs);
    await desktop.get('/account');
    const notMine = await desktop.post('/account/sessions/sign-out', { session_id: theirId }, false);
    expect(notMine.status).toBe(404);
    await desktop.get('/account');
    const unknown = await desktop.post('/account/sessions/sign-out', { session_id: '00000000-0000-4000-8000-000000000000' }, false);
    expect(unknown.status).toBe(404);
    expect(text(unknown.html)).toBe(text(notMine.html));
    expect(await sessionRow(theirId)).toMatchObject({ ended_at: null });
    expect(await signedOut(theirs)).toBe(false);
    expect(await introspect(portal, theirTokens.access_token)).toBe(true);

    // The laptop, signed out from the desktop: ended, and its apps' tokens are dead at once (no logout-queue run yet).
    await desktop.get('/account');
    const done = await desktop.post('/account/sessions/sign-out', { session_id: laptopId });
    expectPage(done, 200, 'The session was signed out, and so were the applications it had signed in to.');
    expect(done.html).not.toContain(`value="${laptopId}"`);
    expect(await sessionRow(laptopId)).toMatchObject({ ended_at: expect.any(Date), end_reason: 'ended_by_user' });
    expect(await signedOut(laptop)).toBe(true);
    expect(await introspect(portal, laptopPortal.access_token)).toBe(false);
    expect(await introspect(wiki, laptopWiki.access_token)).toBe(false);
    await expect(client.refreshTokenGrant(portal.config, laptopPortal.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(wiki.config, laptopWiki.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The desktop's own grant (same person, same app, another session) is untouched.
    expect(await introspect(portal, desktopPortal.access_token)).toBe(true);
    expect((await audit('session.ended', who.id)).at(-1)).toEqual({
      actor_type: 'user',
      actor_id: who.id,
      // The portal's and the wiki's grants, each with its access and refresh token (the codes were used).
      details: { session_id: laptopId, reason: 'ended_by_user', oidc_grants_revoked: 2, oidc_artifacts_revoked: 4 },
    });
    // The relying apps are then told through the queue, which finds the ended session's provider session.
    const outcomes = await h.app.app.get(BackchannelLogout).drainQueue();
    expect(outcomes.map((o) => o.clientId).sort()).toEqual([portal.clientId, wiki.clientId].sort());

    // This session's own "Sign out" in the list works like the page's "Sign out": to sign-in, the cookie gone.
    await desktop.get('/account');
    const own = await desktop.post('/account/sessions/sign-out', { session_id: desktopId }, false);
    expect(own.status).toBe(303);
    expect(own.location).toBe('/signin?notice=signed_out');
    expect(desktop.cookie('session')).toBeUndefined();
    expect(await sessionRow(desktopId)).toMatchObject({ end_reason: 'signed_out' });
    expect(await introspect(portal, desktopPortal.access_token)).toBe(false);
    expect(await signedOut(theirs)).toBe(false);
  });

  it('"Sign out everywhere" ends every session of the person, this one too, and revokes every grant they hold', async () => {
    const who = await person();
    const bystander = await person();
    const one = browser('203.0.113.20');
    const two = browser('203.0.113.21', FIREFOX_ON_WINDOWS);
    const oneTokens = (await authorize(h, one, portal, who)).tokens;
    const twoTokens = (await authorize(h, two, wiki, who)).tokens;
    const theirs = browser('203.0.113.22');
    const theirTokens = (await authorize(h, theirs, portal, bystander)).tokens;

    await one.get('/account');
    expect((await postWithoutCsrf(one, '/account/sessions/sign-out-everywhere', {})).status).toBe(403);
    expect(await signedOut(two)).toBe(false);

    await one.get('/account');
    const away = await one.post('/account/sessions/sign-out-everywhere', {}, false);
    expect(away.status).toBe(303);
    expect(away.location).toBe('/signin?notice=signed_out');
    expect(one.cookie('session')).toBeUndefined();
    expect(await signedOut(two)).toBe(true);
    expect(await introspect(portal, oneTokens.access_token)).toBe(false);
    expect(await introspect(wiki, twoTokens.access_token)).toBe(false);
    await expect(client.refreshTokenGrant(wiki.config, twoTokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await audit('session.signed_out_everywhere', who.id)).toEqual([
      {
        actor_type: 'user',
        actor_id: who.id,
        details: { sessions_ended: 2, oidc_grants_revoked: 2, oidc_artifacts_revoked: 4 },
      },
    ]);
    // Another person is not concerned.
    expect(await signedOut(theirs)).toBe(false);
    expect(await introspect(portal, theirTokens.access_token)).toBe(true);
  });

  it("DELETE /api/v1/session ends the caller's own session token (204) and revokes its OIDC grants", async () => {
    const who = await person();
    const web = browser('203.0.113.30');
    const tokens = (await authorize(h, web, portal, who)).tokens;
    const other = browser('203.0.113.31');
    const otherTokens = (await authorize(h, other, portal, who)).tokens;
    const token = web.cookie('session')!;
    const id = await sessionIdOf(web);

    expect((await api(h.app.url, 'DELETE', '/api/v1/session')).status).toBe(401);
    expect((await api(h.app.url, 'DELETE', '/api/v1/session', { session: 'not-a-session' })).status).toBe(401);
    expect((await api(h.app.url, 'GET', '/api/v1/account/devices', { session: token })).status).toBe(200);

    const ended = await api(h.app.url, 'DELETE', '/api/v1/session', { session: token });
    expect(ended.status).toBe(204);
    expect(ended.body).toEqual({});
    expect(await sessionRow(id)).toMatchObject({ ended_at: expect.any(Date), end_reason: 'signed_out' });
    expect((await api(h.app.url, 'GET', '/api/v1/account/devices', { session: token })).status).toBe(401);
    expect((await api(h.app.url, 'DELETE', '/api/v1/session', { session: token })).status).toBe(401);
    expect(await signedOut(web)).toBe(true);
    expect(await introspect(portal, tokens.access_token)).toBe(false);
    await expect(client.refreshTokenGrant(portal.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await audit('session.ended', who.id)).at(-1)).toEqual({
      actor_type: 'user',
      actor_id: who.id,
      details: { session_id: id, reason: 'signed_out', oidc_grants_revoked: 1, oidc_artifacts_revoked: 2 },
    });
    // Only that session: the person's other one, and its grant, live on.
    expect(await signedOut(other)).toBe(false);
    expect(await introspect(portal, otherTokens.access_token)).toBe(true);
  });
});
