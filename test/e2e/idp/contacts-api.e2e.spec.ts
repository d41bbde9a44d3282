import * as client from 'openid-client';
import { api, apiStart, codeMails, expectPage, nextEmailCode, signInByEmail } from '../../support/journeys.js';
import {
  authorizationRequest,
  authorize,
  browse,
  discover,
  landedOnCallback,
  landedOnPage,
  registerApp,
  signIn,
  startOidcHarness,
  type OidcHarness,
  type RelyingApp,
} from '../../support/oidc.js';
import { WebClient, seedOrganization, seedUser, text } from '../../support/web.js';
import { codeOccurrences } from '../../support/codes.js';
import { POLICY_COPY_MS } from '#libs/contacts';
import { Duration } from '#libs/core';

/**
 * The emergency contacts JSON API (`/api/v1/account/emergency-contacts`) with a relying
 * app's access token (openid-client, scope `gatehouse.contacts`), a session token or the
 * browser session with its CSRF token; and the OIDC interaction going through the policy
 * interstitial before the relying app gets its answer.
 */
describe('emergency contacts: JSON API and OIDC', () => {
  let h: OidcHarness;
  let org: string;
  let rp: RelyingApp;
  let n = 0;
  /** Every raw API answer body, to prove no code is ever in one. */
  const answers: string[] = [];
  const codes = new Set<string>();

  const API = '/api/v1/account/emergency-contacts';
  const db = () => h.db.dataSource;

  beforeAll(async () => {
    h = await startOidcHarness();
    org = await seedOrganization(db(), 'api-kin');
    rp = await registerApp(h, { name: 'Family portal', scopes: ['openid', 'email', 'gatehouse.contacts'] });
  });

  afterAll(async () => {
    await h.close();
  });

  async function person(organization = org): Promise<{ userId: string; password: string; email: string; id: string }> {
    n++;
    const who = { userId: `api.member.${n}`, password: `an api member password ${n}`, email: `api.member${n}@example.com` };
    const id = await seedUser(db(), organization, { enterpriseId: who.userId, password: who.password, email: who.email });
    return { ...who, id };
  }

  async function call(
    method: string,
    path: string,
    auth: { bearer?: string; session?: string; headers?: Record<string, string> },
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const response = await fetch(new URL(path, h.issuer), {
      method,
      headers: {
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...(auth.bearer ? { Authorization: `Bearer ${auth.bearer}` } : {}),
        ...(auth.session ? { Authorization: `Session ${auth.session}` } : {}),
        ...auth.headers,
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const raw = await response.text();
    answers.push(raw);
    return { status: response.status, body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {}, headers: response.headers };
  }

  async function emailCode(address: string, seen = 0): Promise<string> {
    const code = await nextEmailCode(h.mail, address, seen);
    codes.add(code);
    return code;
  }

  it("a relying app with the user's access token (scope gatehouse.contacts) adds and verifies the emergency email", async () => {
    const who = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who, { scope: 'openid gatehouse.contacts' });
    expect(tokens.scope?.split(' ')).toContain('gatehouse.contacts');
    const bearer = tokens.access_token;

    const empty = await call('GET', API, { bearer });
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({
      email: { address: null, verified: false, verified_at: null, pending_code: null },
      phone: { number: null, type: null, channels: [], verified: false, verified_at: null, verified_by: null, pending_code: null },
      policy: { require_verified_email: false, require_verified_phone: false, reminder_limit: 3, reminders_used: 0, reminders_left: 3 },
      action_required: [],
    });

    const invalid = await call('PUT', `${API}/email`, { bearer }, { email: 'nope' });
    expect(invalid.status).toBe(422);
    expect(invalid.headers.get('content-type')).toMatch(/^application\/problem\+json/u);
    expect(invalid.body).toMatchObject({ code: 'invalid_email', status: 422, field: 'email', detail: 'Enter a valid email address.' });

    const saved = await call('PUT', `${API}/email`, { bearer }, { email: 'api.kin@example.org' });
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({
      status: 'saved',
      delivery: 'sent',
      emergency_contacts: {
        email: {
          address: 'api.kin@example.org',
          verified: false,
          pending_code: { channel: 'email', delivery: 'sent', expires_at: expect.any(String) },
        },
      },
    });
    const code = await emailCode('api.kin@example.org');

    const wrong = await call('POST', `${API}/verify`, { bearer }, { contact: 'email', code: code === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(422);
    expect(wrong.body).toMatchObject({ code: 'otp_invalid', attempts_left: 4, field: 'code' });
    const unknownKind = await call('POST', `${API}/verify`, { bearer }, { contact: 'fax', code });
    expect(unknownKind.status).toBe(400);
    expect(unknownKind.body).toMatchObject({ code: 'invalid_request' });

    const verified = await call('POST', `${API}/verify`, { bearer }, { contact: 'email', code });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ status: 'verified', emergency_contacts: { email: { verified: true, pending_code: null } } });
    const again = await call('POST', `${API}/verify`, { bearer }, { contact: 'email', code });
    expect(again.body).toMatchObject({ status: 'unchanged' });

    // A landline is refused for text messages with the same clear reason as on the page.
    const landline = await call('PUT', `${API}/phone`, { bearer }, { phone: '+39 06 1234 5678', channel: 'sms' });
    expect(landline.status).toBe(422);
    expect(landline.body).toMatchObject({
      code: 'sms_not_available',
      field: 'channel',
      detail: 'This is a landline number: we can only call it. Text messages are not offered for landlines.',
    });

    const [event] = await db().query<Array<{ details: Record<string, unknown>; actor_id: string }>>(
      `SELECT details, actor_id FROM audit_events WHERE subject_id = $1 AND event_type = 'emergency_contact.email_verified'`,
      [who.id],
    );
    expect(event).toMatchObject({ actor_id: who.id, details: { via: 'access_token', client_id: rp.clientId, email: 'a***@example.org' } });
    expect(event!.details).not.toHaveProperty('session_id');
  });

  it('refuses a token without the scope, a service token, a bad token and no credentials (RFC 6750 challenges as problem+json)', async () => {
    const who = await person();
    const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who, { scope: 'openid email' });
    const noScope = await call('GET', API, { bearer: tokens.access_token });
    expect(noScope.status).toBe(403);
    expect(noScope.headers.get('content-type')).toMatch(/^application\/problem\+json/u);
    expect(noScope.headers.get('www-authenticate')).toBe(
      'Bearer realm="gatehouse", error="insufficient_scope", scope="gatehouse.contacts"',
    );
    expect(noScope.body).toMatchObject({ code: 'insufficient_scope', status: 403 });
    expect((await call('PUT', `${API}/email`, { bearer: tokens.access_token }, { email: 'x.kin@example.org' })).status).toBe(403);
    expect(codeMails(h.mail, 'x.kin@example.org')).toHaveLength(0);

    // An app registered without the scope (the default) cannot even ask for it.
    const plain = await registerApp(h, { name: 'Plain portal' });
    const [registered] = await db().query<Array<{ scopes: string[] }>>(`SELECT scopes FROM oidc_clients WHERE client_id = $1`, [
      plain.clientId,
    ]);
    expect(registered!.scopes).not.toContain('gatehouse.contacts');
    const request = await authorizationRequest(plain, { scope: 'openid gatehouse.contacts' });
    const refused = landedOnCallback(await browse(new WebClient(h.app.url), request.url));
    expect(refused.searchParams.get('error')).toBe('invalid_scope');

    // A service's own token (client_credentials) is not a user's.
    const registeredService = await h.registry.create(
      { name: 'Batch service', grants: ['client_credentials'] },
      { type: 'operator', id: 'test' },
    );
    const service = await discover(h, registeredService.clientId, registeredService.clientSecret);
    const serviceToken = await client.clientCredentialsGrant(service);
    const wrongKind = await call('GET', API, { bearer: serviceToken.access_token });
    expect(wrongKind.status).toBe(403);
    expect(wrongKind.body).toMatchObject({ code: 'insufficient_scope' });
    // The scope is for sign-in clients only.
    await expect(
      h.registry.create(
        { name: 'Odd service', grants: ['client_credentials'], scopes: ['gatehouse.contacts'] },
        { type: 'operator', id: 'test' },
      ),
    ).rejects.toMatchObject({ code: 'invalid_client_metadata' });

    const bad = await call('GET', API, { bearer: 'not-a-real-token' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse", error="invalid_token"');
    const none = await call('GET', API, {});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');
  });

  it('works with a session token from the JSON sign-in, and with the browser session plus its CSRF token', async () => {
    const who = await person();
    const flow = await apiStart(h.app.url);
    const started = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/credentials`, {
      flowToken: flow.token,
      body: { user_id: who.userId, password: who.password },
    });
    expect(started.body).toMatchObject({ step: 'otp' });
    const done = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/otp`, {
      flowToken: flow.token,
      body: { code: await nextEmailCode(h.mail, who.email, 0) },
    });
    const session = done.body.session_token as string;
    const saved = await call('PUT', `${API}/email`, { session }, { email: 'session.kin@example.org' });
    expect(saved.body).toMatchObject({ status: 'saved' });
    const code = await emailCode('session.kin@example.org');
    expect((await call('POST', `${API}/verify`, { session }, { contact: 'email', code })).body).toMatchObject({ status: 'verified' });
    expect((await call('GET', API, { session: 'forged' })).status).toBe(401);

    // The browser: reading with the cookie is fine; a change needs the CSRF token (X-CSRF-Token) and a same-origin request.
    const web = new WebClient(h.app.url);
    expectPage(await signInByEmail(h, web, who), 200, 'Your account');
    const cookie = [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const read = await call('GET', API, { headers: { Cookie: cookie } });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ email: { address: 'session.kin@example.org', verified: true } });
    const forged = await call('PUT', `${API}/phone`, { headers: { Cookie: cookie } }, { phone: '+393339000001' });
    expect(forged.status).toBe(403);
    expect(forged.body).toMatchObject({ code: 'csrf_failed' });
    const csrf = web.csrf();
    const foreign = await call(
      'PUT',
      `${API}/phone`,
      { headers: { Cookie: cookie, 'X-CSRF-Token': csrf, Origin: 'https://evil.example' } },
      { phone: '+393339000001' },
    );
    expect(foreign.status).toBe(403);
    const allowed = await call(
      'PUT',
      `${API}/phone`,
      { headers: { Cookie: cookie, 'X-CSRF-Token': csrf, Origin: h.issuer } },
      { phone: '+393339000001' },
    );
    expect(allowed.status).toBe(200);
    expect(allowed.body).toMatchObject({
      status: 'saved',
      emergency_contacts: { phone: { number: '+393339000001', type: 'mobile', verified: false } },
    });
    // Removal (PUT null or DELETE) is audited like the rest.
    const removed = await call('DELETE', `${API}/phone`, { headers: { Cookie: cookie, 'X-CSRF-Token': csrf, Origin: h.issuer } });
    expect(removed.body).toMatchObject({ status: 'removed', emergency_contacts: { phone: { number: null } } });
  });

  /** A JSON API sign-in with the emailed code, checked to end in `done`; its answer. */
  async function signInByApi(who: { userId: string; password: string; email: string }): Promise<Record<string, unknown>> {
    const flow = await apiStart(h.app.url);
    const seen = codeMails(h.mail, who.email).length;
    const started = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/credentials`, {
      flowToken: flow.token,
      body: { user_id: who.userId, password: who.password },
    });
    expect(started.body).toMatchObject({ step: 'otp' });
    expect(started.body.action_required).toBeUndefined();
    const code = await nextEmailCode(h.mail, who.email, seen);
    const done = await api(h.app.url, 'POST', `/api/v1/signin/${flow.id}/otp`, { flowToken: flow.token, body: { code } });
    expect(done.body).toMatchObject({ step: 'done' });
    return done.body;
  }

  it('the JSON sign-in tells the app what the policy asks (action_required) until the user postpones or verifies', async () => {
    const strict = await seedOrganization(db(), 'api-native', {
      require_verified_emergency_email: true,
      require_verified_emergency_phone: true,
      contact_reminder_limit: 1,
    });
    const who = await person(strict);
    const first = await signInByApi(who);
    expect(first.action_required).toEqual({ emergency_contacts: ['email', 'phone'], reminders_left: 1, href: API });
    const session = first.session_token as string;
    expect((await call('POST', `${API}/remind-later`, { session })).body).toMatchObject({ status: 'deferred' });

    // The reminder is used up: the next sign-in is still told, with none left.
    const second = await signInByApi(who);
    expect(second.action_required).toEqual({ emergency_contacts: ['email', 'phone'], reminders_left: 0, href: API });
    const next = second.session_token as string;
    await call('PUT', `${API}/email`, { session: next }, { email: 'native.kin@example.org' });
    const code = await emailCode('native.kin@example.org');
    expect((await call('POST', `${API}/verify`, { session: next }, { contact: 'email', code })).body).toMatchObject({ status: 'verified' });
    expect((await signInByApi(who)).action_required).toEqual({ emergency_contacts: ['phone'], reminders_left: 0, href: API });

    // An organization that requires nothing: no action_required. Once it does, its sign-ins are told
    // within the time a node keeps its policy (POLICY_COPY_MS).
    const relaxedOrg = await seedOrganization(db(), 'api-relaxed');
    const relaxed = await person(relaxedOrg);
    expect(await signInByApi(relaxed)).not.toHaveProperty('action_required');
    await db().query(`UPDATE organization_policies SET require_verified_emergency_phone = true WHERE organization_id = $1`, [relaxedOrg]);
    expect(await signInByApi(relaxed)).not.toHaveProperty('action_required');
    h.clock.advance(Duration.ofMilliseconds(POLICY_COPY_MS + 1));
    expect((await signInByApi(relaxed)).action_required).toEqual({ emergency_contacts: ['phone'], reminders_left: 3, href: API });
  });

  it('an OIDC sign-in goes through the policy interstitial; "Remind me later" then reaches the app, and once the reminders are used up the app waits until the user verifies', async () => {
    const strict = await seedOrganization(db(), 'api-strict', { require_verified_emergency_email: true, contact_reminder_limit: 1 });
    const who = await person(strict);

    const web = new WebClient(h.app.url);
    const request = await authorizationRequest(rp, { scope: 'openid email' });
    landedOnPage(await browse(web, request.url), 'Password');
    const asked = landedOnPage(await signIn(h, web, who), 'Verify your emergency contacts');
    expect(text(asked.html)).toContain('You can postpone this one more time.');
    const returnTo = /name="return_to" value="([^"]+)"/u.exec(asked.html)![1]!.replace(/&amp;/gu, '&');
    expect(returnTo).toMatch(/^\/interaction\/[^?]+\?login=/u);
    const later = await web.post('/account/emergency-contacts/remind-later', { return_to: returnTo }, false);
    const callback = landedOnCallback(await browse(web, later));
    const tokens = await client.authorizationCodeGrant(rp.config, callback, request.checks);
    expect(tokens.claims()?.sub).toBe(who.id);

    // Another browser: no reminder left. Skipping the page and going back to the interaction does not help.
    const other = new WebClient(h.app.url);
    const second = await authorizationRequest(rp, { scope: 'openid email' });
    landedOnPage(await browse(other, second.url), 'Password');
    const insisted = landedOnPage(await signIn(h, other, who), 'You can no longer postpone this');
    const back = /name="return_to" value="([^"]+)"/u.exec(insisted.html)![1]!.replace(/&amp;/gu, '&');
    landedOnPage(await browse(other, new URL(back, h.issuer).href), 'Verify your emergency contacts');

    await other.post('/account/emergency-contacts/email', { action: 'save', email: 'oidc.kin@example.org', return_to: back });
    const code = await emailCode('oidc.kin@example.org');
    const verified = await other.post(
      '/account/emergency-contacts/verify',
      { kind: 'email', action: 'verify', code, return_to: back },
      false,
    );
    expect(verified.location).toBe(back);
    // After a form, the answer goes on by a fresh navigation (CSP form-action), then to the app.
    const page = await other.get(verified.location!, false);
    expect(page.status).toBe(200);
    expect(page.headers.get('refresh')).toMatch(/^0;url=/u);
    const secondCallback = landedOnCallback(await browse(other, page));
    expect((await client.authorizationCodeGrant(rp.config, secondCallback, second.checks)).claims()?.sub).toBe(who.id);
  });

  it('single sign-on with a session from before the policy changed is asked too, at the interaction', async () => {
    const later = await seedOrganization(db(), 'api-later');
    const who = await person(later);
    const web = new WebClient(h.app.url);
    expectPage(await signInByEmail(h, web, who), 200, 'Your account');
    await db().query(`UPDATE organization_policies SET require_verified_emergency_email = true WHERE organization_id = $1`, [later]);

    const request = await authorizationRequest(rp, { scope: 'openid email' });
    const asked = landedOnPage(await browse(web, request.url), 'Verify your emergency contacts');
    const returnTo = /name="return_to" value="([^"]+)"/u.exec(asked.html)![1]!.replace(/&amp;/gu, '&');
    expect(returnTo).toMatch(/^\/interaction\/[^?]+\?after=contacts$/u);
    const deferred = await web.post('/account/emergency-contacts/remind-later', { return_to: returnTo }, false);
    expect(deferred.location).toBe(returnTo);
    const continued = await web.get(returnTo, false);
    expect(continued.status).toBe(200);
    expect(continued.headers.get('refresh')).toMatch(/^0;url=/u);
    const callback = landedOnCallback(await browse(web, continued));
    expect((await client.authorizationCodeGrant(rp.config, callback, request.checks)).claims()?.sub).toBe(who.id);
    const [event] = await db().query<Array<{ details: Record<string, unknown> }>>(
      `SELECT details FROM audit_events WHERE subject_id = $1 AND event_type = 'emergency_contact.reminder_deferred'`,
      [who.id],
    );
    expect(event!.details).toMatchObject({ missing: ['email'], reminders_used: 1, reminder_limit: 3 });
  });

  it('an app that already holds a grant in this session is asked again once the policy requires contacts; prompt=none gets interaction_required until answered', async () => {
    const turning = await seedOrganization(db(), 'api-turning');
    const who = await person(turning);
    const web = new WebClient(h.app.url);
    await authorize(h, web, rp, who, { scope: 'openid email' });
    await db().query(`UPDATE organization_policies SET require_verified_emergency_email = true WHERE organization_id = $1`, [turning]);

    const silent = await authorizationRequest(rp, { scope: 'openid email', prompt: 'none' });
    const refused = landedOnCallback(await browse(web, silent.url));
    expect(refused.searchParams.get('error')).toBe('interaction_required');

    const request = await authorizationRequest(rp, { scope: 'openid email' });
    const asked = landedOnPage(await browse(web, request.url), 'Verify your emergency contacts');
    const returnTo = /name="return_to" value="([^"]+)"/u.exec(asked.html)![1]!.replace(/&amp;/gu, '&');
    const callback = landedOnCallback(
      await browse(web, await web.post('/account/emergency-contacts/remind-later', { return_to: returnTo }, false)),
    );
    expect((await client.authorizationCodeGrant(rp.config, callback, request.checks)).claims()?.sub).toBe(who.id);

    // Postponed in this session: a silent request is answered again.
    const again = await authorizationRequest(rp, { scope: 'openid email', prompt: 'none' });
    const answered = landedOnCallback(await browse(web, again.url));
    expect(answered.searchParams.get('error')).toBeNull();
    expect((await client.authorizationCodeGrant(rp.config, answered, again.checks)).claims()?.sub).toBe(who.id);
  });

  it('no code is ever in an API answer or a log line', async () => {
    expect(codes.size).toBeGreaterThanOrEqual(3);
    for (const code of codes) {
      for (const answer of answers) expect(answer).not.toContain(code);
      expect(codeOccurrences(h.app.logs.text, code)).toEqual([]);
    }
  });
});
