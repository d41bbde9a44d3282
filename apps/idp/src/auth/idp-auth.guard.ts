/**
 * # IdP access: how a controller uses it
 *
 * `IdpAuthGuard` is the IdP's global guard (APP_GUARD in IdpModule): it runs before every route,
 * so a controller needs no `@UseGuards`. It fails closed: a route that declares no access (one
 * of the decorators in ./decorators.ts, or `@RequireBearer` of libs/oidc) answers 403, and
 * test/e2e/idp/idp-access.e2e.spec.ts fails the build for it (`idpRoutes`).
 *
 * - `@Public()`: pages without a session and the cookie-less JSON flows; `@FlowToken()` adds the
 *   flow of `:id` and `X-Flow-Token` (`@CurrentFlow()`), 404 `flow_not_found` without the header.
 * - `@FlowForm('signin' | 'enroll' | 'recover')`: form posts on a page flow. The flow cookie, its
 *   CSRF token (`csrf` field) and a same-origin request are checked before the handler; a start
 *   page's sealed form token instead with `{ startForm }` (`@StartForm()`, `@FlowIfAny()`).
 *   Refused: 403 "Please start again".
 * - `@SignedIn({ home })`: the signed-in browser (session cookie, `@CurrentSession()`). Signed
 *   out: 303 to sign-in and back. A post also needs the session's CSRF token and the same origin,
 *   else 403 "Please try again".
 * - `@SessionToken()`: `Authorization: Session <token>`, else 401 problem.
 * - `@SessionOrBearer(scope)`: session header, a user's access token with `scope`, or the
 *   session cookie (a change then needs `X-CSRF-Token`, same origin); `@CurrentActor()`.
 * - `@InteractionForm()`: a post on `/interaction/:uid/...`, its CSRF bound to the uid.
 */
