import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import type { AuditEventInput, AuditService } from '#libs/audit';
import { DomainError, KeptCopies, hasForbiddenCharacters, type Clock } from '#libs/core';
import { clientById, insertClient } from './clients.queries.js';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

/** Scopes a relying app may be registered for: the OIDC ones and Gatehouse's own claims. */
export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email', 'phone', 'gatehouse'] as const;

/**
 * Scopes of Gatehouse's service APIs, for a service's own token (`client_credentials` only;
 * user sign-ins never grant them): issuing and cancelling transaction codes, and verifying them.
 */
export const SERVICE_SCOPES = ['transaction_codes', 'transaction_codes:verify'] as const;

/**
 * Scopes of Gatehouse's APIs that act for a signed-in user with the user's access token
 * (authorization_code clients only, and only when registered for them: never a default):
 * `gatehouse.contacts` reads and changes the user's emergency contacts.
 */
export const USER_API_SCOPES = ['gatehouse.contacts'] as const;

export interface ClientInput {
  name: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  /** Where the app receives back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0). */
  backchannelLogoutUri?: string | null;
  public?: boolean;
  grants?: string[];
  scopes?: string[];
  /**
   * Whether authorization requests must carry PKCE (S256): true unless the operator opted a
   * confidential client out (`client:create --pkce-optional`) for a relying app that cannot
   * send it. A public client always needs it. Either way a code_challenge that is sent is checked.
   */
  pkceRequired?: boolean;
}

export interface RegisteredClient {
  clientId: string;
  /** Shown once, never stored: only its SHA-256 is kept. Absent for a public client. */
  clientSecret?: string;
}

/** The client metadata oidc-provider reads (snake_case, as in RFC 7591). */
export interface ClientMetadataRecord {
  client_id: string;
  client_name: string;
  client_secret?: string;
  token_endpoint_auth_method: 'none' | 'client_secret_basic';
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
  grant_types: string[];
  response_types: string[];
  scope?: string;
  application_type: 'web';
  /** Gatehouse's own metadata (see ClientInput.pkceRequired), read by the provider's `pkce.required`. */
  gatehouse_pkce_required: boolean;
}

/**
 * A client secret is 256 random bits, so a plain SHA-256 is enough to make the stored value
 * useless to whoever reads the table (no dictionary to try); a slow hash would only slow
 * the token endpoint. Stored as `sha256:<hex>`.
 */
export function hashClientSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

/** Constant-time comparison of a presented secret with the stored hash. */
export function clientSecretMatches(storedHash: string | undefined, presented: unknown): boolean {
  if (typeof storedHash !== 'string' || !storedHash.startsWith('sha256:') || typeof presented !== 'string' || presented.length > 512) {
    return false;
  }
  const expected = Buffer.from(storedHash.slice('sha256:'.length), 'hex');
  const actual = createHash('sha256').update(presented, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A registrable redirect URI: absolute https (http only on the loopback), no fragment, no credentials. */
export function checkRedirectUri(uri: string, what = 'redirect URI'): string {
  const bad = (why: string) => new DomainError('invalid_client_metadata', `${what} ${JSON.stringify(uri)}: ${why}`);
  if (uri.length > 2000 || hasForbiddenCharacters(uri)) throw bad('not a valid URL');
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw bad('not an absolute URL');
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && LOOPBACK_HOSTS.has(parsed.hostname))) {
    throw bad('must use https (http only for localhost or 127.0.0.1)');
  }
  if (parsed.hash || uri.includes('#')) throw bad('must not contain a fragment');
  if (parsed.username || parsed.password) throw bad('must not contain credentials');
  return uri;
}

/** Validates and normalizes what an operator asked for; throws DomainError('invalid_client_metadata'). */
export function validateClientInput(input: ClientInput): Required<ClientInput> {
  const name = input.name.trim().normalize('NFC');
  if (name.length < 1 || name.length > 200 || hasForbiddenCharacters(name)) {
    throw new DomainError('invalid_client_metadata', 'the name must be 1 to 200 visible characters');
  }
  const grants = [...new Set(input.grants?.length ? input.grants : ['authorization_code', 'refresh_token'])];
  for (const grant of grants) {
    if (!(GRANT_TYPES as readonly string[]).includes(grant)) {
      throw new DomainError('invalid_client_metadata', `unknown grant ${JSON.stringify(grant)} (use ${GRANT_TYPES.join(', ')})`);
    }
  }
  const isPublic = input.public === true;
  if (isPublic && grants.includes('client_credentials')) {
    throw new DomainError('invalid_client_metadata', 'a public client cannot use client_credentials (it has no secret)');
  }
  if (grants.includes('refresh_token') && !grants.includes('authorization_code')) {
    throw new DomainError('invalid_client_metadata', 'refresh_token needs the authorization_code grant');
  }
  const redirectUris = [...new Set((input.redirectUris ?? []).map((u) => checkRedirectUri(u)))];
  const postLogoutRedirectUris = [
    ...new Set((input.postLogoutRedirectUris ?? []).map((u) => checkRedirectUri(u, 'post-logout redirect URI'))),
  ];
  if (grants.includes('authorization_code') && redirectUris.length === 0) {
    throw new DomainError('invalid_client_metadata', 'the authorization_code grant needs at least one --redirect-uri');
  }
  const backchannelLogoutUri = input.backchannelLogoutUri ? checkRedirectUri(input.backchannelLogoutUri, 'back-channel logout URI') : null;
  if (!grants.includes('authorization_code') && (redirectUris.length || postLogoutRedirectUris.length || backchannelLogoutUri)) {
    throw new DomainError('invalid_client_metadata', 'redirect and logout URIs are only for clients with the authorization_code grant');
  }
  const scopes = [...new Set(input.scopes?.length ? input.scopes : grants.includes('authorization_code') ? [...OIDC_SCOPES] : [])];
  const known: readonly string[] = [...OIDC_SCOPES, ...SERVICE_SCOPES, ...USER_API_SCOPES];
  for (const scope of scopes) {
    if (!known.includes(scope)) {
      throw new DomainError('invalid_client_metadata', `unknown scope ${JSON.stringify(scope)} (use ${known.join(', ')})`);
    }
    if ((SERVICE_SCOPES as readonly string[]).includes(scope) && !grants.includes('client_credentials')) {
      throw new DomainError('invalid_client_metadata', `the scope ${scope} needs the client_credentials grant`);
    }
    if ((USER_API_SCOPES as readonly string[]).includes(scope) && !grants.includes('authorization_code')) {
      throw new DomainError('invalid_client_metadata', `the scope ${scope} needs the authorization_code grant`);
    }
  }
  if (grants.includes('authorization_code') && !scopes.includes('openid')) {
    throw new DomainError('invalid_client_metadata', 'a sign-in client needs the openid scope');
  }
  const pkceRequired = input.pkceRequired !== false;
  if (!pkceRequired && isPublic) {
    throw new DomainError('invalid_client_metadata', 'a public client cannot make PKCE optional (it has no secret to protect its codes)');
  }
  if (!pkceRequired && !grants.includes('authorization_code')) {
    throw new DomainError('invalid_client_metadata', 'PKCE only concerns clients with the authorization_code grant');
  }
  return { name, redirectUris, postLogoutRedirectUris, backchannelLogoutUri, public: isPublic, grants, scopes, pkceRequired };
}

