import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errors } from 'oidc-provider';
import { AuditService } from '#libs/audit';
import { Duration, FixedClock } from '#libs/core';
import { testSecrets } from '#libs/config';
import { ClientAdapter, OidcPurger, PgOidcAdapter, purgeExpired } from '#libs/oidc';
import { ClientRegistry, SigningKeyStore } from '#libs/oidc-store';
import { runCliAgainst } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/** The provider's storage against real PostgreSQL, the signing keys at rest, and `client:create`. */
describe('OpenID Connect storage, keys and client registration', () => {
  let db: TestDatabase;
  let clock: FixedClock;
  let dataDir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new FixedClock('2026-06-01T09:00:00Z');
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gh-oidc-'));
  });

  afterAll(async () => {
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const ds = () => db.dataSource;

  describe('PostgreSQL adapter', () => {
    it('stores a model with its expiry and stops returning it once expired; the purge deletes it', async () => {
      const codes = new PgOidcAdapter('AuthorizationCode', ds(), clock);
      await codes.upsert('code-1', { jti: 'code-1', grantId: 'g-1', kind: 'AuthorizationCode' }, 60);
      expect(await codes.find('code-1')).toMatchObject({ jti: 'code-1', grantId: 'g-1' });
      // Another kind with the same id is another model.
      expect(await new PgOidcAdapter('AccessToken', ds(), clock).find('code-1')).toBeUndefined();
      clock.advance(Duration.ofSeconds(61));
      expect(await codes.find('code-1')).toBeUndefined();
      const [row] = await ds().query(`SELECT grant_id, expires_at FROM oidc_models WHERE kind = 'AuthorizationCode' AND id = 'code-1'`);
      expect(row.grant_id).toBe('g-1');
      expect(await purgeExpired(ds(), clock.now())).toBeGreaterThanOrEqual(1);
      expect(await ds().query(`SELECT 1 FROM oidc_models WHERE id = 'code-1'`)).toEqual([]);
    });

    it('finds sessions by uid, upserts in place, destroys', async () => {
      const sessions = new PgOidcAdapter('Session', ds(), clock);
      await sessions.upsert('s-1', { jti: 's-1', uid: 'uid-1', accountId: 'a' }, 3600);
      await sessions.upsert('s-1', { jti: 's-1', uid: 'uid-1', accountId: 'b' }, 3600);
      expect(await sessions.findByUid('uid-1')).toMatchObject({ accountId: 'b' });
      await sessions.destroy('s-1');
      expect(await sessions.findByUid('uid-1')).toBeUndefined();
    });

    it('never brings back a signed-in session that a logout claimed while a request held it', async () => {
      let link: string | null = null;
      const sessions = new PgOidcAdapter('Session', ds(), clock, () => Promise.resolve(link));
      const gatehouseSession = '00000000-0000-4000-8000-000000000001';
      // Signing in: the provider session mirrors the browser's Gatehouse session of the same person.
      link = gatehouseSession;
      await sessions.upsert('s-live', { jti: 's-live', uid: 'uid-live', accountId: 'a' }, 3600);
      const [row] = await ds().query(`SELECT gatehouse_session_id FROM oidc_models WHERE kind = 'Session' AND id = 's-live'`);
      expect(row.gatehouse_session_id).toBe(gatehouseSession);
      // Another person signs in on the browser: the session is still updated in place, its link kept.
      link = null;
      await sessions.upsert('s-live', { jti: 's-live', uid: 'uid-live', accountId: 'a', exp: 1 }, 3600);
      expect(await sessions.find('s-live')).toMatchObject({ accountId: 'a', exp: 1 });
      const [kept] = await ds().query(`SELECT gatehouse_session_id FROM oidc_models WHERE kind = 'Session' AND id = 's-live'`);
      expect(kept.gatehouse_session_id).toBe(gatehouseSession);
      // The back-channel logout claims (deletes) it; the request that had loaded it saves it at its end.
      await ds().query(`DELETE FROM oidc_models WHERE kind = 'Session' AND id = 's-live'`);
      await sessions.upsert('s-live', { jti: 's-live', uid: 'uid-live', accountId: 'a' }, 3600);
      expect(await sessions.find('s-live')).toBeUndefined();
      expect(await sessions.findByUid('uid-live')).toBeUndefined();
      // A session nobody has signed in to yet is stored as always.
      await sessions.upsert('s-anonymous', { jti: 's-anonymous', uid: 'uid-anonymous' }, 3600);
      expect(await sessions.find('s-anonymous')).toMatchObject({ uid: 'uid-anonymous' });
    });

    it('consumes once: a second consume (a replay or a lost race) revokes the whole grant and fails', async () => {
      const refresh = new PgOidcAdapter('RefreshToken', ds(), clock);
      const access = new PgOidcAdapter('AccessToken', ds(), clock);
      const grants = new PgOidcAdapter('Grant', ds(), clock);
      await grants.upsert('g-2', { jti: 'g-2', accountId: 'a' }, 3600);
      await refresh.upsert('rt-1', { jti: 'rt-1', grantId: 'g-2' }, 3600);
      await access.upsert('at-1', { jti: 'at-1', grantId: 'g-2' }, 600);
      await refresh.consume('rt-1');
      expect((await refresh.find('rt-1'))?.consumed).toBe(Math.floor(clock.now().getTime() / 1000));
      await expect(refresh.consume('rt-1')).rejects.toBeInstanceOf(errors.InvalidGrant);
      expect(await access.find('at-1')).toBeUndefined();
      expect(await grants.find('g-2')).toBeUndefined();
      expect(await refresh.find('rt-1')).toBeUndefined();
    });

    it('revokes by grant only the models of its own kind', async () => {
      const refresh = new PgOidcAdapter('RefreshToken', ds(), clock);
      const access = new PgOidcAdapter('AccessToken', ds(), clock);
      await refresh.upsert('rt-3', { jti: 'rt-3', grantId: 'g-3' }, 3600);
      await access.upsert('at-3', { jti: 'at-3', grantId: 'g-3' }, 600);
      await access.revokeByGrantId('g-3');
      expect(await access.find('at-3')).toBeUndefined();
      expect(await refresh.find('rt-3')).toMatchObject({ jti: 'rt-3' });
    });

    it('reads clients from oidc_clients and never writes them', async () => {
      const registry = new ClientRegistry(ds(), clock, new AuditService(ds(), clock));
      const { clientId, clientSecret } = await registry.create(
        { name: 'Reader', redirectUris: ['https://reader.example/cb'] },
        { type: 'operator', id: 't' },
      );
      const adapter = new ClientAdapter(registry);
      const metadata = await adapter.find(clientId);
      expect(metadata).toMatchObject({
        client_id: clientId,
        client_name: 'Reader',
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: ['https://reader.example/cb'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        client_secret: `sha256:${createHash('sha256').update(clientSecret!).digest('hex')}`,
      });
      expect(await adapter.find('nope')).toBeUndefined();
      await expect(adapter.upsert()).rejects.toThrow(/client:create/u);
    });

    it('keeps a copy of a registration for a short time only, and never keeps an unknown client', async () => {
      const registry = new ClientRegistry(ds(), clock, new AuditService(ds(), clock), 300);
      const { clientId } = await registry.create(
        { name: 'Cached', redirectUris: ['https://cached.example/cb'] },
        { type: 'operator', id: 't' },
      );
      expect(await registry.metadata(clientId)).toMatchObject({ client_name: 'Cached' });
      await ds().query(`UPDATE oidc_clients SET name = 'Renamed' WHERE client_id = $1`, [clientId]);
      // Within the cache time the node answers from its copy (the provider reads clients on every request)...
      expect(await registry.metadata(clientId)).toMatchObject({ client_name: 'Cached' });
      // ...and reads the table again after it.
      await new Promise((resolve) => setTimeout(resolve, 350));
      expect(await registry.metadata(clientId)).toMatchObject({ client_name: 'Renamed' });

      // A client the table does not hold is asked for again each time: it works as soon as it is registered.
      expect(await registry.metadata('not-yet')).toBeUndefined();
      await ds().query(
        `INSERT INTO oidc_clients (client_id, name, client_secret_hash, public, redirect_uris, post_logout_redirect_uris, grant_types, scopes, created_at)
         SELECT 'not-yet', 'Later', client_secret_hash, public, redirect_uris, post_logout_redirect_uris, grant_types, scopes, created_at
           FROM oidc_clients WHERE client_id = $1`,
        [clientId],
      );
      expect(await registry.metadata('not-yet')).toMatchObject({ client_name: 'Later' });

      // With no cache time, every read goes to the table.
      const uncached = new ClientRegistry(ds(), clock, new AuditService(ds(), clock), 0);
      await uncached.metadata(clientId);
      await ds().query(`UPDATE oidc_clients SET name = 'Again' WHERE client_id = $1`, [clientId]);
      expect(await uncached.metadata(clientId)).toMatchObject({ client_name: 'Again' });
    });

    it('the purger runs on its interval and stops cleanly', async () => {
      const adapter = new PgOidcAdapter('Interaction', ds(), clock);
      await adapter.upsert('i-1', { jti: 'i-1' }, 1);
      clock.advance(Duration.ofSeconds(2));
      const errorsSeen: string[] = [];
      const purger = new OidcPurger(ds(), clock, (m) => errorsSeen.push(m), Duration.ofMilliseconds(20));
      purger.start();
      const deadline = Date.now() + 5000;
      while ((await ds().query(`SELECT 1 FROM oidc_models WHERE kind = 'Interaction' AND id = 'i-1'`)).length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await purger.stop();
      expect(await ds().query(`SELECT 1 FROM oidc_models WHERE kind = 'Interaction' AND id = 'i-1'`)).toEqual([]);
      expect(errorsSeen).toEqual([]);
    });
  });

  describe('signing keys', () => {
    it('generates one key on first start, stores it encrypted, and loads the same key after', async () => {
      const key = testSecrets().signingKeys;
      const stores = [0, 1, 2].map(() => new SigningKeyStore(ds(), clock, key));
      // Several nodes starting at once create one key.
      const loaded = await Promise.all(stores.map((s) => s.load(Duration.ofDays(1))));
      const kids = new Set(loaded.map((keys) => keys[0]!.kid));
      expect(kids.size).toBe(1);
      const rows = await ds().query(`SELECT kid, alg, encrypted_jwk, retired_at FROM oidc_signing_keys`);
      expect(rows).toHaveLength(1);
      expect(rows[0].alg).toBe('RS256');
      const jwk = loaded[0]![0]!.jwk;
      expect(jwk.d).toBeDefined();
      // No private (or public) key material in the clear.
      const sealed = (rows[0].encrypted_jwk as Buffer).toString('latin1');
      expect(sealed).not.toContain(jwk.d);
      expect(sealed).not.toContain(jwk.n);
      expect((await stores[0]!.load(Duration.ofDays(1)))[0]!.kid).toBe(rows[0].kid);
      // Another key encryption key cannot read it.
      await expect(new SigningKeyStore(ds(), clock, testSecrets('other').signingKeys).load(Duration.ofDays(1))).rejects.toThrow();
    });

    it('publishes a retired key after the current one, for as long as tokens it signed may be presented', async () => {
      const store = new SigningKeyStore(ds(), clock, testSecrets().signingKeys);
      const [old] = await store.load(Duration.ofDays(1));
      await ds().query(`UPDATE oidc_signing_keys SET retired_at = $1 WHERE kid = $2`, [clock.now(), old!.kid]);
      clock.advance(Duration.ofSeconds(1));
      const keys = await store.load(Duration.ofDays(1));
      expect(keys.map((k) => k.kid)).toEqual([expect.not.stringMatching(old!.kid), old!.kid]);
      clock.advance(Duration.ofDays(2));
      expect((await store.load(Duration.ofDays(1))).map((k) => k.kid)).toEqual([keys[0]!.kid]);
    });
  });

  describe('client:create', () => {
    const cli = (...argv: string[]) => runCliAgainst(db.url, dataDir, ...argv);

    it('registers a confidential client and prints its id and secret once; only the hash is stored', async () => {
      const run = await cli(
        'client:create',
        '--name',
        'Reconciliation portal',
        '--redirect-uri',
        'https://portal.example.com/callback',
        '--redirect-uri',
        'http://localhost:3002/callback',
        '--post-logout-redirect-uri',
        'https://portal.example.com/',
      );
      expect(run).toMatchObject({ code: 0, err: [] });
      expect(run.out).toHaveLength(1);
      const printed = JSON.parse(run.out[0]!) as Record<string, string>;
      expect(Object.keys(printed).sort()).toEqual(['client_id', 'client_secret']);
      expect(printed.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/u);
      const [row] = await ds().query(`SELECT * FROM oidc_clients WHERE client_id = $1`, [printed.client_id]);
      expect(row).toMatchObject({
        name: 'Reconciliation portal',
        public: false,
        client_secret_hash: `sha256:${createHash('sha256').update(printed.client_secret!).digest('hex')}`,
        redirect_uris: ['https://portal.example.com/callback', 'http://localhost:3002/callback'],
        post_logout_redirect_uris: ['https://portal.example.com/'],
        grant_types: ['authorization_code', 'refresh_token'],
      });
      expect(JSON.stringify(row)).not.toContain(printed.client_secret);
      const audit = await ds().query(
        `SELECT actor_type, details FROM audit_events WHERE event_type = 'client.created' AND subject_id = $1`,
        [printed.client_id],
      );
      expect(audit).toEqual([
        { actor_type: 'operator', details: expect.objectContaining({ name: 'Reconciliation portal', public: false }) },
      ]);
      expect(JSON.stringify(audit)).not.toContain(printed.client_secret);
    });

    it('prints no secret for a public client, and registers services for client_credentials', async () => {
      const pub = await cli(
        'client:create',
        '--name',
        'Mobile app',
        '--public',
        '--redirect-uri',
        'https://m.example.com/cb',
        '--scope',
        'openid',
        '--scope',
        'profile',
      );
      expect(pub.code).toBe(0);
      const printed = JSON.parse(pub.out[0]!) as Record<string, string>;
      expect(Object.keys(printed)).toEqual(['client_id']);
      const [row] = await ds().query(`SELECT public, client_secret_hash, scopes FROM oidc_clients WHERE client_id = $1`, [
        printed.client_id,
      ]);
      expect(row).toEqual({ public: true, client_secret_hash: null, scopes: ['openid', 'profile'] });

      const service = await cli('client:create', '--name', 'Payments service', '--grant', 'client_credentials');
      expect(service.code).toBe(0);
      expect(Object.keys(JSON.parse(service.out[0]!) as object).sort()).toEqual(['client_id', 'client_secret']);
    });

    it('registers a back-channel logout URI, for which the provider requires sid in logout tokens', async () => {
      const run = await cli(
        'client:create',
        '--name',
        'Portal with logout',
        '--redirect-uri',
        'https://portal.example.com/callback',
        '--backchannel-logout-uri',
        'https://portal.example.com/backchannel-logout',
      );
      expect(run.code).toBe(0);
      const { client_id: clientId } = JSON.parse(run.out[0]!) as { client_id: string };
      const [row] = await ds().query(`SELECT backchannel_logout_uri FROM oidc_clients WHERE client_id = $1`, [clientId]);
      expect(row.backchannel_logout_uri).toBe('https://portal.example.com/backchannel-logout');
      const registry = new ClientRegistry(ds(), clock, new AuditService(ds(), clock));
      expect(await registry.metadata(clientId)).toMatchObject({
        backchannel_logout_uri: 'https://portal.example.com/backchannel-logout',
        backchannel_logout_session_required: true,
      });
      const [audit] = await ds().query(`SELECT details FROM audit_events WHERE event_type = 'client.created' AND subject_id = $1`, [
        clientId,
      ]);
      expect(audit.details.backchannel_logout_uri).toBe('https://portal.example.com/backchannel-logout');
      // Without one, nothing is sent and ID tokens carry no sid.
      const plain = JSON.parse((await cli('client:create', '--name', 'Plain', '--redirect-uri', 'https://p.example.com/cb')).out[0]!) as {
        client_id: string;
      };
      expect(await registry.metadata(plain.client_id)).not.toHaveProperty('backchannel_logout_uri');
    });

    it('refuses unsafe or inconsistent registrations with exit code 1 and one line; bad usage is 2', async () => {
      const cases: Array<[string[], RegExp]> = [
        [['--redirect-uri', 'http://portal.example.com/cb'], /must use https/u],
        [['--redirect-uri', 'https://portal.example.com/cb#frag'], /fragment/u],
        [['--redirect-uri', 'not a url'], /absolute URL/u],
        [['--redirect-uri', 'https://p.example.com/cb', '--grant', 'password'], /unknown grant "password"/u],
        [['--public', '--grant', 'client_credentials'], /public client cannot use client_credentials/u],
        [[], /needs at least one --redirect-uri/u],
        [['--redirect-uri', 'https://p.example.com/cb', '--scope', 'admin'], /unknown scope "admin"/u],
        [
          ['--redirect-uri', 'https://p.example.com/cb', '--backchannel-logout-uri', 'http://p.example.com/logout'],
          /back-channel logout URI .* must use https/u,
        ],
        [['--redirect-uri', 'https://p.example.com/cb', '--backchannel-logout-uri', 'https://p.example.com/l#x'], /fragment/u],
        [
          ['--grant', 'client_credentials', '--backchannel-logout-uri', 'https://p.example.com/logout'],
          /only for clients with the authorization_code grant/u,
        ],
      ];
      for (const [args, message] of cases) {
        const run = await cli('client:create', '--name', 'Bad', ...args);
        expect(run.code).toBe(1);
        expect(run.out).toEqual([]);
        expect(run.err).toHaveLength(1);
        expect(run.err[0]).toMatch(message);
      }
      expect((await cli('client:create', '--redirect-uri', 'https://p.example.com/cb')).code).toBe(2);
      expect(await ds().query(`SELECT 1 FROM oidc_clients WHERE name = 'Bad'`)).toEqual([]);
    });
  });
});
