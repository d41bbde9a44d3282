import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OidcProviderHost } from '../provider-host.js';
import { isProviderPath } from './routes.js';

/** Who made a request, as the app's `trust proxy` rule sees it. */
export interface ForwardedView {
  protocol: string;
  host?: string | undefined;
  ip?: string | undefined;
}

/**
 * Makes `view` the request's only X-Forwarded-* before it goes to the provider (which runs
 * with `proxy = true`): whatever a client sent in those headers is replaced, so it cannot
 * spoof its address, scheme or host past the app's `trust proxy` rule.
 */
export function setForwarded(req: IncomingMessage, view: ForwardedView): void {
  req.headers['x-forwarded-proto'] = view.protocol;
  if (view.host) req.headers['x-forwarded-host'] = view.host;
  else delete req.headers['x-forwarded-host'];
  if (view.ip) req.headers['x-forwarded-for'] = view.ip;
  else delete req.headers['x-forwarded-for'];
}

interface ExpressLikeRequest extends IncomingMessage {
  path: string;
  protocol: string;
  ip?: string | undefined;
  host?: string | undefined;
}

/**
 * Express middleware handing the provider's paths to the current provider instance, with
 * Express's trust-proxy evaluation as X-Forwarded-* (handToProvider). Nest's body parser
 * must skip these paths: oidc-provider reads the raw body itself.
 */
export function providerMiddleware(
  host: Pick<OidcProviderHost, 'callback'>,
): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  return (req, res, next) => {
    const r = req as ExpressLikeRequest;
    if (!isProviderPath(r.path)) return next();
    setForwarded(req, { protocol: r.protocol, host: r.host, ip: r.ip });
    Promise.resolve(host.callback()(req, res)).catch(next);
  };
}
