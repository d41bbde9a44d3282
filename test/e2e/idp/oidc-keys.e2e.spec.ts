import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { testSecrets } from '#libs/config';
import { Duration } from '#libs/core';
import { TTL } from '#libs/oidc';
import { SIGNING_KEY_RETENTION, SigningKeyStore } from '#libs/oidc-store';
import { runCliAgainst } from '../../support/cli.js';
import { expectPage } from '../../support/journeys.js';
import {
  POST_LOGOUT_URI,
  authorize,
  people,
  registerApp,
  startOidcHarness,
  type OidcHarness,
  type RelyingApp,
} from '../../support/oidc.js';
import { WebClient, seedOrganization } from '../../support/web.js';

/** The operator's key encryption key, shared by the apps (testSecrets) and the CLI (DATA_DIR/secrets.json). */
const KEY_SEED = 'keys-e2e-0123456789abcdefghijklmnopqrstuv';

interface Jwk {
  kid: string;
  key_ops?: string[];
  d?: string;
  n?: string;
}

/**
 * Signing-key rotation with `keys:rotate`: the running IdP picks the new key up without a
 * restart, publishes it at once, signs with it from its activation, and keeps the previous
 * key in JWKS until the tokens it signed have expired (Gatehouse's clock, faked here).
 */
