import { createHmac } from 'node:crypto';
import type { Configuration } from 'oidc-provider';
import { userWithOrganizationSql } from '#libs/identity';
import { LEVELS } from '#libs/factors';
import { OIDC_SCOPES, SERVICE_SCOPES, USER_API_SCOPES } from '#libs/oidc-store';
import { adapterFactory } from '../pg-adapter.js';
import { renderedUnavailable } from '../unavailable.js';
import { accountFinder } from './account.js';
import { allowFormAction } from './form-action.js';
import type { gatehouseInteractionPolicy } from './interaction-policy.js';
import { INTROSPECTION, REVOCATION } from './introspection.js';
import type { OidcProviderOptions } from './options.js';
import { PKCE_CONFIGURATION } from './pkce.js';
import { OIDC_ROUTES } from './routes.js';
import { loadExistingGrant } from './silent-authorization.js';

/** What the provider's configuration shares with its middleware, built by createOidcProvider. */
export interface ConfigurationParts {
  policy: ReturnType<typeof gatehouseInteractionPolicy>;
  sessionLink: (payload: { accountId?: unknown }) => Promise<string | null>;
  ttl: NonNullable<Configuration['ttl']>;
  cookieOptions: { httpOnly: boolean; sameSite: 'lax'; secure: boolean };
}

/**
 * oidc-provider's settings for Gatehouse: authorization code flow only, refresh-token rotation,
 * Gatehouse's claims, scopes, levels of assurance and client defaults, its own pages, cookies
 * keyed from the cookie secret, and the policies kept beside this file (PKCE, introspection and
 * revocation, silent single sign-on, the interaction policy).
 */
export function providerConfiguration(o: OidcProviderOptions, parts: ConfigurationParts): Configuration {
  const { clock, pages } = o;
  const { policy, sessionLink, ttl, cookieOptions } = parts;
  const cookieKey = createHmac('sha256', o.secrets.cookie).update('gatehouse:oidc-provider-cookies').digest('base64url');

  return {
    adapter: adapterFactory(o.dataSource, clock, o.registry, sessionLink, userWithOrganizationSql),
    clients: [],
    findAccount: accountFinder(o.directory),
    claims: {
      // ID tokens always carry acr, amr and auth_time (CONTRACT), not only when a relying app asks for them.
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      profile: ['name', 'given_name', 'family_name'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
      gatehouse: ['enterprise_id', 'organization'],
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      iss: null,
    },
    scopes: [...OIDC_SCOPES, ...SERVICE_SCOPES, ...USER_API_SCOPES],
    acrValues: [...LEVELS],
    responseTypes: ['code'],
    ...PKCE_CONFIGURATION,
    // Secrets are stored hashed, so nothing may use one as a key: no client_secret_jwt, no HS*, no symmetric encryption.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'RS256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      idTokenSigningAlgValues: ['RS256'],
      userinfoSigningAlgValues: ['RS256'],
      introspectionSigningAlgValues: ['RS256'],
      authorizationSigningAlgValues: ['RS256'],
    },
    allowOmittingSingleRegisteredRedirectUri: false,
    clientBasedCORS: (_ctx, origin, client) =>
      origin !== 'null' && (client.redirectUris ?? []).some((u) => URL.parse(u)?.origin === origin),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      claimsParameter: { enabled: true },
      introspection: INTROSPECTION,
      revocation: REVOCATION,
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          allowFormAction(ctx, [ctx.oidc.params?.post_logout_redirect_uri as string | undefined]);
          ctx.type = 'html';
          ctx.body = pages.logout(form, ctx.oidc.client?.clientName);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = pages.loggedOut(ctx.oidc.client?.clientName);
        },
      },
      pushedAuthorizationRequests: { enabled: false },
      resourceIndicators: { enabled: false },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
    },
    // First-party single sign-on: a silent request (prompt=none) from a signed-in user gets the
    // scopes it asks for, as an interactive one would from the interaction controller.
    loadExistingGrant,
    // Outgoing requests are logout tokens to back-channel URIs that an operator registered
    // (there is no dynamic registration), often on an internal network: the provider's guard
    // against special-use addresses, meant for URLs anyone can supply, is left out. Its 2.5 s timeout stays.
    fetch: (url, options) => {
      const { dispatcher: _ssrfGuard, ...rest } = options as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(url, rest);
    },
    interactions: { policy, url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: {
      names: { session: cookieOptions.secure ? '__Host-gh_oidc' : 'gh_oidc', interaction: 'gh_oidc_interaction', resume: 'gh_oidc_resume' },
      long: cookieOptions,
      short: cookieOptions,
      keys: [cookieKey],
    },
    // Only the current key signs: pending and retired keys are published for verification only.
    jwks: { keys: o.keys.map((k) => (k.status === 'current' ? k.jwk : { ...k.jwk, key_ops: ['verify'] })) },
    ttl,
    rotateRefreshToken: true,
    // Any client allowed the refresh_token grant gets one with the code (not only with offline_access).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    routes: { ...OIDC_ROUTES },
    renderError: async (ctx, out, error) => {
      if (renderedUnavailable(ctx, error)) return;
      ctx.type = 'html';
      ctx.body = pages.error(out);
    },
  };
}
