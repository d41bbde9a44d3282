/** The provider's endpoints live under this prefix; discovery stays at the well-known path. */
export const OIDC_PREFIX = '/oidc';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';

/** Where each of the provider's endpoints is served (oidc-provider's `routes`); discovery is at DISCOVERY_PATH. */
export const OIDC_ROUTES = {
  authorization: `${OIDC_PREFIX}/auth`,
  backchannel_authentication: `${OIDC_PREFIX}/backchannel`,
  challenge: `${OIDC_PREFIX}/challenge`,
  code_verification: `${OIDC_PREFIX}/device`,
  credential: `${OIDC_PREFIX}/credential`,
  device_authorization: `${OIDC_PREFIX}/device/auth`,
  end_session: `${OIDC_PREFIX}/session/end`,
  introspection: `${OIDC_PREFIX}/token/introspection`,
  jwks: `${OIDC_PREFIX}/jwks`,
  pushed_authorization_request: `${OIDC_PREFIX}/request`,
  registration: `${OIDC_PREFIX}/reg`,
  revocation: `${OIDC_PREFIX}/token/revocation`,
  token: `${OIDC_PREFIX}/token`,
  userinfo: `${OIDC_PREFIX}/me`,
} as const;

/** Where the provider's sign-out confirmation form posts (oidc-provider's `end_session_confirm` route). */
export const END_SESSION_CONFIRM_PATH = `${OIDC_ROUTES.end_session}/confirm`;

/** Paths answered by oidc-provider itself (which reads its own request bodies). */
export function isProviderPath(path: string): boolean {
  return path === DISCOVERY_PATH || path.startsWith(`${OIDC_PREFIX}/`);
}
