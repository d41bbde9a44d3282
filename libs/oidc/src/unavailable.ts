import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '#libs/database';
import { UNAVAILABLE_DETAIL, unavailablePage } from '#libs/web';

type Ctx = Pick<KoaContextWithOIDC, 'status' | 'body' | 'type' | 'set' | 'accepts'>;

/** The OAuth error body of a 503 (RFC 6749's `temporarily_unavailable`). */
const UNAVAILABLE_OUT = { error: 'temporarily_unavailable', error_description: UNAVAILABLE_DETAIL };

/** 503 with Retry-After: the page for a browser, the OAuth error JSON for a program. */
function answer(ctx: Ctx, html: boolean): void {
  ctx.status = 503;
  ctx.set('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
  ctx.set('Cache-Control', 'no-store');
  if (html) {
    ctx.type = 'html';
    ctx.body = unavailablePage();
  } else {
    ctx.type = 'application/json';
    ctx.body = UNAVAILABLE_OUT;
  }
}

/**
 * The provider's endpoints answer 503 with Retry-After, not 500, while the database cannot be
 * reached. Three places, since the provider answers its own errors:
 * - its error handlers report a server error (`server_error`), after setting the status and a
 *   JSON body: the status becomes 503 and the body `temporarily_unavailable`;
 * - they render a page for a browser with `renderError`: `renderedUnavailable` answers it;
 * - an error outside its routes (in Gatehouse's own provider middleware) reaches Koa, which
 *   would answer a plain 500: this first middleware answers it instead.
 * Call before any other `provider.use`.
 */
export function answerUnavailable(provider: Provider): void {
  provider.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      answer(ctx, ctx.accepts('json', 'html') === 'html');
    }
  });
  provider.on('server_error', (ctx: KoaContextWithOIDC, error: unknown) => {
    if (!isDatabaseUnavailable(error)) return;
    const body = ctx.body as { error?: unknown } | undefined;
    // A page rendered already (renderedUnavailable) stays; a JSON answer is replaced.
    if (ctx.status === 503 && typeof ctx.body === 'string') return;
    ctx.status = 503;
    ctx.set('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
    if (body && typeof body === 'object' && body.error === 'server_error') ctx.body = UNAVAILABLE_OUT;
  });
}

/** For the provider's `renderError`: answers the page itself (true) when the error is the database being unreachable. */
export function renderedUnavailable(ctx: KoaContextWithOIDC, error: unknown): boolean {
  if (!isDatabaseUnavailable(error)) return false;
  answer(ctx, true);
  return true;
}
