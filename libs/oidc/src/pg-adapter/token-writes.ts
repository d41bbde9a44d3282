import Provider, { errors } from 'oidc-provider';
import type { DataSource } from 'typeorm';
import { HeldWrites } from './held-writes.js';

/** The writes each token request holds, by the provider's request context (see holdTokenWrites). */
const held = new WeakMap<object, HeldWrites>();

/** The writes held for the provider request being served, if it holds any. */
export function heldForCurrentRequest(): HeldWrites | undefined {
  const ctx = Provider.ctx as object | undefined;
  return ctx ? held.get(ctx) : undefined;
}

/**
 * Provider middleware for the token endpoint: the tokens it issues are written in one
 * statement before the answer goes out (HeldWrites). `isTokenRequest` picks the requests.
 */
export function holdTokenWrites(
  dataSource: DataSource,
  isTokenRequest: (ctx: { method: string; path: string }) => boolean,
): (ctx: HoldingContext, next: () => Promise<unknown>) => Promise<void> {
  return async (ctx, next) => {
    if (!isTokenRequest(ctx)) {
      await next();
      return;
    }
    const writes = new HeldWrites(dataSource);
    held.set(ctx, writes);
    try {
      await next();
    } finally {
      held.delete(ctx);
    }
    try {
      await writes.flush();
    } catch (error) {
      if (error instanceof errors.InvalidGrant) {
        // The code or refresh token was used meanwhile: the provider's own answer to reuse, and its event.
        ctx.status = error.status;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: error.error, error_description: error.error_description };
        ctx.app.emit('grant.error', ctx, error);
        return;
      }
      // Nothing unsaved is ever handed out: the answer becomes the provider's own server_error, and the
      // failure goes where the provider reports its own (its `server_error` event).
      ctx.status = 500;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'server_error', error_description: 'oops! something went wrong' };
      ctx.app.emit('server_error', ctx, error);
    }
  };
}

interface HoldingContext {
  method: string;
  path: string;
  status: number;
  body: unknown;
  set(name: string, value: string): void;
  app: { emit(event: string, ...args: unknown[]): boolean };
}
