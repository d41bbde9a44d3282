import Provider from 'oidc-provider';
import { clientSecretMatches } from '#libs/oidc-store';
import { holdTokenWrites } from './pg-adapter.js';
import { browserPostAsGet } from './provider/browser-post.js';
import { providerConfiguration } from './provider/configuration.js';
import { providerFormActions } from './provider/form-action.js';
import { gatehouseInteractionPolicy } from './provider/interaction-policy.js';
import { providerLifetimes } from './provider/lifetimes.js';
import type { OidcProviderOptions } from './provider/options.js';
import { OIDC_ROUTES } from './provider/routes.js';
import { rpLogout } from './provider/rp-logout.js';
import { gatehouseSessionLookup, sessionLinking } from './provider/session-mirror.js';
import { silentAuthorization } from './provider/silent-authorization.js';
import { answerUnavailable } from './unavailable.js';

/*
 * The OpenID provider, one concern a file in provider/ (as node-oidc-provider keeps its own):
 * routes, options, configuration, lifetimes, the interaction policy (session mirror, level of
 * assurance, max_age, emergency contacts), PKCE, introspection and revocation, the account and
 * its claims, POST on authorization and end-session, silent authorization, RP-initiated logout,
 * form-action, and the Express mount. This file assembles them.
 */

export { BROWSER_POST_LIMIT } from './provider/browser-post.js';
export { allowFormAction } from './provider/form-action.js';
export { tokenConcerns } from './provider/introspection.js';
export { TTL } from './provider/lifetimes.js';
export { providerMiddleware, setForwarded, type ForwardedView } from './provider/mount.js';
export { LOGOUT_CONFIRMED, SessionBridge, type OidcPages, type OidcProviderOptions } from './provider/options.js';
export { pkceRequired } from './provider/pkce.js';
export { DISCOVERY_PATH, END_SESSION_CONFIRM_PATH, OIDC_PREFIX, OIDC_ROUTES, isProviderPath } from './provider/routes.js';

/** DI token of the oidc-provider instance. */
export const OIDC_PROVIDER = Symbol('OIDC_PROVIDER');

/**
 * oidc-provider configured for Gatehouse: authorization code flow only (PKCE S256 from
 * every client but a confidential one registered without it), refresh-token rotation with
 * reuse detection, revocation, introspection, RP-initiated logout (also by POST), Gatehouse's
 * own interaction pages and levels of assurance, every model in PostgreSQL, clients from
 * `oidc_clients` with hashed secrets.
 */
export function createOidcProvider(o: OidcProviderOptions): Provider {
  const { config, clock } = o;
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, secure: config.issuer.startsWith('https://') };
  const gatehouseSession = gatehouseSessionLookup(o.bridge);
  const { ttl, sessionTtl } = providerLifetimes(clock, o.sessionAbsolute);
  const { track, sessionLink } = sessionLinking(gatehouseSession);
  const policy = gatehouseInteractionPolicy(clock, gatehouseSession, o.contactsPending);

  const provider = new Provider(config.issuer, providerConfiguration(o, { policy, sessionLink, ttl, cookieOptions }));
  // Express has decided what to trust (`trust proxy`); the mount hands the provider that verdict in X-Forwarded-*.
  provider.proxy = true;

  // The stored `client_secret` is `sha256:<hex>` of the real one (documented extension point, panva/node-oidc-provider#631).
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return clientSecretMatches(this.clientSecret, actual);
  };

  const silent = silentAuthorization(provider, { gatehouseSession, sessionTtl, cookieOptions, audit: o.audit });

  // The tokens a token request issues are stored in one statement, before the answer; token, userinfo and
  // introspection requests read a token with its grant and session in one statement.
  const tokenPaths = new Set<string>([OIDC_ROUTES.token, OIDC_ROUTES.userinfo, OIDC_ROUTES.introspection]);
  // First: 503 with Retry-After, not 500, while the database cannot be reached.
  answerUnavailable(provider);
  provider.use(track);
  provider.use(holdTokenWrites(o.dataSource, (ctx) => tokenPaths.has(ctx.path)));
  provider.use(browserPostAsGet(o.pages));
  provider.use(silent);
  // Outside RP logout, so that its CSP is set once the logout's grants and session are ended, as before.
  provider.use(providerFormActions(provider));
  provider.use(rpLogout(provider, { dataSource: o.dataSource, bridge: o.bridge, audit: o.audit }));

  return provider;
}