describe('OpenID Connect: signing-key rotation', () => {
  let h: OidcHarness;
  let rp: RelyingApp;
  let org: string;
  let person: ReturnType<typeof people>;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gh-keys-'));
    // The CLI reads the operator's secrets from DATA_DIR (development), the apps get the same ones.
    await writeFile(path.join(dataDir, 'secrets.json'), JSON.stringify({ otp: KEY_SEED, cookie: KEY_SEED, keyEncryption: KEY_SEED }));
    h = await startOidcHarness({ secrets: testSecrets(KEY_SEED), oidcTimers: { keyRefresh: Duration.ofMilliseconds(100) } });
    org = await seedOrganization(h.db.dataSource, 'acme');
    person = people(h, org, 'keys');
    rp = await registerApp(h);
  });

  afterAll(async () => {
    await h.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const cli = (...argv: string[]) => runCliAgainst(h.db.url, dataDir, ...argv);

  async function jwks(): Promise<Jwk[]> {
    const response = await fetch(`${h.issuer}/oidc/jwks`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { keys: Jwk[] }).keys;
  }

  /** Waits (the IdP refreshes its key set every 100 ms here) until the published keys satisfy `ok`. */
  async function jwksUntil(ok: (keys: Jwk[]) => boolean, what: string): Promise<Jwk[]> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const keys = await jwks();
      if (ok(keys)) return keys;
      if (Date.now() > deadline) throw new Error(`JWKS never ${what}: ${JSON.stringify(keys.map((k) => [k.kid, k.key_ops]))}`);
      await sleep(50);
    }
  }

  async function verifies(idToken: string): Promise<boolean> {
    try {
      await jwtVerify(idToken, createRemoteJWKSet(new URL(`${h.issuer}/oidc/jwks`)), { issuer: h.issuer, audience: rp.clientId });
      return true;
    } catch {
      return false;
    }
  }

  const kidOf = (jwt: string) => decodeProtectedHeader(jwt).kid;

  it('keeps retired keys published exactly as long as the provider accepts tokens they signed', () => {
    expect(SIGNING_KEY_RETENTION.milliseconds).toBe((TTL.IdToken + TTL.RefreshToken) * 1000);
  });

  it('--activate-in 0 signs at once; a second rotation withdraws a key that has not started signing; bad usage exits 2', async () => {
    const store = new SigningKeyStore(h.db.dataSource, h.clock, testSecrets(KEY_SEED).signingKeys);
    const current = (await store.state(SIGNING_KEY_RETENTION)).find((k) => k.status === 'current')!.kid;

    const first = await cli('keys:rotate', '--activate-in', '3600');
    expect(first.code).toBe(0);
    const pendingKid = /^new signing key (\S+):/u.exec(first.out.at(-2)!)![1]!;
    expect(await store.state(SIGNING_KEY_RETENTION)).toEqual(
      expect.arrayContaining([
        { kid: current, status: 'current' },
        { kid: pendingKid, status: 'pending' },
      ]),
    );

    const second = await cli('keys:rotate', '--activate-in', '0');
    expect(second.code).toBe(0);
    // The CLI stamps real time; the IdP runs on a fake clock started when this file did: let it catch up.
    h.clock.advance(Duration.ofMinutes(1));
    expect(second.out[0]).toBe(`withdrew ${pendingKid} (rotated in earlier, never signed)`);
    const immediate = /^new signing key (\S+):/u.exec(second.out.at(-2)!)![1]!;
    const state = await store.state(SIGNING_KEY_RETENTION);
    expect(state[0]).toEqual({ kid: immediate, status: 'current' });
    expect(state.map((k) => k.kid)).not.toContain(pendingKid);
    expect(state).toContainEqual({ kid: current, status: 'retired' });
    await jwksUntil((keys) => keys[0]?.kid === immediate, 'started signing with the immediate key');
    const tokens = (await authorize(h, new WebClient(h.app.url), rp, await person())).tokens;
    expect(kidOf(tokens.id_token!)).toBe(immediate);

    for (const bad of [['--activate-in', 'soon'], ['--activate-in', '90000'], ['--unknown']]) {
      const run = await cli('keys:rotate', ...bad);
      expect(run.code).toBe(2);
      expect(run.out).toEqual([]);
    }
  });

  it('publishes a rotated key at once, signs with it from its activation, and drops the old key once its tokens have expired', async () => {
    const who = await person();
    const web = new WebClient(h.app.url);
    const before = await authorize(h, web, rp, who);
    const oldKid = kidOf(before.tokens.id_token!)!;
    // The current key first (a key retired in the previous test follows).
    expect((await jwks())[0]!.kid).toBe(oldKid);

    const run = await cli('keys:rotate');
    expect(run.code).toBe(0);
    const newKid = /^new signing key (\S+): published now, signs from (\S+)$/u.exec(run.out.at(-2) ?? '')?.[1];
    expect(newKid).toBeDefined();
    expect(run.out.at(-1)).toMatch(new RegExp(`^previous key ${oldKid}: verification only from then, published until \\S+$`, 'u'));
    // Never the private key, on screen or in the clear at rest.
    const [row] = await h.db.dataSource.query(`SELECT encrypted_jwk FROM oidc_signing_keys WHERE kid = $1`, [newKid]);
    const stored = (row.encrypted_jwk as Buffer).toString('latin1');

    // The running node publishes it without a restart, for verification only until it activates.
    const published = await jwksUntil((keys) => keys.some((k) => k.kid === newKid), 'published the new key');
    expect(published.map((k) => k.kid).slice(0, 2)).toEqual([oldKid, newKid]);
    expect(published.find((k) => k.kid === newKid)!.key_ops).toEqual(['verify']);
    expect(published.every((k) => k.d === undefined)).toBe(true);
    const pending = await authorize(h, web, rp, null);
    expect(kidOf(pending.tokens.id_token!)).toBe(oldKid);

    // Past its activation (the CLI gave it a minute; Gatehouse's clock decides): the new key signs.
    h.clock.advance(Duration.ofMinutes(5));
    const rotated = await jwksUntil((keys) => keys[0]?.kid === newKid, 'started signing with the new key');
    expect(rotated.map((k) => [k.kid, k.key_ops]).slice(0, 2)).toEqual([
      [newKid, undefined],
      [oldKid, ['verify']],
    ]);
    const after = await authorize(h, web, rp, null);
    expect(kidOf(after.tokens.id_token!)).toBe(newKid);
    // A refresh issues a new ID token with the new key too.
    const refreshed = await client.refreshTokenGrant(rp.config, before.tokens.refresh_token!);
    expect(kidOf(refreshed.id_token!)).toBe(newKid);
    expect(stored).not.toContain(rotated[0]!.n);

    // Tokens the old key signed still verify, and still work as id_token_hint.
    expect(await verifies(before.tokens.id_token!)).toBe(true);
    expect(await verifies(after.tokens.id_token!)).toBe(true);
    const logout = client.buildEndSessionUrl(rp.config, {
      id_token_hint: before.tokens.id_token!,
      post_logout_redirect_uri: POST_LOGOUT_URI,
    });
    expectPage(await web.get(logout.href, false), 200, 'Sign out of Gatehouse?');

    // Once every token the old key signed has expired, it is gone from JWKS.
    h.clock.advance(Duration.ofSeconds(TTL.IdToken + TTL.RefreshToken + 60));
    const final = await jwksUntil((keys) => !keys.some((k) => k.kid === oldKid), 'dropped the old key');
    expect(final.map((k) => k.kid)).toEqual([newKid]);
    expect(await verifies(before.tokens.id_token!)).toBe(false);
    expect(await verifies(after.tokens.id_token!)).toBe(true);

    const audit = await h.db.dataSource.query(
      `SELECT actor_type, details FROM audit_events WHERE event_type = 'oidc.signing_key_rotated' AND subject_id = $1`,
      [newKid],
    );
    expect(audit).toEqual([
      { actor_type: 'operator', details: expect.objectContaining({ kid: newKid, previous_kid: oldKid, withdrawn: [] }) },
    ]);
  });
});
