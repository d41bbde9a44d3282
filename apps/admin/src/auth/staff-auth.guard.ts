/**
 * # Console authorization: how a controller uses it
 *
 * `StaffAuthGuard` is the console's global guard (APP_GUARD in AdminModule): it runs
 * before every route of the admin app, so a controller needs no `@UseGuards`. It fails
 * closed: every route must say who may use it, or it answers 403.
 *
 * ```ts
 * import { CurrentStaff, Roles, assertCanActOn, type StaffPrincipal } from './auth/index.js';
 *
 * @Controller('people')
 * @Roles('support')                                   // every signed-in staff member
 * export class DevicesController {
 *   @Post(':id/devices/revoke')                        // a page form: body field `csrf`
 *   async revoke(@CurrentStaff() staff: StaffPrincipal, @Param('id') id: string, @Body() body: Form) {
 *     assertCanActOn(staff, { type: 'user', id, email: user.email }); // never yourself; support never on staff
 *     ...
 *   }
 *
 *   @Post(':id/approve')
 *   @Roles('supervisor')                               // overrides the class: supervisors only
 *   async approve(...) { ... }
 * }
 * ```
 *
 * - `@Public()`: sign-in and setup pages only. `@Roles('support' | 'supervisor')`: the least
 *   role (a supervisor passes `support` routes). A route with neither is refused (403), and
 *   test/e2e/admin/admin-authz.e2e.spec.ts fails the build for it (`consoleRoutes`).
 * - Signed in: `req.staff` / `@CurrentStaff()` = `{ id, email, name, role }`;
 *   `req.staffSession` = `{ id, token, session }`; `@SignedIn() req: SignedInRequest` when
 *   a handler needs the request as well (both set, typed so). `AdminWeb.meta(req)` gives ip, user agent
 *   and request id for audit events; audit with actor `{ type: 'staff', id: staff.id }`.
 * - Not signed in (or timed out: 15 min idle, 8 h absolute): pages redirect to
 *   `/signin?return_to=…`; `/api/…` answers 401 problem+json.
 * - CSRF, on every POST/PUT/PATCH/DELETE, before the handler runs: a page form sends the
 *   token of `AdminWeb.csrf(req, res)` in a `csrf` field (views: `csrfField(csrf)`); the JSON
 *   API sends it in the `X-CSRF-Token` header (`GET /api/v1/session` returns it as
 *   `csrf_token`). The Origin header, when present, must be this console's. A failure is
 *   403 (`csrf_failed`) and the handler never runs.
 * - `assertCanActOn(staff, target)` (libs/staff) throws DomainError `forbidden`; the console's
 *   exception filter turns it into a 403 page or problem+json, like any DomainError.
 */
import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { DomainError } from '#libs/core';
import { HealthController } from '#libs/observability';
import { StaffSessionService, hasRole, type StaffRole } from '#libs/staff';
import { AdminWeb } from '../admin-web.js';
import { PUBLIC_ROUTE, REQUIRED_ROLE, type StaffRequest } from './decorators.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Controllers that come from shared libraries and are public by nature (health probes). */
export const PUBLIC_CONTROLLERS: ReadonlySet<unknown> = new Set([HealthController]);

export const isApiPath = (path: string): boolean => path === '/api' || path.startsWith('/api/');

@Injectable()
export class StaffAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: StaffSessionService,
    private readonly web: AdminWeb,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return false;
    const req = context.switchToHttp().getRequest<StaffRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    const targets = [context.getHandler(), context.getClass()];
    const stateChanging = !SAFE_METHODS.has(req.method);

    if (PUBLIC_CONTROLLERS.has(context.getClass())) return true;
    if (this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC_ROUTE, targets)) {
      if (stateChanging) this.checkCsrf(req, this.web.cookies.get(req, 'admin_pre'));
      return true;
    }
    const role = this.reflector.getAllAndOverride<StaffRole | undefined>(REQUIRED_ROLE, targets);
    if (!role) throw new DomainError('forbidden', 'This console route declares no role and is closed.');

    const token = this.web.sessionToken(req);
    const session = await this.sessions.resolve(token);
    if (!session) {
      if (token) this.web.cookies.clear(res, 'admin_session');
      throw new DomainError('unauthenticated', 'Please sign in to the support console.', {
        returnTo: req.method === 'GET' ? req.originalUrl : '/search',
      });
    }
    req.staff = session.staff;
    req.staffSession = { id: session.id, token: token!, session };
    if (stateChanging) this.checkCsrf(req, token);
    if (!hasRole(session.staff.role, role)) throw new DomainError('forbidden', 'Your role does not allow this.');
    return true;
  }

  private checkCsrf(req: StaffRequest, binding: string | undefined): void {
    const body = req.body as Record<string, unknown> | undefined;
    const given = isApiPath(req.path) ? req.get('x-csrf-token') : body?.csrf;
    if (!this.web.sameOrigin(req) || !this.web.cookies.checkCsrf(binding, given)) {
      throw new DomainError('csrf_failed', 'This form has expired or was not sent from the support console. Please try again.');
    }
  }
}
