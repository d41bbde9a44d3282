import { SetMetadata, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { ContactActor } from '#libs/contacts';
import type { FlowHandle } from '#libs/flows';
import type { Session } from '#libs/sessions';

export const ACCESS = 'gatehouse:idp:access';
export const FLOW_TOKEN = 'gatehouse:idp:flow-token';

/** The flows whose hosted pages keep their handle in a cookie. */
export type PageFlow = 'signin' | 'enroll' | 'recover';

/** Who may use a route, and what IdpAuthGuard checks before its handler runs. */
export type Access =
  /** Anyone: pages without a session, and the cookie-less JSON flows (their token is the flow's own, see @FlowToken). */
  | { kind: 'public' }
  /**
   * A form post on a page flow: its cookie, the flow's CSRF token in the `csrf` field and a same-origin request.
   * With `startForm`, the first post of a start page may instead carry a form token sealed for that purpose.
   */
  | { kind: 'flow-form'; flow: PageFlow; startForm?: string }
  /** A form post on an OIDC interaction: CSRF bound to the interaction's uid (`:uid`), same origin. */
  | { kind: 'interaction-form' }
  /** A page of the signed-in browser (session cookie); a post needs the session's CSRF token too. `home` is where sign-in returns after a post. */
  | { kind: 'session'; home: string; keepReturnTo: boolean }
  /** An API call with `Authorization: Session <token>` (no cookie, so no CSRF). */
  | { kind: 'session-token' }
  /** An API call by a session (header or cookie, a change by cookie needing `X-CSRF-Token`) or by a user's access token with `scope`. */
  | { kind: 'session-or-bearer'; scope: string };

/** A route anyone may open (no session). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(ACCESS, { kind: 'public' } satisfies Access);

/** A form post on a page flow (`flow` cookie, CSRF, same origin); see Access. */
export const FlowForm = (flow: PageFlow, options: { startForm?: string } = {}): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS, { kind: 'flow-form', flow, ...options } satisfies Access);

/** A form post on the OIDC interaction `:uid` (CSRF, same origin). */
export const InteractionForm = (): MethodDecorator & ClassDecorator => SetMetadata(ACCESS, { kind: 'interaction-form' } satisfies Access);

/**
 * The signed-in browser's pages. Signed out, a page leads to sign-in and back to its path (with its
 * own safe `return_to` when `keepReturnTo`), a post to sign-in and back to `home` (default `/account`).
 */
export const SignedIn = (options: { home?: string; keepReturnTo?: boolean } = {}): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS, { kind: 'session', home: options.home ?? '/account', keepReturnTo: options.keepReturnTo ?? false } satisfies Access);

/** The JSON API of a signed-in app: `Authorization: Session <token>`, else 401. */
export const SessionToken = (): MethodDecorator & ClassDecorator => SetMetadata(ACCESS, { kind: 'session-token' } satisfies Access);

/** A session (header or cookie) or a user's access token with `scope`; see Access. */
export const SessionOrBearer = (scope: string): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS, { kind: 'session-or-bearer', scope } satisfies Access);

/** The route addresses a flow by its `:id` and the `X-Flow-Token` header (404 `flow_not_found` without it). */
export const FlowToken = (): MethodDecorator & ClassDecorator => SetMetadata(FLOW_TOKEN, true);

/** What the guard puts on the request. */
export interface IdpRequest extends Request {
  idp?: {
    session?: Session;
    flow?: FlowHandle;
    startForm?: Record<string, unknown>;
    actor?: ContactActor;
  };
}

const from = <K extends keyof NonNullable<IdpRequest['idp']>>(key: K, what: string) =>
  createParamDecorator((_data: unknown, ctx: ExecutionContext) => {
    const value = ctx.switchToHttp().getRequest<IdpRequest>().idp?.[key];
    // The guard sets it on every route that declares it; anywhere else this is a programming error.
    if (value === undefined) throw new Error(`${what} used on a route whose access does not provide it`);
    return value;
  });

/** The signed-in session (`@SignedIn()`, `@SessionToken()`). */
export const CurrentSession = from('session', '@CurrentSession()');
/** The flow of the request: from its cookie (`@FlowForm`, unless a start form was posted) or from `:id` and `X-Flow-Token` (`@FlowToken()`). */
export const CurrentFlow = from('flow', '@CurrentFlow()');
/** Who calls the emergency-contacts API (`@SessionOrBearer`). */
export const CurrentActor = from('actor', '@CurrentActor()');

/** The context sealed in a start page's form token, when one was posted (`@FlowForm(flow, { startForm })`); else undefined. */
export const StartForm = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): Record<string, unknown> | undefined =>
    ctx.switchToHttp().getRequest<IdpRequest>().idp?.startForm,
);

/** The flow of a `@FlowForm(flow, { startForm })` post when it is on a flow already; undefined when a start form was posted. */
export const FlowIfAny = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): FlowHandle | undefined => ctx.switchToHttp().getRequest<IdpRequest>().idp?.flow,
);
