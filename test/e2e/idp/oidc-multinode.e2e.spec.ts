import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { IncomingMessage, Server } from 'node:http';
import * as client from 'openid-client';
import type { RunningApp } from '../../support/apps.js';
import { Duration } from '#libs/core';
import { testSecrets } from '#libs/config';
import { LOA2 } from '#libs/sessions';
import { SIGNING_KEY_RETENTION, SigningKeyStore } from '#libs/oidc-store';
import { codeMails, expectPage, nextEmailCode } from '../../support/journeys.js';
import {
  authorizationRequest,
  nextLocation,
  nodeRouter,
  people,
  registerApp,
  startOidcHarness,
  type OidcHarness,
  type RelyingApp,
} from '../../support/oidc.js';
import { WebClient, seedOrganization } from '../../support/web.js';
import { TestWebhookReceiver } from '../../support/webhook.js';

type Node = 'A' | 'B';

/**
 * Two IdP nodes (two Nest apps on their own ports, each with its own oidc-provider
 * instance, workers and timers) serving one issuer from one database, with no load
 * balancer: the test sends each request of a browser and of the relying app (openid-client)
 * to the node it chooses, rewriting the issuer's origin. A flow started on one node
 * completes on the other.
 */
describe('OpenID Connect on two nodes', () => {
  let h: OidcHarness;
  let b: RunningApp;
  let rp: RelyingApp;
  let receiver: TestWebhookReceiver;
  let org: string;
  let person: ReturnType<typeof people>;
  const origins: Record<Node, string> = { A: '', B: '' };
  /** Where the relying app's next back-channel request goes. */
  let rpNode: Node = 'A';
  const rpServed: Array<[Node, string]> = [];

  beforeAll(async () => {
    receiver = await TestWebhookReceiver.start();
    h = await startOidcHarness({
      oidcTimers: { keyRefresh: Duration.ofMilliseconds(100), logoutQueue: Duration.ofMilliseconds(100) },
    });
    b = await h.startNode();
    recordRequests(h.app);
    recordRequests(b);
    origins.A = h.app.url;
    origins.B = b.url;
    expect(origins.A).toBe(h.issuer);
    expect(origins.B).not.toBe(origins.A);
    org = await seedOrganization(h.db.dataSource, 'acme');
    person = people(h, org, 'multi');
    rp = await registerApp(h, { backchannelLogoutUri: receiver.url });
    // openid-client talks to whichever node the test says, as it would through a load balancer.
    rp.config[client.customFetch] = (url, options) => {
      const target = onNode(url, rpNode);
      rpServed.push([rpNode, new URL(target).pathname]);
      return fetch(target, options);
    };
  });

  afterAll(async () => {
    await h.close();
    await receiver.stop();
  });

  const onNode = (url: string, node: Node): string => nodeRouter(h.issuer, origins)(url, node);

  /** Request paths each node's HTTP server received (apps in one process share a log stream, so not from the logs). */
  const received = new Map<RunningApp, string[]>();
  const served = (app: RunningApp, path: string) => received.get(app)!.filter((url) => url.split('?')[0] === path).length;
  function recordRequests(app: RunningApp): void {
    const paths: string[] = [];
    received.set(app, paths);
    (app.app.getHttpServer() as Server).on('request', (req: IncomingMessage) => paths.push(req.url ?? ''));
  }

  it('an authorization started on one node (request, sign-in, OTP) completes on the other (code, refresh, userinfo)', async () => {
    const who = await person();
    const web = new WebClient(origins.A);
    const request = await authorizationRequest(rp);

    // Node A: the authorization request. Node B: the interaction. Node A: the sign-in page.
    const authorization = await web.get(onNode(request.url.href, 'A'), false);
    const interaction = await web.get(onNode(nextLocation(authorization), 'B'), false);
    expect(nextLocation(interaction)).toMatch(/^\/signin\?return_to=/u);
    expectPage(await web.get(onNode(nextLocation(interaction), 'A'), false), 200, 'Password');

    // Node B takes the password (and sends the code); node A verifies the emailed code.
    const seen = codeMails(h.mail, who.email).length;
    expectPage(
      await web.post(onNode('/signin', 'B'), { user_id: who.userId, password: who.password }, false),
      200,
      'We sent a 6-digit code by email',
    );
    const otp = await web.post(onNode('/signin/otp', 'A'), { action: 'verify', code: await nextEmailCode(h.mail, who.email, seen) }, false);

    // Node A answers the interaction; node B resumes the authorization and sends the browser to the app.
    const answered = await web.get(onNode(nextLocation(otp), 'A'), false);
    const resumed = await web.get(onNode(nextLocation(answered), 'B'), false);
    const callback = new URL(nextLocation(resumed));
    expect(callback.origin + callback.pathname).toBe(rp.redirectUri);

    // The code was issued by node B; node A redeems it. Refresh on node B, userinfo on node A.
    rpNode = 'A';
    const tokens = await client.authorizationCodeGrant(rp.config, callback, request.checks);
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ sub: who.id, acr: LOA2 });
    rpNode = 'B';
    const refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).toBe(who.id);
    rpNode = 'A';
    expect(await client.fetchUserInfo(rp.config, refreshed.access_token, who.id)).toMatchObject({ sub: who.id, enterprise_id: who.userId });
    // Either node's JWKS verifies what the other signed.
    for (const node of ['A', 'B'] as const) {
      const jwks = createRemoteJWKSet(new URL(onNode(`${h.issuer}/oidc/jwks`, node)));
      await jwtVerify(tokens.id_token!, jwks, { issuer: h.issuer, audience: rp.clientId });
      await jwtVerify(refreshed.id_token!, jwks, { issuer: h.issuer, audience: rp.clientId });
    }

    // Reuse of the rotated refresh token, on node A, revokes the family that node B issued.
    await expect(client.refreshTokenGrant(rp.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    rpNode = 'B';
    await expect(client.refreshTokenGrant(rp.config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    // Each node really served its steps.
    const resume = new URL(nextLocation(answered)).pathname;
    expect(served(h.app, '/oidc/auth')).toBe(1);
    expect(served(b, '/oidc/auth')).toBe(0);
    expect([served(h.app, resume), served(b, resume)]).toEqual([0, 1]);
    expect([served(h.app, '/signin'), served(b, '/signin')]).toEqual([1, 1]);
    expect([served(h.app, '/signin/otp'), served(b, '/signin/otp')]).toEqual([1, 0]);
    expect(rpServed.filter(([, path]) => path === '/oidc/token').map(([node]) => node)).toEqual(['A', 'B', 'A', 'B']);
    expect(served(h.app, '/oidc/token')).toBe(2);
    expect(served(b, '/oidc/token')).toBe(2);
    expect(served(h.app, '/oidc/me')).toBe(1);
  });

  it('single sign-on and sign-out span the nodes: one logout token, whichever node drains the queue', async () => {
    const who = await person();
    const web = new WebClient(origins.A);
    // Sign in at node B directly; a silent request on node A is answered from that session.
    const seen = codeMails(h.mail, who.email).length;
    await web.get(onNode('/signin', 'B'));
    expectPage(
      await web.post(onNode('/signin', 'B'), { user_id: who.userId, password: who.password }, false),
      200,
      'We sent a 6-digit code by email',
    );
    await web.post(onNode('/signin/otp', 'B'), { action: 'verify', code: await nextEmailCode(h.mail, who.email, seen) }, false);
    const request = await authorizationRequest(rp, { prompt: 'none' });
    const mirrored = await web.get(onNode(request.url.href, 'A'), false);
    const answered = await web.get(onNode(nextLocation(mirrored), 'B'), false);
    rpNode = 'B';
    const tokens = await client.authorizationCodeGrant(rp.config, new URL(nextLocation(answered)), request.checks);
    expect(tokens.claims()!.sub).toBe(who.id);

    // Sign out on node A: both nodes poll the queue; exactly one sends the token.
    expectPage(await web.get(onNode('/account', 'A')), 200, 'Sign out');
    await web.post(onNode('/signout', 'A'), {}, false);
    const delivered = await receiver.waitFor(() => true, 8000);
    const token = new URLSearchParams(delivered.raw).get('logout_token')!;
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(onNode(`${h.issuer}/oidc/jwks`, 'B'))), {
      issuer: h.issuer,
      audience: rp.clientId,
    });
    expect(payload).toMatchObject({ sub: who.id, sid: tokens.claims()!.sid });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests).toHaveLength(1);
  });

  it('a key rotation reaches both nodes without a restart', async () => {
    const store = new SigningKeyStore(h.db.dataSource, h.clock, testSecrets().signingKeys);
    const rotation = await store.rotate(Duration.ofSeconds(60), SIGNING_KEY_RETENTION);
    h.clock.advance(Duration.ofSeconds(61));
    for (const node of ['A', 'B'] as const) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const keys = ((await (await fetch(onNode(`${h.issuer}/oidc/jwks`, node))).json()) as { keys: Array<{ kid: string }> }).keys;
        if (keys[0]?.kid === rotation.kid) break;
        if (Date.now() > deadline) throw new Error(`node ${node} never signed with the new key`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    // New ID tokens carry the new kid, from either node.
    const who = await person();
    const web = new WebClient(origins.A);
    const seen = codeMails(h.mail, who.email).length;
    const request = await authorizationRequest(rp);
    const interaction = await web.get(onNode(nextLocation(await web.get(onNode(request.url.href, 'A'), false)), 'A'), false);
    expectPage(await web.get(onNode(nextLocation(interaction), 'A'), false), 200, 'Password');
    expectPage(
      await web.post(onNode('/signin', 'A'), { user_id: who.userId, password: who.password }, false),
      200,
      'We sent a 6-digit code by email',
    );
    const otp = await web.post(onNode('/signin/otp', 'A'), { action: 'verify', code: await nextEmailCode(h.mail, who.email, seen) }, false);
    const resumed = await web.get(onNode(nextLocation(await web.get(onNode(nextLocation(otp), 'A'), false)), 'A'), false);
    rpNode = 'A';
    const tokens = await client.authorizationCodeGrant(rp.config, new URL(nextLocation(resumed)), request.checks);
    expect(decodeProtectedHeader(tokens.id_token!).kid).toBe(rotation.kid);
    rpNode = 'B';
    const refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token!);
    expect(decodeProtectedHeader(refreshed.id_token!).kid).toBe(rotation.kid);
  });
});
