import * as client from 'openid-client';
import { setTimeout as sleep } from 'node:timers/promises';
import { Duration } from '#libs/core';
import { LOA1, LOA2 } from '#libs/sessions';
import { sessionOf } from '../../support/account-changes.js';
import {
  authorizationRequest,
  browse,
  landedOnCallback,
  landedOnPage,
  people,
  registerApp,
  signIn,
  startOidcHarness,
  type OidcHarness,
  type Person,
  type RelyingApp,
} from '../../support/oidc.js';
import { WebClient, seedOrganization } from '../../support/web.js';

/**
 * `prompt=none` (silent authentication) against a Gatehouse session, including one made by
 * signing in at Gatehouse directly, before any relying app: the provider's session is
 * brought in line with it, and the provider's own checks (max_age, acr_values) still apply.
 */
describe('OpenID Connect: prompt=none', () => {
  let h: OidcHarness;
  let rp: RelyingApp;
  let org: string;
  let person: ReturnType<typeof people>;

  beforeAll(async () => {
    h = await startOidcHarness();
    org = await seedOrganization(h.db.dataSource, 'acme');
    person = people(h, org, 'quiet');
    rp = await registerApp(h);
  });

  afterAll(async () => {
    await h.close();
  });

  /** Signs in at Gatehouse's own sign-in page, as someone who opened it directly. */
  async function signInDirectly(web: WebClient, who: Person, options: { remember?: boolean; expectOtp?: boolean } = {}): Promise<void> {
    await web.get('/signin');
    landedOnPage(await signIn(h, web, who, options), 'Your account');
  }

  async function silent(web: WebClient, params: Record<string, string> = {}) {
    const request = await authorizationRequest(rp, { prompt: 'none', ...params });
    const first = await web.get(request.url.href, false);
    const callback = landedOnCallback(await browse(web, first));
    return { request, first, callback };
  }

  it('answers prompt=none right after a sign-in at Gatehouse itself, with what that sign-in verified', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInDirectly(web, who);
    const signedInAt = Math.floor(h.clock.now().getTime() / 1000);
    const gatehouse = await sessionOf(h.db.dataSource, web);
    h.clock.advance(Duration.ofSeconds(30));

    const { request, first, callback } = await silent(web, { scope: 'openid email' });
    // One hop to bring the provider's session in line (new cookie), then the same request again.
    expect(first.status).toBe(303);
    expect(first.location).toBe(request.url.pathname + request.url.search);
    expect(web.cookie('oidc')).toBeDefined();
    expect(callback.searchParams.get('error')).toBeNull();
    const tokens = await client.authorizationCodeGrant(rp.config, callback, request.checks);
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ sub: who.id, acr: LOA2, auth_time: signedInAt, nonce: request.checks.expectedNonce });
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
    // Granted exactly what was asked.
    const info = await client.fetchUserInfo(rp.config, tokens.access_token, who.id);
    expect(Object.keys(info).sort()).toEqual(['email', 'email_verified', 'sub']);

    const audit = await h.db.dataSource.query(`SELECT details FROM audit_events WHERE event_type = 'oidc.authorized' AND subject_id = $1`, [
      who.id,
    ]);
    expect(audit).toEqual([
      { details: expect.objectContaining({ client_id: rp.clientId, session_id: gatehouse.id, acr: LOA2, silent: true }) },
    ]);
    // The provider's session now mirrors the Gatehouse session (back-channel logout follows it).
    expect(
      await h.db.dataSource.query(`SELECT 1 FROM oidc_models WHERE kind = 'Session' AND gatehouse_session_id = $1`, [gatehouse.id]),
    ).toHaveLength(1);

    // The next silent request needs no extra hop, and may ask for more (first-party single sign-on).
    const again = await silent(web, { scope: 'openid profile' });
    expect(again.first.location).toMatch(/^https:\/\/rp\.example\.test\/callback\?code=/u);
    const more = await client.authorizationCodeGrant(rp.config, again.callback, again.request.checks);
    expect(await client.fetchUserInfo(rp.config, more.access_token, who.id)).toMatchObject({ name: 'Grace Hopper' });
  });

  it('without a Gatehouse session, prompt=none gets login_required (and a planted provider cookie changes nothing)', async () => {
    const web = new WebClient(h.app.url);
    const { request, callback } = await silent(web);
    expect(callback.searchParams.get('error')).toBe('login_required');
    expect(callback.searchParams.get('state')).toBe(request.checks.expectedState);

    const planted = new WebClient(h.app.url);
    planted.cookies.set('gh_oidc', 'planted-by-someone-else');
    expect((await silent(planted)).callback.searchParams.get('error')).toBe('login_required');
  });

  it('on a remembered-device session (loa:1): prompt=none works, but not with acr_values=loa:2 or an exceeded max_age', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInDirectly(web, who, { remember: true });
    web.cookies.delete('gh_session');
    web.cookies.delete('gh_oidc');
    web.cookies.delete('gh_oidc.sig');
    h.clock.advance(Duration.ofMinutes(1));
    await signInDirectly(web, who, { expectOtp: false });

    const plain = await silent(web);
    const claims = (await client.authorizationCodeGrant(rp.config, plain.callback, plain.request.checks)).claims()!;
    expect(claims.acr).toBe(LOA1);
    expect(claims.amr).toEqual(['pwd']);

    // A fresh OTP is needed for loa:2: that takes a page, which prompt=none rules out.
    const stepUp = await silent(web, { acr_values: LOA2 });
    expect(stepUp.callback.searchParams.get('error')).toBe('login_required');
    const essential = await silent(web, { claims: JSON.stringify({ id_token: { acr: { essential: true, value: LOA2 } } }) });
    expect(essential.callback.searchParams.get('error')).toBe('login_required');

    h.clock.advance(Duration.ofMinutes(5));
    expect((await silent(web, { max_age: '600' })).callback.searchParams.get('code')).not.toBeNull();
    expect((await silent(web, { max_age: '60' })).callback.searchParams.get('error')).toBe('login_required');
  });

  it('after another person signs in on the browser, prompt=none never answers for the first one', async () => {
    const [first, second] = [await person(), await person()];
    const web = new WebClient(h.app.url);
    await signInDirectly(web, first);
    const one = await silent(web);
    expect((await client.authorizationCodeGrant(rp.config, one.callback, one.request.checks)).claims()!.sub).toBe(first.id);

    await signInDirectly(web, second);
    // Until the first person's provider session is ended (back-channel logout), the answer is login_required; never the first person.
    const right = await silent(web);
    if (right.callback.searchParams.get('error') !== 'login_required') {
      expect((await client.authorizationCodeGrant(rp.config, right.callback, right.request.checks)).claims()!.sub).toBe(second.id);
    }
    const deadline = Date.now() + 8000;
    while (
      (await h.db.dataSource.query(`SELECT 1 FROM oidc_models WHERE kind = 'Session' AND payload->>'accountId' = $1`, [first.id])).length
    ) {
      if (Date.now() > deadline) throw new Error("the first person's provider session was not ended");
      await sleep(100);
    }
    const later = await silent(web);
    expect((await client.authorizationCodeGrant(rp.config, later.callback, later.request.checks)).claims()!.sub).toBe(second.id);
  });

  it('after signing out at Gatehouse, prompt=none gets login_required again', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await signInDirectly(web, who);
    const before = await silent(web);
    expect(before.callback.searchParams.get('code')).not.toBeNull();
    await web.get('/account');
    await web.post('/signout', {}, false);
    expect((await silent(web)).callback.searchParams.get('error')).toBe('login_required');
  });
});
