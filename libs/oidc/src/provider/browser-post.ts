import type { IncomingMessage } from 'node:http';
import type { OidcPages, ProviderMiddleware } from './options.js';
import { OIDC_ROUTES } from './routes.js';

/** Endpoints a relying app may also call by POST (OpenID Connect Core 3.1.2.1, RP-Initiated Logout 1.0 §2). */
const BROWSER_POST_PATHS: ReadonlySet<string> = new Set([OIDC_ROUTES.authorization, OIDC_ROUTES.end_session]);

/**
 * Largest form body accepted on those endpoints. Its parameters are sent on as the query of a
 * GET (see browserPostAsGet), so it must fit a URL that browsers and Node's default 16 KiB header
 * limit accept: 8 KiB, several times what a sign-in or logout request carries (an ID token
 * hint included).
 */
export const BROWSER_POST_LIMIT = 8 * 1024;

/** Why a form body was not read: the HTTP status and a description for the error page. */
class FormBodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Reads an application/x-www-form-urlencoded body of at most `limit` bytes (UTF-8). */
async function readFormBody(req: IncomingMessage, limit: number): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';');
  const charset = /charset=([^;]+)/iu
    .exec(req.headers['content-type'] ?? '')?.[1]
    ?.trim()
    .toLowerCase();
  if (type[0]!.trim().toLowerCase() !== 'application/x-www-form-urlencoded' || (charset && charset !== 'utf-8')) {
    throw new FormBodyError(400, 'only application/x-www-form-urlencoded bodies (UTF-8) are accepted');
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new FormBodyError(413, `the request body is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new FormBodyError(413, `the request body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * An authorization or end-session request sent by POST (a form the relying app's page
 * submits) is answered with a 303 to the same endpoint with the form's parameters as the
 * query, which the browser follows by GET; the provider then handles it as any GET request.
 * The provider's own POST support needs its cookies to be SameSite=None: a cross-site POST
 * carries no SameSite=Lax cookie, so neither the provider's session nor Gatehouse's would be
 * seen (no single sign-on, no sign-out). The GET after the redirect is a top-level
 * navigation, which carries them. Only the form's parameters count (not the POST's query).
 */
export function browserPostAsGet(pages: OidcPages): ProviderMiddleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' || !BROWSER_POST_PATHS.has(ctx.path)) {
      await next();
      return;
    }
    let params: URLSearchParams;
    try {
      params = await readFormBody(ctx.req, BROWSER_POST_LIMIT);
    } catch (error) {
      if (!(error instanceof FormBodyError)) throw error;
      ctx.status = error.status;
      ctx.set('Cache-Control', 'no-store');
      ctx.type = 'html';
      ctx.body = pages.error({ error: 'invalid_request', error_description: error.message });
      return;
    }
    const query = params.toString();
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(query ? `${ctx.path}?${query}` : ctx.path);
  };
}