/**
 * How long a node answers from its copy of a client's registration. The provider reads the
 * client on every token, refresh, introspection and authorization request; registrations
 * only change by operator command. A client unknown to the table is never kept.
 */
export const CLIENT_CACHE_MS = 5_000;

/** Most registrations a node keeps at once (beyond, the copies are dropped and read again). */
const CLIENT_CACHE_SIZE = 1_000;

/** Relying apps and services: registered by the operator CLI, read by the provider. */
export class ClientRegistry {
  private readonly cache: KeptCopies<ClientMetadataRecord | undefined>;

  /** `cacheMs`: see CLIENT_CACHE_MS (0 reads the table every time). Measured on the monotonic clock: a cache, not an expiry. */
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    cacheMs = CLIENT_CACHE_MS,
  ) {
    this.cache = new KeptCopies(cacheMs, CLIENT_CACHE_SIZE);
  }

  async create(input: ClientInput, actor: AuditEventInput['actor']): Promise<RegisteredClient> {
    const c = validateClientInput(input);
    const clientId = randomBytes(16).toString('base64url');
    const clientSecret = c.public ? undefined : randomBytes(32).toString('base64url');
    await this.dataSource.transaction(async (manager) => {
      await insertClient(manager, [
        clientId,
        c.name,
        clientSecret ? hashClientSecret(clientSecret) : null,
        c.public,
        c.redirectUris,
        c.postLogoutRedirectUris,
        c.grants,
        c.scopes,
        this.clock.now(),
        c.backchannelLogoutUri,
        c.pkceRequired,
      ]);
      await this.audit.record(
        {
          type: 'client.created',
          actor,
          subject: { type: 'client', id: clientId },
          details: {
            name: c.name,
            public: c.public,
            redirect_uris: c.redirectUris,
            post_logout_redirect_uris: c.postLogoutRedirectUris,
            backchannel_logout_uri: c.backchannelLogoutUri,
            grant_types: c.grants,
            scopes: c.scopes,
            pkce_required: c.pkceRequired,
          },
        },
        manager,
      );
    });
    return clientSecret ? { clientId, clientSecret } : { clientId };
  }

  /** The provider's view of a client; undefined when unknown. The secret field holds its hash. At most cacheMs old. */
  async metadata(clientId: string): Promise<ClientMetadataRecord | undefined> {
    if (clientId.length > 200) return undefined;
    // A client unknown to the table is never kept.
    return await this.cache.get(
      clientId,
      performance.now(),
      () => this.read(clientId),
      (metadata) => metadata !== undefined,
    );
  }

  private async read(clientId: string): Promise<ClientMetadataRecord | undefined> {
    const r = await clientById(this.dataSource, clientId);
    if (!r) return undefined;
    const grants = r.grant_types;
    const metadata: ClientMetadataRecord = {
      client_id: r.client_id,
      client_name: r.name,
      token_endpoint_auth_method: r.public ? 'none' : 'client_secret_basic',
      redirect_uris: r.redirect_uris,
      post_logout_redirect_uris: r.post_logout_redirect_uris,
      grant_types: grants,
      response_types: grants.includes('authorization_code') ? ['code'] : [],
      application_type: 'web',
      gatehouse_pkce_required: r.pkce_required || r.public,
    };
    if (r.scopes.length) metadata.scope = r.scopes.join(' ');
    // Logout tokens always carry `sid` (and ID tokens then too), so the app can end just that session.
    if (r.backchannel_logout_uri)
      Object.assign(metadata, { backchannel_logout_uri: r.backchannel_logout_uri, backchannel_logout_session_required: true });
    if (r.client_secret_hash) metadata.client_secret = r.client_secret_hash;
    return metadata;
  }
}
