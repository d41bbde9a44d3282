import * as client from 'openid-client';
import { Duration } from '#libs/core';
import { LOA1, LOA2 } from '#libs/sessions';
import { expectPage } from '../../support/journeys.js';
import {
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
  type Person,
  type RelyingApp,
} from '../../support/oidc.js';
import { WebClient, seedOrganization } from '../../support/web.js';
import { TestWebhookReceiver } from '../../support/webhook.js';

/**
 * What ID tokens and userinfo say about the person and the authentication (CONTRACT: acr,
 * amr with `sms` / `tel`, phone claims), and step-up on a remembered device: `max_age`, a
 * cancelled step-up, and a level that cannot be met.
 */
describe('OpenID Connect: claims, amr and step-up requirements', () => {
  let h: OidcHarness;
  let rp: RelyingApp;
  let sms: TestWebhookReceiver;
  let voice: TestWebhookReceiver;
  let org: string;
  let person: ReturnType<typeof people>;

  beforeAll(async () => {
    sms = await TestWebhookReceiver.start();
    voice = await TestWebhookReceiver.start();
    h = await startOidcHarness({ env: { SMS_WEBHOOK_URL: sms.url, VOICE_WEBHOOK_URL: voice.url } });
    org = await seedOrganization(h.db.dataSource, 'acme');
    person = people(h, org, 'lvl');
    rp = await registerApp(h);
  });

  afterAll(async () => {
    await h.close();
    await sms.stop();
    await voice.stop();
  });

  /** Through an authorization's sign-in, with the code sent by text message or voice call. */
  async function authorizeByPhone(
    web: WebClient,
    who: Person & { mobile?: string },
    channel: 'sms' | 'voice',
    params: Record<string, string> = {},
  ) {
    const receiver = channel === 'sms' ? sms : voice;
    const request = await authorizationRequest(rp, params);
    landedOnPage(await browse(web, request.url), 'Password');
    const seen = receiver.accepted.filter((r) => r.body?.to === who.mobile).length;
    expectPage(await web.post('/signin', { user_id: who.userId, password: who.password }), 200, 'How should we send your code?');
    await web.post('/signin/otp', { channel, action: 'resend' });
    const code = await receiver.waitForCode(who.mobile!, { alreadySeen: seen });
    const callback = landedOnCallback(await browse(web, await web.post('/signin/otp', { channel, action: 'verify', code }, false)));
    return await client.authorizationCodeGrant(rp.config, callback, request.checks);
  }

  it('amr names the channel of the code (sms, tel); the phone scope gives the verified mobile', async () => {
    const who = await person({ mobile: '+393331234567' });
    const bySms = await authorizeByPhone(new WebClient(h.app.url), who, 'sms', { scope: 'openid phone' });
    expect(bySms.claims()).toMatchObject({ acr: LOA2, amr: expect.arrayContaining(['pwd', 'otp', 'sms']) });
    expect(bySms.claims()!.amr).not.toContain('tel');
    expect(await client.fetchUserInfo(rp.config, bySms.access_token, who.id)).toEqual({
      sub: who.id,
      phone_number: '+393331234567',
      phone_number_verified: true,
    });

    const byVoice = await authorizeByPhone(new WebClient(h.app.url), who, 'voice');
    expect(byVoice.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'tel']));
    expect(byVoice.claims()!.amr).not.toContain('sms');
    // No mobile on file: no phone claims, whatever the scope.
    const noMobile = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, noMobile, { scope: 'openid phone' });
    expect(Object.keys(await client.fetchUserInfo(rp.config, tokens.access_token, noMobile.id))).toEqual(['sub']);
  });

  /** A browser with a remembered device and a fresh loa:1 session on it (password only). */
  async function rememberedDeviceSession(who: Person): Promise<WebClient> {
    const web = new WebClient(h.app.url);
    await authorize(h, web, rp, who, {}, { remember: true });
    for (const cookie of ['gh_session', 'gh_oidc', 'gh_oidc.sig']) web.cookies.delete(cookie);
    h.clock.advance(Duration.ofMinutes(1));
    const loa1 = await authorize(h, web, rp, who, {}, { expectOtp: false });
    expect(loa1.tokens.claims()).toMatchObject({ acr: LOA1, amr: ['pwd'] });
    return web;
  }

  it('an exceeded max_age on a remembered device asks for the password and a fresh OTP', async () => {
    const who = await person();
    const web = await rememberedDeviceSession(who);
    h.clock.advance(Duration.ofMinutes(3));
    const request = await authorizationRequest(rp, { max_age: '120' });
    landedOnPage(await browse(web, request.url), 'Password');
    // signIn expects the code page after the password: the remembered device does not skip it now.
    const claims = (await client.authorizationCodeGrant(rp.config, landedOnCallback(await signIn(h, web, who)), request.checks)).claims()!;
    expect(claims.acr).toBe(LOA2);
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
    expect(claims.auth_time).toBe(Math.floor(h.clock.now().getTime() / 1000));
  });

  it('cancelling a step-up on a remembered device gives the app access_denied, and its session is still loa:1', async () => {
    const who = await person();
    const web = await rememberedDeviceSession(who);
    const request = await authorizationRequest(rp, { acr_values: LOA2 });
    const page = landedOnPage(await browse(web, request.url), 'Confirm it is you');
    const cancel = /href="(\/interaction\/[^"]+\/abort)"/u.exec(page.html)![1]!;
    expectPage(await web.get(cancel), 200, 'Cancel sign-in');
    const callback = landedOnCallback(await browse(web, await web.post(cancel, {}, false)));
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(request.checks.expectedState);
    // Nothing was raised: a plain request still gets loa:1 from the session.
    expect((await authorize(h, web, rp, null)).tokens.claims()!.acr).toBe(LOA1);
  });

  it('a level Gatehouse cannot provide gives unmet_authentication_requirements; a voluntary unknown one is ignored', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    await authorize(h, web, rp, who);
    const essential = JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:example:loa:9'] } } });
    const request = await authorizationRequest(rp, { claims: essential });
    const callback = landedOnCallback(await browse(web, request.url));
    expect(callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
    expect(callback.searchParams.get('state')).toBe(request.checks.expectedState);

    const voluntary = await authorize(h, web, rp, null, { acr_values: 'urn:example:loa:9' });
    expect(voluntary.tokens.claims()!.acr).toBe(LOA2);
  });
});
