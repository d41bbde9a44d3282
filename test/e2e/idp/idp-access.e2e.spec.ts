import { ForbiddenException, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { IdpAuthGuard, idpRoutes, type IdpRoute } from '../../../apps/idp/src/auth/index.js';
import { WebContext } from '../../../apps/idp/src/web-context.js';
import { Directory } from '#libs/identity';
import { OIDC_PROVIDER } from '#libs/oidc';
import { SessionService } from '#libs/sessions';
import { errorLines, startHarness, type Harness } from '../../support/journeys.js';

/**
 * Who may use what on the IdP: every route declares its access (`@Public()`, `@FlowForm`,
 * `@SignedIn`, `@SessionToken`, `@SessionOrBearer`, `@InteractionForm` or `@RequireBearer`),
 * a checked rule, so a route added later cannot slip through; and what each declaration means
 * is checked before any handler runs (signed out, without a flow token, without a CSRF token).
 */
describe('IdP: every route declares its access', () => {
  let h: Harness;
  let routes: IdpRoute[];

  beforeAll(async () => {
    h = await startHarness();
    routes = idpRoutes(h.app.app);
  });

  afterEach(() => {
    expect(errorLines(h.app)).toEqual([]);
  });

  afterAll(async () => {
    await h.close();
  });

  const name = (r: IdpRoute) => `${r.method} ${r.path}`;
  /** A concrete path for a route: each `:param` a value of the right shape. */
  const concrete = (r: IdpRoute): string =>
    r.path.replace(/:[A-Za-z_]+/gu, (param) =>
      param === ':kind'
        ? r.path.includes('emergency')
          ? 'email'
          : 'mobile'
        : param === ':action'
          ? 'otp'
          : '00000000-0000-4000-8000-000000000000',
    );
  const auditCount = async (): Promise<number> => Number((await h.db.dataSource.query(`SELECT count(*)::int AS n FROM audit_events`))[0].n);
  const send = (r: IdpRoute, headers: Record<string, string> = {}) =>
    fetch(`${h.app.url}${concrete(r)}`, {
      method: r.method,
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: h.app.url, ...headers },
      ...(r.method === 'GET' ? {} : { body: 'csrf=x&code=123456' }),
    });

  describe('the rule', () => {
    it('finds the routes of the running IdP: pages, the JSON API, recovery and the bearer API', () => {
      const names = routes.map(name);
      for (const expected of [
        'GET /signin',
        'POST /signin/otp',
        'POST /recover/otp',
        'GET /account',
        'POST /account/password',
        'POST /interaction/:uid/abort',
        'POST /api/v1/signin/:id/otp',
        'POST /api/v1/recovery/:id/:action',
        'DELETE /api/v1/session',
        'PUT /api/v1/account/emergency-contacts/:kind',
        'POST /api/v1/transaction-codes',
      ]) {
        expect(names).toContain(expected);
      }
    });

    it('has no route without a declaration of who may use it', () => {
      const undeclared = routes.filter((r) => r.access === null && !r.infrastructure);
      expect(undeclared.map((r) => `${r.controller}.${r.handler} ${name(r)}`)).toEqual([]);
    });

    it('closes a route that declares nothing (403) before its handler runs', async () => {
      const get = <T>(token: unknown) => h.app.app.get<T>(token as string, { strict: false });
      const guard = new IdpAuthGuard(get(Reflector), get(WebContext), get(SessionService), get(Directory), get(OIDC_PROVIDER));
      class UndeclaredController {
        handler(): string {
          return 'never';
        }
      }
      const context = {
        getType: () => 'http',
        getHandler: () => UndeclaredController.prototype.handler,
        getClass: () => UndeclaredController,
        switchToHttp: () => ({ getRequest: () => ({ method: 'GET', params: {}, query: {} }), getResponse: () => ({}) }),
      } as unknown as ExecutionContext;
      await expect(guard.canActivate(context)).rejects.toBeInstanceOf(ForbiddenException);
    });

    it('keeps the public routes to the pages without a session and the cookie-less flows', () => {
      const open = routes.filter((r) => r.access === 'public').map((r) => `${name(r)}${r.flowToken ? ' +flow token' : ''}`);
      expect(open.sort()).toEqual(
        [
          'GET /',
          'GET /assets/gatehouse.css',
          'GET /signin',
          'GET /enroll',
          'GET /recover',
          'GET /recover/enterprise-id',
          'GET /recover/password',
          'GET /interaction/:uid',
          'GET /interaction/:uid/abort',
          'POST /api/v1/signin',
          'GET /api/v1/signin/:id +flow token',
          'POST /api/v1/signin/:id/credentials +flow token',
          'POST /api/v1/signin/:id/channel +flow token',
          'POST /api/v1/signin/:id/resend +flow token',
          'POST /api/v1/signin/:id/otp +flow token',
          'GET /api/v1/enrollment/:id +flow token',
          'POST /api/v1/enrollment/:id/:action +flow token',
          'POST /api/v1/recovery',
          'GET /api/v1/recovery/:id +flow token',
          'POST /api/v1/recovery/:id/:action +flow token',
        ].sort(),
      );
    });

    it('guards every state-changing page with a form check (flow, session or interaction), never public', () => {
      const pages = routes.filter((r) => r.method !== 'GET' && !r.path.startsWith('/api/'));
      expect(pages.length).toBeGreaterThanOrEqual(20);
      for (const r of pages)
        expect({ route: name(r), access: r.access }).toEqual({
          route: name(r),
          access: expect.stringMatching(/^(flow-form|session|interaction-form)$/u),
        });
    });
  });

  describe('before any handler runs', () => {
    it('sends signed-out pages to sign-in and back, and a signed-out form post to sign-in, changing nothing', async () => {
      const before = await auditCount();
      const pages = routes.filter((r) => r.access === 'session');
      expect(pages.length).toBeGreaterThanOrEqual(15);
      for (const r of pages) {
        const res = await send(r);
        expect({ route: name(r), status: res.status }).toEqual({ route: name(r), status: 303 });
        const location = res.headers.get('location')!;
        expect(location).toMatch(/^\/signin\?return_to=/u);
        if (r.method === 'GET') expect(decodeURIComponent(location.split('=')[1]!)).toBe(concrete(r));
        else expect(['/account', '/account/emergency-contacts']).toContain(decodeURIComponent(location.split('=')[1]!));
      }
      expect(await auditCount()).toBe(before);
    });

    it('answers every signed-out API call 401 problem+json', async () => {
      const calls = routes.filter((r) => r.access === 'session-token' || r.access === 'session-or-bearer' || r.access === 'bearer');
      expect(calls.length).toBeGreaterThanOrEqual(15);
      for (const r of calls) {
        const res = await fetch(`${h.app.url}${concrete(r)}`, {
          method: r.method,
          headers: { 'Content-Type': 'application/json' },
          ...(r.method === 'GET' ? {} : { body: '{"code":"123456"}' }),
        });
        expect({ route: name(r), status: res.status }).toEqual({ route: name(r), status: 401 });
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/u);
      }
    });

    it('answers a flow addressed without its X-Flow-Token 404 flow_not_found', async () => {
      for (const r of routes.filter((x) => x.flowToken && x.access === 'public')) {
        const res = await fetch(`${h.app.url}${concrete(r)}`, {
          method: r.method,
          headers: { 'Content-Type': 'application/json' },
          ...(r.method === 'GET' ? {} : { body: '{}' }),
        });
        expect({ route: name(r), status: res.status }).toEqual({ route: name(r), status: 404 });
        expect(((await res.json()) as { code: string }).code).toBe('flow_not_found');
      }
    });

    it('refuses a form post on a flow or an interaction without its cookie and token (403), changing nothing', async () => {
      const before = await auditCount();
      const forms = routes.filter((r) => r.access === 'flow-form' || r.access === 'interaction-form');
      expect(forms.length).toBeGreaterThanOrEqual(10);
      for (const r of forms) {
        const res = await send(r);
        expect({ route: name(r), status: res.status }).toEqual({ route: name(r), status: 403 });
        expect(await res.text()).toContain('This form has expired or was not sent from this site.');
      }
      expect(await auditCount()).toBe(before);
    });
  });
});
