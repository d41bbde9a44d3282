import net from 'node:net';
import { testSecrets } from '#libs/config';
import { seedStaff, signInStaff } from '../../support/admin.js';
import { startApp, testConfig, type RunningApp } from '../../support/apps.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { signInByEmail } from '../../support/journeys.js';
import { TestMailServer } from '../../support/mail.js';
import { WebClient, seedOrganization, seedUser, text } from '../../support/web.js';

/**
 * A TCP proxy in front of PostgreSQL that the test can cut: `down()` closes every connection
 * through it (the server sees them end) and refuses new ones, `up()` lets them through again.
 */
class CuttableProxy {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async up(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

/**
 * While PostgreSQL cannot be reached (connections cut, new ones refused), every app answers
 * 503 with Retry-After instead of 500: the IdP's pages and JSON API, the OpenID provider's
 * endpoints, and the support console's pages and API. Once it can be reached again, 200.
 */
describe('database outage', () => {
  let db: TestDatabase;
  let mail: TestMailServer;
  let proxy: CuttableProxy;
  let idp: RunningApp;
  let admin: RunningApp;
  let person: WebClient;
  let staff: WebClient;
  let sessionToken: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    mail = await TestMailServer.start();
    const pgUrl = new URL(db.url);
    proxy = new CuttableProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
    await proxy.up();
    const viaProxy = new URL(db.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const config = testConfig({ SMTP_URL: mail.url });
    const secrets = testSecrets('outage-test-secret-0123456789-abcdefgh');
    idp = await startApp('idp', viaProxy.toString(), { config, secrets });
    admin = await startApp('admin', viaProxy.toString(), { config, secrets });

    const org = await seedOrganization(db.dataSource, 'acme');
    await seedUser(db.dataSource, org, { enterpriseId: 'ada', password: 'difference engine 1822', email: 'ada@example.com' });
    person = new WebClient(idp.url);
    await signInByEmail({ mail }, person, { userId: 'ada', password: 'difference engine 1822', email: 'ada@example.com' });
    sessionToken = person.cookie('session')!;
    const who = await seedStaff(db.dataSource, { email: 'grace@example.com', role: 'support' });
    staff = new WebClient(admin.url);
    expect((await signInStaff({ mail }, staff, who)).status).toBe(200);
  });

  afterAll(async () => {
    await proxy.up();
    await idp.close();
    await admin.close();
    await proxy.down();
    await mail.stop();
    await db.drop();
  });

  /** Each request of the checks below: what it is, and how it is sent. */
  const checks = (): Array<{ name: string; kind: 'page' | 'api' | 'oauth'; send: () => Promise<Response> }> => {
    const cookie = (web: WebClient) => [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    return [
      { name: 'IdP page', kind: 'page', send: () => fetch(new URL('/account', idp.url), { headers: { Cookie: cookie(person) } }) },
      {
        name: 'IdP sign-in form',
        kind: 'page',
        send: async () => {
          const web = new WebClient(idp.url);
          await web.get('/signin');
          return await fetch(new URL('/signin', idp.url), {
            method: 'POST',
            redirect: 'manual',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: idp.url, Cookie: cookie(web) },
            body: new URLSearchParams({ csrf: web.csrf(), user_id: 'nobody', password: 'nothing at all' }),
          });
        },
      },
      {
        name: 'IdP API',
        kind: 'api',
        send: () => fetch(new URL('/api/v1/account/devices', idp.url), { headers: { Authorization: `Session ${sessionToken}` } }),
      },
      {
        name: 'OIDC token (direct lane)',
        kind: 'oauth',
        send: () =>
          fetch(new URL('/oidc/token', idp.url), {
            method: 'POST',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'authorization_code',
              code: 'x'.repeat(43),
              client_id: 'some-app',
              redirect_uri: 'https://rp.example.test/cb',
            }),
          }),
      },
      {
        name: 'OIDC userinfo (direct lane)',
        kind: 'oauth',
        send: () => fetch(new URL('/oidc/me', idp.url), { headers: { Authorization: `Bearer ${'y'.repeat(43)}` } }),
      },
      {
        name: 'OIDC authorization page',
        kind: 'page',
        send: () =>
          fetch(
            new URL(
              '/oidc/auth?client_id=some-app&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Frp.example.test%2Fcb',
              idp.url,
            ),
            {
              redirect: 'manual',
              headers: { Accept: 'text/html' },
            },
          ),
      },
      {
        name: 'console page',
        kind: 'page',
        send: () => fetch(new URL('/search', admin.url), { redirect: 'manual', headers: { Cookie: cookie(staff) } }),
      },
      {
        name: 'console API',
        kind: 'api',
        send: () => fetch(new URL('/api/v1/session', admin.url), { headers: { Cookie: cookie(staff) } }),
      },
    ];
  };

  it('answers 503 with Retry-After on pages and APIs while PostgreSQL is unreachable, and recovers once it is back', async () => {
    // Before: the usual answers.
    const before = await Promise.all(checks().map(async (c) => ({ name: c.name, status: (await c.send()).status })));
    for (const { name, status } of before)
      expect({ name, unavailable: status === 503 || status >= 500 }).toEqual({ name, unavailable: false });

    await proxy.down();
    expect((await fetch(new URL('/readyz', idp.url))).status).toBe(503);
    for (const check of checks()) {
      const res = await check.send();
      const body = await res.text();
      expect({ name: check.name, status: res.status, retryAfter: res.headers.get('retry-after') }).toEqual({
        name: check.name,
        status: 503,
        retryAfter: '5',
      });
      if (check.kind === 'page') {
        expect(res.headers.get('content-type')).toMatch(/^text\/html/u);
        expect(text(body)).toContain('briefly unavailable');
      } else if (check.kind === 'api') {
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/u);
        expect(JSON.parse(body)).toMatchObject({ status: 503, code: 'service_unavailable' });
      } else {
        expect(JSON.parse(body)).toMatchObject({ error: 'temporarily_unavailable' });
      }
    }

    await proxy.up();
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await fetch(new URL('/readyz', idp.url))).status !== 200) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const after = await Promise.all(checks().map(async (c) => ({ name: c.name, status: (await c.send()).status })));
    expect(after).toEqual(before);
    expect(after.find((a) => a.name === 'IdP page')!.status).toBe(200);
    expect(after.find((a) => a.name === 'IdP API')!.status).toBe(200);
    expect(after.find((a) => a.name === 'console page')!.status).toBe(200);
    expect(after.find((a) => a.name === 'console API')!.status).toBe(200);
  });
});
