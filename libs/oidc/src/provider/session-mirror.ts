import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import type { Session } from '#libs/sessions';
import type { ProviderMiddleware, SessionBridge } from './options.js';

/** The provider's own session, as far as Gatehouse reads and writes it. */
export interface MirroredSession {
  id: string;
  new?: boolean;
  accountId?: string;
  loginTs?: number;
  amr?: string[];
  /** Per client: the apps this session signed in to, with the grant each got. */
  authorizations?: Record<string, { grantId?: unknown } | undefined>;
  /** The logout in progress: the app that asked for it (oidc-provider's end-session state). */
  state?: { clientId?: unknown } | undefined;
  authTime(): number | undefined;
  loginAccount(details: { accountId: string; loginTs: number; amr: string[]; acr: string; transient: boolean }): void;
  resetIdentifier(): void;
  save(ttl: number): Promise<unknown>;
}

/** The live Gatehouse session of a request (see gatehouseSessionLookup). */
export type GatehouseSessionOf = (ctx: { req: IncomingMessage }) => Promise<Session | null>;

/** One Gatehouse session lookup per request, however many checks ask. */
export function gatehouseSessionLookup(bridge: SessionBridge): GatehouseSessionOf {
  const sessions = new WeakMap<IncomingMessage, Promise<Session | null>>();
  return (ctx) => {
    let found = sessions.get(ctx.req);
    if (!found) {
      found = bridge.current(ctx.req);
      sessions.set(ctx.req, found);
    }
    return found;
  };
}

/**
 * A provider session saved during a request mirrors that browser's Gatehouse session when both
 * are the same person's (`sessionLink`, the adapter's SessionLink). The request being served is
 * known from the provider's first middleware on (`track`): oidc-provider's own Provider.ctx is
 * set only once a request reaches its router, and the middleware before that (mirroring a
 * Gatehouse sign-in for prompt=none) saves sessions too.
 */
export function sessionLinking(gatehouseSession: GatehouseSessionOf): {
  track: ProviderMiddleware;
  sessionLink: (payload: { accountId?: unknown }) => Promise<string | null>;
} {
  const inFlight = new AsyncLocalStorage<{ req: IncomingMessage }>();
  const sessionLink = async (payload: { accountId?: unknown }): Promise<string | null> => {
    const ctx = inFlight.getStore();
    if (!ctx || typeof payload.accountId !== 'string') return null;
    const session = await gatehouseSession(ctx);
    return session?.userId === payload.accountId ? session.id : null;
  };
  return { track: (ctx, next) => inFlight.run(ctx, next), sessionLink };
}
