import * as client from 'openid-client';
import { Duration } from '#libs/core';
import { BackchannelLogout } from '#libs/oidc';
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
  type RelyingApp,
} from '../../support/oidc.js';
import { SUPPORT, auditEvents, supportServicesOn, type SupportServices } from '../../support/support-services.js';
import { WebClient, seedOrganization } from '../../support/web.js';
import { TestWebhookReceiver } from '../../support/webhook.js';

/**
 * Disabling a user (the support console's `disable`) against the real provider, PostgreSQL
 * and openid-client as the relying apps: what the provider issued to the user is revoked in
 * the disable's transaction. The IdP's back-channel logout queue is not drained on its own
 * here (one run an hour), so nothing of it rests on that queue, which only tells the apps.
 */
describe('support: disabling a user revokes their OIDC grants and tokens', () => {
  let h: OidcHarness;
  let sms: TestWebhookReceiver;
  let s: SupportServices;
  let portal: RelyingApp;
  let wiki: RelyingApp;
  let person: ReturnType<typeof people>;

  beforeAll(async () => {
    h = await startOidcHarness({ oidcTimers: { logoutQueue: Duration.ofHours(1) } });
    sms = await TestWebhookReceiver.start();
    s = await supportServicesOn({ db: h.db, mail: h.mail, sms, clock: h.clock });
    person = people(h, await seedOrganization(h.db.dataSource, 'acme'), 'gone');
    portal = await registerApp(h, { name: 'Portal' });
    wiki = await registerApp(h, { name: 'Wiki' });
  });

  afterAll(async () => {
    await s.close();
    await sms.stop();
    await h.close();
  });

  /** What a resource server learns by introspecting (client_secret_basic, as a confidential client). */
  const introspect = async (rp: RelyingApp, accessToken: string) => (await client.tokenIntrospection(rp.config, accessToken)).active;
  const userinfoWorks = async (accessToken: string) =>
    (await fetch(`${h.issuer}/oidc/me`, { headers: { Authorization: `Bearer ${accessToken}` } })).status === 200;
  const kindsOf = async (accountId: string) =>
    (
      await h.db.dataSource.query<Array<{ kind: string }>>(
        `SELECT DISTINCT kind FROM oidc_models WHERE payload->>'accountId' = $1 ORDER BY kind`,
        [accountId],
      )
    ).map((r) => r.kind);

  it('introspection answers active: false and refresh is invalid_grant at once, for every app, and stays so after enabling', async () => {
    const who = await person();
    const bystander = await person();
    const web = new WebClient(h.app.url);
    const first = (await authorize(h, web, portal, who)).tokens;
    // A rotation leaves a used refresh token behind; the wiki signs in by single sign-on in the same browser.
    const rotated = await client.refreshTokenGrant(portal.config, first.refresh_token!);
    const wikiTokens = (await authorize(h, web, wiki, null)).tokens;
    const theirs = (await authorize(h, new WebClient(h.app.url), portal, bystander)).tokens;
    for (const token of [first.access_token, rotated.access_token]) expect(await introspect(portal, token)).toBe(true);
    expect(await introspect(wiki, wikiTokens.access_token)).toBe(true);
    expect(await kindsOf(who.id)).toEqual(['AccessToken', 'AuthorizationCode', 'Grant', 'RefreshToken', 'Session']);

    expect(await s.actions.disable(SUPPORT, who.id, 'Left the company (HR-21)')).toEqual({ sessionsEnded: 1, devicesRevoked: 0 });

    // A resource server asking right after the disable (no logout-queue run in between) hears the tokens are dead.
    for (const token of [first.access_token, rotated.access_token]) expect(await introspect(portal, token)).toBe(false);
    expect(await introspect(wiki, wikiTokens.access_token)).toBe(false);
    await expect(client.refreshTokenGrant(portal.config, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(wiki.config, wikiTokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Gone from storage: the grants and all issued under them; the provider session is left for the back-channel logout.
    expect(await kindsOf(who.id)).toEqual(['Session']);
    expect((await auditEvents(h.db.dataSource, 'support.user_disabled')).at(-1)).toMatchObject({
      subject_id: who.id,
      details: {
        reason: 'Left the company (HR-21)',
        actor_role: 'support',
        sessions_ended: 1,
        devices_revoked: 0,
        // The portal's and the wiki's grants; two live access tokens and a refresh token for the portal (the
        // first refresh token and the code were used), one of each for the wiki.
        oidc_grants_revoked: 2,
        oidc_artifacts_revoked: 5,
      },
    });
    // Another person's tokens of the same app are untouched.
    expect(await introspect(portal, theirs.access_token)).toBe(true);
    expect((await client.refreshTokenGrant(portal.config, theirs.refresh_token!)).claims()!.sub).toBe(bystander.id);

    // The relying apps are still logged out through the queue: it finds the provider session of the ended one.
    const outcomes = await h.app.app.get(BackchannelLogout).drainQueue();
    expect(outcomes.map((o) => o.clientId).sort()).toEqual([portal.clientId, wiki.clientId].sort());
    expect(await kindsOf(who.id)).toEqual([]);

    // Revoked, not merely refused while disabled: enabling the user brings none of it back.
    expect(await s.actions.enable(SUPPORT, who.id, 'Rehired (HR-22)')).toEqual({ status: 'active' });
    expect(await introspect(portal, rotated.access_token)).toBe(false);
    expect(await userinfoWorks(rotated.access_token)).toBe(false);
    await expect(client.refreshTokenGrant(portal.config, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(wiki.config, wikiTokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('ending sessions revokes the OIDC grants and tokens at once too; with only grants left, it still ends them', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const tokens = (await authorize(h, web, portal, who)).tokens;
    expect(await introspect(portal, tokens.access_token)).toBe(true);

    expect(await s.actions.endSessions(SUPPORT, who.id, 'Shared device (SUP-31)')).toEqual({ ended: 1, grantsRevoked: 1 });
    // No logout-queue run in between: the tokens are dead already.
    expect(await introspect(portal, tokens.access_token)).toBe(false);
    expect(await userinfoWorks(tokens.access_token)).toBe(false);
    await expect(client.refreshTokenGrant(portal.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await auditEvents(h.db.dataSource, 'support.sessions_ended')).at(-1)).toMatchObject({
      subject_id: who.id,
      details: { sessions_ended: 1, oidc_grants_revoked: 1, oidc_artifacts_revoked: 2 },
    });
    // The user is still active: signing in again works, and a new grant is not touched by the earlier action.
    const again = (await authorize(h, new WebClient(h.app.url), portal, who)).tokens;
    expect(await introspect(portal, again.access_token)).toBe(true);

    // A Gatehouse session that ended quietly (idle timeout) leaves the app's grant: ending sessions still revokes it.
    await h.db.dataSource.query(
      `UPDATE sessions SET ended_at = now(), end_reason = 'idle_timeout' WHERE user_id = $1 AND ended_at IS NULL`,
      [who.id],
    );
    expect(await introspect(portal, again.access_token)).toBe(true);
    expect(await s.actions.endSessions(SUPPORT, who.id, 'Lost laptop (SUP-32)')).toEqual({ ended: 0, grantsRevoked: 1 });
    expect(await introspect(portal, again.access_token)).toBe(false);
    // Nothing left at all: the usual refusal, and no notice or audit entry.
    await expect(s.actions.endSessions(SUPPORT, who.id, 'again')).rejects.toMatchObject({ code: 'no_sessions' });
  });

  it('an authorization in progress is neither counted nor deleted as a token: it ends with a grant of its own', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const tokens = (await authorize(h, web, portal, who)).tokens;
    // prompt=login on the same browser: an interaction that carries the portal's grant id, waiting at the password page.
    const request = await authorizationRequest(portal, { prompt: 'login' });
    landedOnPage(await browse(web, request.url), 'Password');
    const interactions = async () =>
      (
        await h.db.dataSource.query<unknown[]>(
          `SELECT 1 FROM oidc_models WHERE kind = 'Interaction' AND grant_id IS NOT NULL AND payload->'session'->>'accountId' = $1`,
          [who.id],
        )
      ).length;
    expect(await interactions()).toBe(1);

    expect(await s.actions.endSessions(SUPPORT, who.id, 'Shared device (SUP-33)')).toEqual({ ended: 1, grantsRevoked: 1 });
    expect((await auditEvents(h.db.dataSource, 'support.sessions_ended')).at(-1)).toMatchObject({
      subject_id: who.id,
      details: { oidc_grants_revoked: 1, oidc_artifacts_revoked: 2 }, // the access and refresh token, not the interaction
    });
    expect(await introspect(portal, tokens.access_token)).toBe(false);
    expect(await interactions()).toBe(1);
    // The person signs in again on the page they were on, and the app gets its answer under a new grant.
    const callback = landedOnCallback(await signIn(h, web, who));
    const again = await client.authorizationCodeGrant(portal.config, callback, request.checks);
    expect(again.claims()!.sub).toBe(who.id);
    expect(await introspect(portal, again.access_token)).toBe(true);
  });

  it('a user without any grant is disabled as before, with nothing revoked', async () => {
    const who = await person();
    expect(await s.actions.disable(SUPPORT, who.id, 'Never started (HR-23)')).toEqual({ sessionsEnded: 0, devicesRevoked: 0 });
    expect((await auditEvents(h.db.dataSource, 'support.user_disabled')).at(-1)).toMatchObject({
      subject_id: who.id,
      details: { oidc_grants_revoked: 0, oidc_artifacts_revoked: 0 },
    });
  });
});
