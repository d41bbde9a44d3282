import { AsyncLocalStorage } from 'node:async_hooks';
import { createHmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Provider, { errors, interactionPolicy, type Account, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { AuditService } from '../../audit/src/index.js';
import type { DataSource } from 'typeorm';
import type { AppConfig, Secrets } from '../../config/src/index.js';
import { isUuid, type Clock, type Duration } from '../../core/src/index.js';
import { userWithOrganizationFromJson, userWithOrganizationSql, type Directory } from '../../identity/src/index.js';
import { LOA1, LOA2, acrOf, amrOf, type Session } from '../../sessions/src/index.js';
import { parseAuthRequest, requiredLevel } from './acr.js';
import { OIDC_SCOPES, SERVICE_SCOPES, USER_API_SCOPES, clientSecretMatches, type ClientRegistry } from './clients.js';
import { grantRequested } from './grants.js';
import { accountReadAhead, adapterFactory, holdTokenWrites, revokeGrant } from './pg-adapter.js';
import type { OidcProviderHost } from './provider-host.js';
import type { SigningKey } from './signing-keys.js';
import { answerUnavailable, renderedUnavailable } from './unavailable.js';

/** DI token of the oidc-provider instance. */
export const OIDC_PROVIDER = Symbol('OIDC_PROVIDER');

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

export const TTL = {
  AccessToken: 10 * 60,
  ClientCredentials: 10 * 60,
  AuthorizationCode: 60,
  IdToken: 60 * 60,
  RefreshToken: 14 * 24 * 60 * 60,
  Interaction: 60 * 60,
} as const;

/**
 * The link between oidc-provider and Gatehouse's own session (the `session` cookie), which
 * the app implements: the provider's session is only a mirror of it.
 */
export abstract class SessionBridge {
  /** The live Gatehouse session of this browser request, or null. */
  abstract current(req: IncomingMessage): Promise<Session | null>;
  /** Ends this browser's Gatehouse session, if any, and clears its cookie. */
  abstract endCurrent(req: IncomingMessage, res: ServerResponse, reason: string): Promise<void>;
}

/**
 * The value of the logout page's "Sign out" button. Only a sign-out the user confirmed on
 * that page ends the Gatehouse session too; the provider's own auto-submitted logout (when
 * its session holds no account) ends only the provider's session, so a cross-site link to
 * the end-session endpoint cannot sign anyone out of Gatehouse.
 */
export const LOGOUT_CONFIRMED = 'gatehouse';

/** Pages the provider renders itself, in Gatehouse's look (no inline script). */
export interface OidcPages {
  error(out: { error: string; error_description?: string | undefined }): string;
  /** The sign-out confirmation: `form` is the provider's (hidden) form, to be submitted by buttons with `form="op.logoutForm"`. */
  logout(form: string, clientName: string | undefined): string;
  loggedOut(clientName: string | undefined): string;
}

export interface OidcProviderOptions {
  config: AppConfig;
  secrets: Secrets;
  dataSource: DataSource;
  clock: Clock;
  directory: Directory;
  registry: ClientRegistry;
  keys: SigningKey[];
  bridge: SessionBridge;
  pages: OidcPages;
  /**
   * Whether this user's session must first answer the emergency-contacts interstitial (organization
   * policy): the request then needs an interaction, and a silent one (`prompt=none`) gets `interaction_required`.
   */
  contactsPending?: (userId: string, sessionId: string) => Promise<boolean>;
  /** Gatehouse's session absolute timeout: the provider's sessions and grants live no longer. */
  sessionAbsolute: Duration;
  /** Records authorizations answered without an interaction (single sign-on, `prompt=none`). */
  audit?: AuditService;
}

/** The provider's own session, as far as Gatehouse reads and writes it. */
interface MirroredSession {
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

/** An authorization request (GET) that may not show any page: `prompt=none`. */
function isSilentAuthorization(ctx: { method: string; path: string; query: Record<string, unknown> }): boolean {
  const prompt = ctx.query.prompt;
  return ctx.method === 'GET' && ctx.path === OIDC_ROUTES.authorization && typeof prompt === 'string' && prompt.split(' ').includes('none');
}

/** Adds origins a provider page may send the browser to (form posts, or the redirect after one) to its CSP `form-action`. */
export function allowFormAction(ctx: KoaContextWithOIDC, uris: Array<string | undefined>): void {
  const csp = ctx.response.get('content-security-policy');
  if (!csp) return;
  const origins = uris.flatMap((u) => {
    const parsed = u ? URL.parse(u) : null;
    return parsed && (parsed.protocol === 'https:' || parsed.protocol === 'http:') ? [parsed.origin] : [];
  });
  if (origins.length === 0) return;
  const directives = csp.split(';').map((d) => d.trim());
  const i = directives.findIndex((d) => d.startsWith('form-action'));
  if (i === -1) return;
  directives[i] = [directives[i], ...origins.filter((o) => !directives[i]!.split(/\s+/u).includes(o))].join(' ');
  ctx.set('content-security-policy', directives.join(';'));
}

/** The client metadata (ClientMetadataRecord) saying whether the client's authorization requests must carry PKCE. */
const PKCE_REQUIRED = 'gatehouse_pkce_required';

/** PKCE is required unless a confidential client's registration says otherwise; a public client always needs it. */
export function pkceRequired(client: { clientAuthMethod?: string | undefined; [PKCE_REQUIRED]?: unknown }): boolean {
  return client.clientAuthMethod === 'none' || client[PKCE_REQUIRED] !== false;
}

/** Whether a token was issued to this client or names it as (one of) its audience. */
export function tokenConcerns(token: { clientId?: string | undefined; aud?: unknown }, clientId: string): boolean {
  if (token.clientId === clientId) return true;
  const { aud } = token;
  return aud === clientId || (Array.isArray(aud) && aud.includes(clientId));
}

/** Endpoints a relying app may also call by POST (OpenID Connect Core 3.1.2.1, RP-Initiated Logout 1.0 §2). */
const BROWSER_POST_PATHS: ReadonlySet<string> = new Set([OIDC_ROUTES.authorization, OIDC_ROUTES.end_session]);

/**
 * Largest form body accepted on those endpoints. Its parameters are sent on as the query of a
 * GET (see the POST middleware in createOidcProvider), so it must fit a URL that browsers and Node's default 16 KiB header
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

function uuidOrNull(value: string): string | null {
  return isUuid(value) ? value : null;
}

/**
 * oidc-provider configured for Gatehouse: authorization code flow only (PKCE S256 from
 * every client but a confidential one registered without it), refresh-token rotation with
 * reuse detection, revocation, introspection, RP-initiated logout (also by POST), Gatehouse's
 * own interaction pages and levels of assurance, every model in PostgreSQL, clients from
 * `oidc_clients` with hashed secrets.
 */
export function createOidcProvider(o: OidcProviderOptions): Provider {
  const { config, bridge, pages, clock } = o;
  const https = config.issuer.startsWith('https://');
  const absoluteSeconds = Math.floor(o.sessionAbsolute.milliseconds / 1000);

  // One Gatehouse session lookup per request, however many checks ask.
  const sessions = new WeakMap<IncomingMessage, Promise<Session | null>>();
  const gatehouseSession = (ctx: { req: IncomingMessage }) => {
    let found = sessions.get(ctx.req);
    if (!found) {
      found = bridge.current(ctx.req);
      sessions.set(ctx.req, found);
    }
    return found;
  };

  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  const { Check } = interactionPolicy;
  // The provider's session mirrors Gatehouse's: no live Gatehouse session, another user, or
  // another authentication (new sign-in, added verification) means a new login result.
  login.checks.add(
    new Check('gatehouse_session', 'the Gatehouse session ended or changed', 'login_required', async (ctx) => {
      if (ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      const session = await gatehouseSession(ctx);
      const mirrored = ctx.oidc.session;
      if (!session || !mirrored?.accountId) return Check.REQUEST_PROMPT;
      if (session.userId !== mirrored.accountId) return Check.REQUEST_PROMPT;
      if (Math.floor(session.authTime.getTime() / 1000) !== mirrored.authTime()) return Check.REQUEST_PROMPT;
      if (amrOf(session.verifications).join(' ') !== (mirrored.amr ?? []).join(' ')) return Check.REQUEST_PROMPT;
      return Check.NO_NEED_TO_PROMPT;
    }),
    0,
  );
  // acr_values are voluntary in OIDC; Gatehouse treats a first-choice loa:2 as a requirement (CONTRACT).
  login.checks.add(
    new Check('gatehouse_acr', 'the requested level of assurance is not met', 'login_required', (ctx) => {
      if (ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      const wanted = requiredLevel(parseAuthRequest(ctx.oidc.params as Record<string, unknown>));
      return wanted === LOA2 && ctx.oidc.acr !== LOA2 ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  // max_age measured with Gatehouse's clock (the built-in check keeps oidc-provider's).
  login.checks.add(
    new Check('gatehouse_max_age', 'the authentication is older than max_age', 'login_required', (ctx) => {
      if (ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      const { maxAge } = parseAuthRequest(ctx.oidc.params as Record<string, unknown>);
      const authTime = ctx.oidc.session?.authTime();
      if (maxAge === undefined || typeof authTime !== 'number') return Check.NO_NEED_TO_PROMPT;
      return clock.now().getTime() - authTime * 1000 > maxAge * 1000 ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  // Required emergency contacts neither verified nor postponed in this session: an interaction first (the interstitial).
  const contactsPending = o.contactsPending;
  if (contactsPending) {
    login.checks.add(
      new Check('gatehouse_contacts', 'required emergency contacts are not verified', 'interaction_required', async (ctx) => {
        if (ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
        const session = await gatehouseSession(ctx);
        return session && (await contactsPending(session.userId, session.id)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      }),
    );
  }

  const cookieKey = createHmac('sha256', o.secrets.cookie).update('gatehouse:oidc-provider-cookies').digest('base64url');
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, secure: https };

  // No longer than the Gatehouse session it mirrors (absolute timeout from the authentication).
  const sessionTtl = (session: { authTime(): number | undefined }): number => {
    const authTime = session.authTime();
    if (typeof authTime !== 'number') return TTL.Interaction;
    return Math.max(60, authTime + absoluteSeconds - Math.floor(clock.now().getTime() / 1000));
  };

  // A provider session saved during a request mirrors that browser's Gatehouse session when both are the same person's.
  // The request being served, from the provider's first middleware on: oidc-provider's own Provider.ctx is set only
  // once a request reaches its router, and the middleware before that (mirroring a Gatehouse sign-in for
  // prompt=none) saves sessions too.
  const inFlight = new AsyncLocalStorage<{ req: IncomingMessage }>();
  const sessionLink = async (payload: { accountId?: unknown }): Promise<string | null> => {
    const ctx = inFlight.getStore();
    if (!ctx || typeof payload.accountId !== 'string') return null;
    const session = await gatehouseSession(ctx);
    return session?.userId === payload.accountId ? session.id : null;
  };

  const configuration: Configuration = {
    adapter: adapterFactory(o.dataSource, clock, o.registry, sessionLink, userWithOrganizationSql),
    clients: [],
    async findAccount(_ctx, sub): Promise<Account | undefined> {
      const id = uuidOrNull(sub);
      // Token, userinfo and introspection requests read the user with their token (the adapter's read-ahead);
      // elsewhere one statement for the user and the organization's slug.
      const ahead = id ? accountReadAhead(id) : undefined;
      const found = ahead !== undefined ? userWithOrganizationFromJson(ahead) : id ? await o.directory.userWithOrganization(id) : null;
      if (!found || found.user.status !== 'active') return undefined;
      const { user, organizationSlug } = found;
      return {
        accountId: user.id,
        claims: () => ({
          sub: user.id,
          name: `${user.firstName} ${user.lastName}`.trim(),
          given_name: user.firstName,
          family_name: user.lastName,
          email: user.email,
          email_verified: user.emailVerifiedAt !== null,
          ...(user.mobile ? { phone_number: user.mobile, phone_number_verified: user.mobileVerifiedAt !== null } : {}),
          enterprise_id: user.enterpriseId,
          ...(organizationSlug ? { organization: organizationSlug } : {}),
        }),
      };
    },
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
    acrValues: [LOA1, LOA2],
    responseTypes: ['code'],
    // PKCE (S256) from every client (RFC 9700 §2.1.1); a confidential client registered with
    // `--pkce-optional` may leave it out (a code_challenge it does send is still checked).
    pkce: { required: (_ctx, client) => pkceRequired(client) },
    extraClientMetadata: {
      properties: [PKCE_REQUIRED],
      validator: (_ctx, key, value) => {
        if (key === PKCE_REQUIRED && typeof value !== 'boolean')
          throw new errors.InvalidClientMetadata(`${PKCE_REQUIRED} must be a boolean`);
      },
    },
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
      introspection: {
        enabled: true,
        // Only a confidential client (it authenticates) learns about a token, and only about one issued to it or
        // meant for it (its audience): any other answers `active: false`, as for a token that does not exist.
        allowedPolicy: async (_ctx, client, token) => client.clientAuthMethod !== 'none' && tokenConcerns(token, client.clientId),
      },
      revocation: {
        enabled: true,
        // Only the client a token was issued to revokes it; another client's request answers 200 and changes nothing.
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
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
    loadExistingGrant: async (ctx) => {
      const clientId = ctx.oidc.client!.clientId;
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(clientId);
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      const accountId = ctx.oidc.session!.accountId;
      if (ctx.oidc.route !== 'authorization' || !ctx.oidc.prompts.has('none') || !accountId) return existing;
      const grant =
        existing && existing.accountId === accountId && existing.clientId === clientId
          ? existing
          : new ctx.oidc.provider.Grant({ accountId, clientId });
      grantRequested(grant, ctx.oidc.params as Record<string, unknown>, ctx.oidc.client!.scope);
      await grant.save();
      return grant;
    },
    // Outgoing requests are logout tokens to back-channel URIs that an operator registered
    // (there is no dynamic registration), often on an internal network: the provider's guard
    // against special-use addresses, meant for URLs anyone can supply, is left out. Its 2.5 s timeout stays.
    fetch: (url, options) => {
      const { dispatcher: _ssrfGuard, ...rest } = options as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(url, rest);
    },
    interactions: { policy, url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: {
      names: { session: https ? '__Host-gh_oidc' : 'gh_oidc', interaction: 'gh_oidc_interaction', resume: 'gh_oidc_resume' },
      long: cookieOptions,
      short: cookieOptions,
      keys: [cookieKey],
    },
    // Only the current key signs: pending and retired keys are published for verification only.
    jwks: { keys: o.keys.map((k) => (k.status === 'current' ? k.jwk : { ...k.jwk, key_ops: ['verify'] })) },
    ttl: {
      AccessToken: TTL.AccessToken,
      ClientCredentials: TTL.ClientCredentials,
      AuthorizationCode: TTL.AuthorizationCode,
      IdToken: TTL.IdToken,
      Interaction: TTL.Interaction,
      // Rotation keeps the family's lifetime: a rotated token inherits what is left.
      RefreshToken: (ctx) => ctx?.oidc?.entities.RotatedRefreshToken?.remainingTTL ?? TTL.RefreshToken,
      Session: (_ctx, session) => sessionTtl(session),
      Grant: absoluteSeconds,
    },
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

  const provider = new Provider(config.issuer, configuration);
  // Express has decided what to trust (`trust proxy`); the mount hands the provider that verdict in X-Forwarded-*.
  provider.proxy = true;

  // The stored `client_secret` is `sha256:<hex>` of the real one (documented extension point, panva/node-oidc-provider#631).
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return clientSecretMatches(this.clientSecret, actual);
  };

  /**
   * `prompt=none` right after a sign-in at Gatehouse itself: the browser holds a Gatehouse
   * session but no provider session mirrors it yet (that happens in an interaction, which a
   * silent request cannot have). The provider session is brought in line first, under a new
   * id (as after an interaction), and the browser is sent to the same request again; the
   * provider then answers it with its usual checks (max_age, acr_values, ...).
   */
  const mirrorForSilentRequest = async (ctx: KoaContextWithOIDC): Promise<boolean> => {
    const session = await gatehouseSession(ctx);
    const acr = session ? acrOf(session.verifications) : null;
    if (!session || !acr) return false;
    const amr = amrOf(session.verifications);
    const loginTs = Math.floor(session.authTime.getTime() / 1000);
    const mirrored = (await provider.Session.get(ctx)) as unknown as MirroredSession;
    // Another person's provider session is ended through the provider's own logout (an interaction), which tells
    // the apps it signed in to. One with no app left to tell (the logout queue already logged it out while a flow
    // held it, and that flow was abandoned) has nothing to end: it is replaced like any other.
    const anotherPerson = mirrored.accountId !== undefined && mirrored.accountId !== session.userId;
    if (anotherPerson && Object.keys(mirrored.authorizations ?? {}).length > 0) return false;
    if (mirrored.accountId === session.userId && mirrored.loginTs === loginTs && (mirrored.amr ?? []).join(' ') === amr.join(' ')) {
      return false;
    }
    mirrored.loginAccount({ accountId: session.userId, loginTs, amr, acr, transient: true });
    if (!mirrored.new) mirrored.resetIdentifier();
    await mirrored.save(sessionTtl(mirrored));
    ctx.cookies.set(provider.cookieName('session'), mirrored.id, cookieOptions);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(ctx.originalUrl);
    return true;
  };

  // Authorizations answered without an interaction (the interaction controller audits the others).
  const answered = new WeakSet<object>();
  provider.on('authorization.success', (ctx: KoaContextWithOIDC) => {
    if (ctx.oidc.route === 'authorization') answered.add(ctx);
  });

  // The tokens a token request issues are stored in one statement, before the answer; token, userinfo and
  // introspection requests read a token with its grant and session in one statement.
  const tokenPaths = new Set<string>([OIDC_ROUTES.token, OIDC_ROUTES.userinfo, OIDC_ROUTES.introspection]);
  // First: 503 with Retry-After, not 500, while the database cannot be reached.
  answerUnavailable(provider);
  provider.use((ctx, next) => inFlight.run(ctx, next));
  provider.use(holdTokenWrites(o.dataSource, (ctx) => tokenPaths.has(ctx.path)));

  /**
   * An authorization or end-session request sent by POST (a form the relying app's page
   * submits) is answered with a 303 to the same endpoint with the form's parameters as the
   * query, which the browser follows by GET; the provider then handles it as any GET request.
   * The provider's own POST support needs its cookies to be SameSite=None: a cross-site POST
   * carries no SameSite=Lax cookie, so neither the provider's session nor Gatehouse's would be
   * seen (no single sign-on, no sign-out). The GET after the redirect is a top-level
   * navigation, which carries them. Only the form's parameters count (not the POST's query).
   */
  provider.use(async (ctx, next) => {
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
  });

  provider.use(async (ctx, next) => {
    const silent = isSilentAuthorization(ctx);
    if (silent && (await mirrorForSilentRequest(ctx as KoaContextWithOIDC))) return;
    await next();
    if (!answered.has(ctx) || !o.audit) return;
    const oidc = (ctx as KoaContextWithOIDC).oidc;
    const session = await gatehouseSession(ctx);
    const accountId = oidc.session?.accountId;
    if (!accountId) return;
    const id = (ctx.req as IncomingMessage & { id?: unknown }).id;
    await o.audit.record({
      type: 'oidc.authorized',
      actor: { type: 'user', id: accountId },
      subject: { type: 'user', id: accountId },
      ip: ctx.ip || null,
      userAgent: ctx.get('user-agent') || null,
      requestId: typeof id === 'string' ? id : null,
      details: {
        client_id: oidc.client?.clientId,
        session_id: session?.userId === accountId ? session.id : null,
        acr: oidc.acr,
        amr: oidc.amr,
        silent,
      },
    });
  });

  /**
   * The grants a sign-out confirmation may end, read before the provider handles it (it then
   * forgets them): per app of the provider session, the grant it got, and the app that asked.
   */
  const grantsOfSession = async (ctx: KoaContextWithOIDC): Promise<{ grants: Map<string, string>; asking: string | undefined }> => {
    const session = (await provider.Session.get(ctx)) as unknown as MirroredSession;
    const grants = new Map<string, string>();
    for (const [clientId, authorization] of Object.entries(session.authorizations ?? {})) {
      if (typeof authorization?.grantId === 'string') grants.set(clientId, authorization.grantId);
    }
    const asking = session.state?.clientId;
    return { grants, asking: typeof asking === 'string' ? asking : undefined };
  };

  /**
   * RP-initiated logout, once the provider accepted the confirmation (its xsrf check passed):
   * signing out revokes the grant of every app of the session, "Stay signed in" that of the
   * app that asked, with offline_access or not (oidc-provider keeps those, Gatehouse grants
   * never outlive the session they were issued in; the back-channel queue cannot do it here,
   * as the provider has already deleted its session). Before the answer: a refresh right
   * after is `invalid_grant`, userinfo refuses the access tokens.
   */
  const revokeLoggedOut = async (
    ctx: KoaContextWithOIDC,
    before: { grants: Map<string, string>; asking: string | undefined },
    everyApp: boolean,
  ): Promise<void> => {
    const ended = [...before.grants].filter(([clientId]) => everyApp || clientId === before.asking);
    for (const [, grantId] of ended) await revokeGrant(o.dataSource, grantId);
    const accountId = ctx.oidc.session?.accountId;
    if (!o.audit || !accountId || ended.length === 0) return;
    const id = (ctx.req as IncomingMessage & { id?: unknown }).id;
    await o.audit.record({
      type: 'oidc.logout_grants_revoked',
      actor: { type: 'user', id: accountId },
      subject: { type: 'user', id: accountId },
      ip: ctx.ip || null,
      userAgent: ctx.get('user-agent') || null,
      requestId: typeof id === 'string' ? id : null,
      details: { client_id: before.asking ?? null, client_ids: ended.map(([clientId]) => clientId), signed_out: everyApp },
    });
  };

  provider.use(async (ctx, next) => {
    const confirming = ctx.method === 'POST' && ctx.path === END_SESSION_CONFIRM_PATH;
    const before = confirming ? await grantsOfSession(ctx as KoaContextWithOIDC) : undefined;
    await next();
    const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
    if (!oidc) return;
    if (before && oidc.route === 'end_session_confirm' && ctx.status === 303) {
      await revokeLoggedOut(ctx as KoaContextWithOIDC, before, Boolean(oidc.params?.logout));
    }
    // RP-initiated logout confirmed on Gatehouse's page ends the Gatehouse session too.
    if (oidc.route === 'end_session_confirm' && ctx.status === 303 && oidc.params?.logout === LOGOUT_CONFIRMED) {
      await bridge.endCurrent(ctx.req, ctx.res, 'oidc_logout');
    }
    // Provider pages with a form: form_post answers post to the client's registered redirect
    // URI; logout forms end in a redirect to its registered post-logout URI (the provider
    // drops one that is not registered). Browsers apply form-action to that redirect too.
    // When another person signed in, resuming first ends the provider session of the previous
    // one by a self-submitting form that comes back to resume, which then redirects to the client.
    if (!ctx.response.is('html')) return;
    const interaction = oidc.entities.Interaction?.params;
    const client =
      oidc.client ??
      (oidc.route === 'resume' && typeof interaction?.client_id === 'string'
        ? await provider.Client.find(interaction.client_id)
        : undefined);
    if (!client) return;
    const params = oidc.route === 'resume' ? { ...interaction, ...oidc.params } : (oidc.params ?? {});
    const targets: string[] = [];
    const { redirect_uri: redirectUri, post_logout_redirect_uri: postLogout } = params;
    if (typeof redirectUri === 'string' && client.redirectUriAllowed(redirectUri)) targets.push(redirectUri);
    if (oidc.route === 'end_session' && typeof postLogout === 'string' && client.postLogoutRedirectUriAllowed(postLogout)) {
      targets.push(postLogout);
    }
    allowFormAction(ctx as KoaContextWithOIDC, targets);
  });

  return provider;
}

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