import { ForbiddenException, Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { GUARDS_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import type Provider from 'oidc-provider';
import type { ContactActor } from '#libs/contacts';
import { DomainError } from '#libs/core';
import { Directory } from '#libs/identity';
import { BearerError, BearerGuard, OIDC_PROVIDER, bearerTokenOf, resolveBearer } from '#libs/oidc';
import { HealthController } from '#libs/observability';
import { SessionService, type Session } from '#libs/sessions';
import { safeReturnTo } from '#libs/signin';
import { CookieJar } from '#libs/web';
import { WebContext } from '../web-context.js';
import { ACCESS, FLOW_TOKEN, type Access, type IdpRequest } from './decorators.js';
import { PageAnswer } from './page-answer.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Controllers that come from shared libraries and are public by nature (health probes). */
export const PUBLIC_CONTROLLERS: ReadonlySet<unknown> = new Set([HealthController]);

/** Whether a handler (or its controller) is guarded by libs/oidc's `@RequireBearer` (BearerGuard checks the token). */
export function usesBearerGuard(targets: ReadonlyArray<object>): boolean {
  return targets.some((t) => ((Reflect.getMetadata(GUARDS_METADATA, t) as unknown[] | undefined) ?? []).includes(BearerGuard));
}

@Injectable()
export class IdpAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly web: WebContext,
    private readonly sessions: SessionService,
    private readonly directory: Directory,
    @Inject(OIDC_PROVIDER) private readonly provider: Provider,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return false;
    const req = context.switchToHttp().getRequest<IdpRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    const targets = [context.getHandler(), context.getClass()];
    if (PUBLIC_CONTROLLERS.has(context.getClass()) || usesBearerGuard(targets)) return true;
    const access = this.reflector.getAllAndOverride<Access | undefined>(ACCESS, targets);
    if (!access) throw new ForbiddenException('This route declares no access and is closed.');
    const changing = !SAFE_METHODS.has(req.method);
    req.idp = {};
    switch (access.kind) {
      case 'public':
        break;
      case 'flow-form':
        this.flowForm(req, access.flow, access.startForm);
        break;
      case 'interaction-form':
        if (!this.csrfOk(req, `interaction:${String(req.params.uid)}`, this.formCsrf(req))) throw PageAnswer.formRefused();
        break;
      case 'session':
        req.idp.session = await this.pageSession(req, res, access, changing);
        break;
      case 'session-token':
        req.idp.session = await this.tokenSession(req);
        break;
      case 'session-or-bearer':
        req.idp.actor = await this.actor(req, access.scope, changing);
        break;
    }
    if (this.reflector.getAllAndOverride<boolean | undefined>(FLOW_TOKEN, targets)) {
      const token = req.get('x-flow-token');
      if (!token) throw new DomainError('flow_not_found', 'X-Flow-Token header is required.');
      req.idp.flow = { id: String(req.params.id), token };
    }
    return true;
  }

  private formCsrf(req: IdpRequest): unknown {
    return (req.body as Record<string, unknown> | undefined)?.csrf;
  }

  private csrfOk(req: IdpRequest, binding: string | undefined, given: unknown): boolean {
    return this.web.sameOrigin(req) && this.web.cookies.checkCsrf(binding, given);
  }

  private flowForm(req: IdpRequest, flow: 'signin' | 'enroll' | 'recover', startForm: string | undefined): void {
    const csrf = this.formCsrf(req);
    if (startForm && CookieJar.isFormToken(csrf)) {
      // A start page's form (no flow yet): its token, sealed to this browser's cookie, carries the page's context.
      const form = this.web.cookies.openForm(this.web.cookies.binding(req, flow), startForm, csrf);
      if (!form || !this.web.sameOrigin(req)) throw PageAnswer.flowFormRefused();
      req.idp!.startForm = form;
      return;
    }
    const handle = this.web.cookies.flow(req, flow);
    if (!handle || !this.csrfOk(req, handle.token, csrf)) throw PageAnswer.flowFormRefused();
    req.idp!.flow = handle;
  }

  private async pageSession(
    req: IdpRequest,
    res: Response,
    access: Extract<Access, { kind: 'session' }>,
    changing: boolean,
  ): Promise<Session> {
    const token = this.web.cookies.get(req, 'session');
    const session = await this.sessions.resolve(token);
    if (!session) {
      // An ended or expired session's cookie is of no further use.
      if (token) this.web.cookies.clear(res, 'session');
      throw PageAnswer.redirect(`/signin?return_to=${encodeURIComponent(changing ? access.home : this.here(req, access))}`);
    }
    if (changing && !this.csrfOk(req, token, this.formCsrf(req))) throw PageAnswer.formRefused(access.home);
    return session;
  }

  /** Where sign-in returns to for a page: its path, with its own (safe) `return_to` when it keeps one. */
  private here(req: IdpRequest, access: Extract<Access, { kind: 'session' }>): string {
    const returnTo = req.query.return_to;
    if (!access.keepReturnTo || returnTo === undefined) return req.path;
    return `${req.path}?return_to=${encodeURIComponent(safeReturnTo(returnTo))}`;
  }

  private async tokenSession(req: IdpRequest): Promise<Session> {
    const authorization = req.get('authorization');
    const token = authorization?.startsWith('Session ') ? authorization.slice(8).trim() : undefined;
    const session = await this.sessions.resolve(token);
    if (!session) throw new DomainError('unauthorized', 'A valid session token is required (Authorization: Session <token>).');
    return session;
  }

  /** Who is calling: a session (header or cookie) or a relying app with a user's access token. */
  private async actor(req: IdpRequest, scope: string, changing: boolean): Promise<ContactActor> {
    const authorization = req.get('authorization');
    if (authorization !== undefined) {
      if (authorization.startsWith('Session ')) {
        const session = await this.sessions.resolve(authorization.slice(8).trim());
        if (!session) throw new DomainError('unauthorized', 'The session token is not valid (Authorization: Session <token>).');
        return { userId: session.userId, sessionId: session.id };
      }
      const token = bearerTokenOf(authorization);
      if (!token) throw new BearerError('invalid_token', 'Send a session token or an access token (Authorization: Bearer).');
      const principal = await resolveBearer(this.provider, token, {
        accountActive: async (userId) => (await this.directory.user(userId))?.status === 'active',
      });
      if (!principal) throw new BearerError('invalid_token', 'The access token is invalid, expired or revoked.');
      if (principal.kind !== 'user') throw new BearerError('insufficient_scope', "This API needs a user's access token.", [scope]);
      if (!principal.scopes.includes(scope)) {
        throw new BearerError('insufficient_scope', `The access token lacks the scope ${scope}.`, [scope]);
      }
      return { userId: principal.userId, clientId: principal.clientId };
    }
    const cookie = this.web.cookies.get(req, 'session');
    const session = cookie ? await this.sessions.resolve(cookie) : null;
    if (!session) throw new BearerError('token_required', 'Sign in, or send a session token or an access token.');
    if (changing && !this.csrfOk(req, cookie, req.get('x-csrf-token'))) {
      throw new DomainError('csrf_failed', 'A change with the session cookie needs the X-CSRF-Token header, from this site.');
    }
    return { userId: session.userId, sessionId: session.id };
  }
}
