import { consoleRoutes, type ConsoleRoute } from '../../../apps/admin/src/auth/index.js';
import type { RunningApp } from '../../support/apps.js';
import {
  apiCsrf,
  expectNoSecrets,
  seedStaff,
  setupMails,
  signInStaff,
  staffClient,
  startConsole,
  waitForSetupCode,
  type ConsoleHarness,
  type SeededStaff,
} from '../../support/admin.js';
import { seedOrganization, seedUser, text, type WebClient } from '../../support/web.js';

/**
 * Who may do what in the support console: every route declares `@Public()` or a role (a
 * checked rule, so a route the actions add cannot slip through), signed-out requests are
 * refused, CSRF is required on every state-changing route, support cannot manage staff,
 * nobody acts on their own account, and the console and the IdP never answer on each
 * other's port.
 */
describe('support console: authorization, CSRF and ports', () => {
  let h: ConsoleHarness;
  let idp: RunningApp;
  let supervisor: SeededStaff;
  let support: SeededStaff;
  let userId: string;
  let routes: ConsoleRoute[];

  beforeAll(async () => {
    h = await startConsole();
    idp = await h.startIdp();
    supervisor = await seedStaff(h.db.dataSource, { email: 'sam.super@example.com', name: 'Sam Super', role: 'supervisor' });
    support = await seedStaff(h.db.dataSource, { email: 'sue.port@example.com', name: 'Sue Port', role: 'support' });
    const org = await seedOrganization(h.db.dataSource, 'authz-org');
    userId = await seedUser(h.db.dataSource, org, {
      enterpriseId: 'grace.h',
      password: 'user pass phrase 1906',
      email: 'grace@example.com',
    });
    routes = consoleRoutes(h.admin.app);
  });

  afterAll(async () => {
    await h.close();
  });

  /** A concrete path for a route: every `:param` becomes an id that exists (a user, or a staff member on staff routes). */
  const concrete = (route: ConsoleRoute): string =>
    route.path.replace(/:[A-Za-z_]+/gu, (param) => (param === ':kind' ? 'user' : route.path.includes('staff') ? support.id : userId));
  const stateChanging = () => routes.filter((r) => !['GET', 'HEAD', 'OPTIONS'].includes(r.method) && !r.infrastructure);
  const auditCount = async (): Promise<number> => {
    const [{ n }] = await h.db.dataSource.query(`SELECT count(*)::int AS n FROM audit_events`);
    return n as number;
  };

  describe('the rule: every route says who may use it', () => {
    it('finds the routes of the running console, the JSON API included', () => {
      const names = routes.map((r) => `${r.method} ${r.path}`);
      for (const expected of [
        'GET /search',
        'GET /people/:kind/:id',
        'POST /staff',
        'POST /staff/:id/disable',
        'GET /api/v1/session',
        'GET /api/v1/search',
      ]) {
        expect(names).toContain(expected);
      }
    });

    it('has no route without @Public() or @Roles(...)', () => {
      const undeclared = routes.filter((r) => !r.public && r.role === null && !r.infrastructure);
      expect(undeclared.map((r) => `${r.controller}.${r.handler} ${r.method} ${r.path}`)).toEqual([]);
    });

    it('keeps the public routes to sign-in, setup and the stylesheet', () => {
      const open = routes.filter((r) => r.public).map((r) => `${r.method} ${r.path}`);
      expect(open.sort()).toEqual(
        [
          'GET /',
          'GET /assets/gatehouse.css',
          'GET /setup',
          'GET /signin',
          'GET /signin/otp',
          'POST /setup',
          'POST /signin',
          'POST /signin/otp',
        ].sort(),
      );
    });

    it('puts staff management behind the supervisor role', () => {
      const staffRoutes = routes.filter((r) => r.path === '/staff' || r.path.startsWith('/staff/') || r.path.startsWith('/api/v1/staff'));
      expect(staffRoutes.length).toBeGreaterThanOrEqual(10);
      for (const r of staffRoutes) expect(r.role).toBe('supervisor');
    });
  });

  describe('signed out', () => {
    it('sends every page to sign-in (and back) and answers every API call 401, changing nothing', async () => {
      const before = await auditCount();
      for (const route of routes.filter((r) => !r.public && !r.infrastructure)) {
        const path = concrete(route);
        const res = await fetch(`${h.admin.url}${path}`, {
          method: route.method,
          redirect: 'manual',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: h.admin.url },
          ...(route.method === 'GET' ? {} : { body: 'csrf=x&reason=test' }),
        });
        if (path.startsWith('/api/')) {
          expect({ route: path, status: res.status }).toEqual({ route: path, status: 401 });
          expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/u);
          expect(((await res.json()) as { code: string }).code).toBe('unauthenticated');
        } else {
          expect({ route: path, status: res.status }).toEqual({ route: path, status: 303 });
          const location = res.headers.get('location')!;
          expect(location).toMatch(/^\/signin\?return_to=/u);
          if (route.method === 'GET') expect(decodeURIComponent(location.split('=')[1]!)).toBe(path);
        }
      }
      expect(await auditCount()).toBe(before);
    });
  });

  describe('CSRF', () => {
    let web: WebClient;

    beforeAll(async () => {
      web = await staffClient(h, supervisor);
    });

    it('refuses every state-changing page form without the token, with a wrong one, or from another origin', async () => {
      const before = await auditCount();
      const forms = stateChanging().filter((r) => !r.path.startsWith('/api/') && !r.public);
      expect(forms.length).toBeGreaterThanOrEqual(5);
      const nav = await web.get('/search');
      for (const link of ['/correction-requests', '/approvals', '/staff', '/audit']) expect(nav.html).toContain(`href="${link}"`);
      const token = web.csrf();
      for (const route of forms) {
        const path = concrete(route);
        const body = new URLSearchParams({ reason: 'ticket 1', email: 'new.person@example.com', name: 'New Person', role: 'support' });
        const missing = await web.request(route.method, path, body, false);
        expect({ path, status: missing.status }).toEqual({ path, status: 403 });
        expect(text(missing.html)).toContain('This form has expired or was not sent from the support console');
        const wrong = await web.request(
          route.method,
          path,
          new URLSearchParams({ csrf: `${token.slice(0, -2)}xx`, reason: 'ticket 1' }),
          false,
        );
        expect({ path, status: wrong.status }).toEqual({ path, status: 403 });
        const cross = await fetch(`${h.admin.url}${path}`, {
          method: route.method,
          redirect: 'manual',
          headers: {
            'Content-Type': 'application/x-www-form-urlencoded',
            Cookie: [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
            Origin: idp.url,
          },
          body: new URLSearchParams({ csrf: token, reason: 'ticket 1' }),
        });
        expect({ path, status: cross.status }).toEqual({ path, status: 403 });
      }
      // Sign-out is a form too: still signed in.
      expect((await web.get('/search', false)).status).toBe(200);
      expect(await auditCount()).toBe(before);
      expect(h.mail.messagesTo('new.person@example.com')).toHaveLength(0);
    });

    it('refuses every state-changing API call without X-CSRF-Token, and the public forms without their token', async () => {
      const before = await auditCount();
      const cookie = [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      const calls = stateChanging().filter((r) => r.path.startsWith('/api/'));
      expect(calls.length).toBeGreaterThanOrEqual(4);
      for (const route of calls) {
        const path = concrete(route);
        const res = await fetch(`${h.admin.url}${path}`, {
          method: route.method,
          headers: { 'Content-Type': 'application/json', Cookie: cookie },
          body: JSON.stringify({ reason: 'ticket 1', email: 'api.person@example.com', name: 'Api Person', role: 'support', csrf: 'x' }),
        });
        expect({ path, status: res.status }).toEqual({ path, status: 403 });
        expect(((await res.json()) as { code: string }).code).toBe('csrf_failed');
      }
      for (const route of routes.filter((r) => r.public && r.method === 'POST')) {
        const res = await fetch(`${h.admin.url}${route.path}`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ email: supervisor.email, password: supervisor.password, code: '123456' }),
        });
        expect({ path: route.path, status: res.status }).toEqual({ path: route.path, status: 403 });
      }
      expect(await auditCount()).toBe(before);
    });

    it('accepts the API with the token from GET /api/v1/session', async () => {
      const session = JSON.parse((await web.get('/api/v1/session')).html) as { staff: Record<string, unknown>; csrf_token: string };
      expect(session.staff).toEqual({ id: supervisor.id, email: supervisor.email, name: 'Sam Super', role: 'supervisor' });
      const res = await fetch(`${h.admin.url}/api/v1/staff`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Cookie: [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
          'X-CSRF-Token': session.csrf_token,
        },
        body: JSON.stringify({ email: 'api.person@example.com', name: 'Api Person', role: 'support' }),
      });
      expect(res.status).toBe(201);
      const created = (await res.json()) as Record<string, unknown>;
      expect(created).toMatchObject({ email: 'api.person@example.com', role: 'support', status: 'pending', setup_email: 'sent' });
      expectNoSecrets(JSON.stringify(created), [await waitForSetupCode(h.mail, 'api.person@example.com')]);
    });
  });

  describe('roles', () => {
    it('keeps support out of staff management, pages and API alike', async () => {
      const web = await staffClient(h, support);
      const nav = await web.get('/search');
      expect(nav.html).not.toContain('href="/staff"');
      expect(nav.html).not.toContain('href="/approvals"');
      expect(nav.html).toContain('href="/correction-requests"');
      expect((await web.get('/staff')).status).toBe(403);
      await web.get('/search');
      const create = await web.post('/staff', { email: 'sneaky@example.com', name: 'Sneaky', role: 'supervisor' });
      expect(create.status).toBe(403);
      expect(text(create.html)).toContain('Your role does not allow this.');
      await web.get('/search');
      expect((await web.post(`/staff/${supervisor.id}/disable`, {})).status).toBe(403);
      const csrf = await apiCsrf(web);
      const cookie = [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      const list = await fetch(`${h.admin.url}/api/v1/staff`, { headers: { Cookie: cookie } });
      expect(list.status).toBe(403);
      const api = await fetch(`${h.admin.url}/api/v1/staff/${supervisor.id}/disable`, {
        method: 'POST',
        headers: { Cookie: cookie, 'X-CSRF-Token': csrf },
      });
      expect(api.status).toBe(403);
      expect(((await api.json()) as { code: string }).code).toBe('forbidden');
      const [row] = await h.db.dataSource.query(`SELECT status FROM staff WHERE id = $1`, [supervisor.id]);
      expect(row.status).toBe('active');
      expect(h.mail.messagesTo('sneaky@example.com')).toHaveLength(0);
    });

    it('lets a supervisor create staff (emailing a setup code), but never disable themselves', async () => {
      const web = await staffClient(h, supervisor);
      const page = await web.get('/staff');
      expect(page.status).toBe(200);
      expect(text(page.html)).toContain('Sue Port');
      const created = await web.post('/staff', { email: 'New.Hire@example.com', name: 'New Hire', role: 'support' });
      expect(created.status).toBe(200);
      expect(text(created.html)).toContain('The staff member was created and a setup code was emailed.');
      expect(await waitForSetupCode(h.mail, 'new.hire@example.com')).toMatch(/^[0-9A-Z-]{24}$/u);
      expect(text(created.html)).toContain('Setup pending');

      const dup = await web.post('/staff', { email: 'new.hire@EXAMPLE.com', name: 'Again', role: 'support' });
      expect(dup.status).toBe(409);
      expect(text(dup.html)).toContain('already exists');
      const bad = await web.post('/staff', { email: 'nope', name: '', role: 'boss' });
      expect(bad.status).toBe(422);
      for (const message of ['Enter a valid email address.', 'Choose the role: support or supervisor.'])
        expect(text(bad.html)).toContain(message);

      await web.get('/staff');
      const self = await web.post(`/staff/${supervisor.id}/disable`, {});
      expect(self.status).toBe(403);
      expect(text(self.html)).toContain('You cannot act on your own account.');
      await web.get('/staff');
      expect(web.last!.html).not.toContain(`/staff/${supervisor.id}/disable`);
      const [row] = await h.db.dataSource.query(`SELECT status FROM staff WHERE id = $1`, [supervisor.id]);
      expect(row.status).toBe('active');
    });

    it('disables a staff member (signing them out at once) and enables them again, audited', async () => {
      const sue = await staffClient(h, support);
      const boss = await staffClient(h, supervisor);
      await boss.get('/staff');
      const disabled = await boss.post(`/staff/${support.id}/disable`, {});
      expect(text(disabled.html)).toContain('The staff member was disabled and signed out everywhere.');
      const kicked = await sue.get('/search', false);
      expect(kicked.status).toBe(303);
      const again = sue;
      await again.get('/signin');
      expect((await again.post('/signin', { email: support.email, password: support.password })).status).toBe(401);

      await boss.get('/staff');
      await boss.post(`/staff/${support.id}/enable`, {});
      const back = await signInStaff(h, h.client(), support);
      expect(back.status).toBe(200);
      const events: Array<{ event_type: string; actor_id: string; details: { sessions_ended?: number } }> = await h.db.dataSource.query(
        `SELECT event_type, actor_id, details FROM audit_events WHERE subject_id = $1 AND event_type IN ('staff.disabled', 'staff.enabled') ORDER BY id`,
        [support.id],
      );
      expect(events.map((e) => e.event_type)).toEqual(['staff.disabled', 'staff.enabled']);
      expect(events[0]!.actor_id).toBe(supervisor.id);
      expect(events[0]!.details.sessions_ended).toBeGreaterThanOrEqual(1);
    });

    it('sends a new setup code for an account not set up yet; the old one stops working', async () => {
      const boss = await staffClient(h, supervisor);
      const [pending] = await h.db.dataSource.query(`SELECT id FROM staff WHERE email_key = 'new.hire@example.com'`);
      const old = await waitForSetupCode(h.mail, 'new.hire@example.com');
      await boss.get('/staff');
      const resent = await boss.post(`/staff/${pending.id}/setup-code`, {});
      expect(text(resent.html)).toContain('A new setup code was emailed');
      const fresh = await waitForSetupCode(h.mail, 'new.hire@example.com', 1);
      expect(fresh).not.toBe(old);
      expect(setupMails(h.mail, 'new.hire@example.com')).toHaveLength(2);
      const web = h.client();
      await web.get('/setup');
      expect(
        (
          await web.post('/setup', {
            code: old,
            password: 'brand new pass phrase vermilion kestrel',
            confirm_password: 'brand new pass phrase vermilion kestrel',
          })
        ).status,
      ).toBe(422);
      const ok = await web.post('/setup', {
        code: fresh,
        password: 'brand new pass phrase vermilion kestrel',
        confirm_password: 'brand new pass phrase vermilion kestrel',
      });
      expect(text(ok.html)).toContain('Your account is set up');
      // Set up: no further codes for it.
      await boss.get('/staff');
      expect((await boss.post(`/staff/${pending.id}/setup-code`, {})).status).toBe(409);
    });
  });

  describe('ports', () => {
    it('does not serve the console on the IdP port', async () => {
      for (const path of ['/search', '/staff', '/setup', '/people/user/' + userId, '/api/v1/session', '/api/v1/search?q=x', '/audit']) {
        const res = await fetch(`${idp.url}${path}`, { redirect: 'manual' });
        expect({ path, status: res.status }).toEqual({ path, status: 404 });
      }
      const signin = await (await fetch(`${idp.url}/signin`)).text();
      expect(signin).toContain('>User ID</label>');
      expect(signin).not.toContain('support console');
    });

    it('does not serve the IdP on the console port', async () => {
      for (const path of ['/account', '/.well-known/openid-configuration', '/oidc/auth', '/oidc/jwks', '/enroll', '/recover/password']) {
        const res = await fetch(`${h.admin.url}${path}`, { redirect: 'manual' });
        expect({ path, status: res.status }).toEqual({ path, status: 404 });
      }
      const api = await fetch(`${h.admin.url}/api/v1/signin`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
      });
      expect(api.status).toBe(404);
      const signin = await (await fetch(`${h.admin.url}/signin`)).text();
      expect(signin).toContain('>Email</label>');
      expect(signin).not.toContain('>User ID</label>');
    });
  });
});
