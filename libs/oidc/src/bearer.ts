import {
  Inject,
  Injectable,
  SetMetadata,
  applyDecorators,
  createParamDecorator,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import { DomainError, isUuid } from '#libs/core';
import { Directory } from '#libs/identity';
import { OIDC_PROVIDER } from './provider.js';

/**
 * Who presented an `Authorization: Bearer` access token issued by Gatehouse's provider:
 * a user's token (authorization code flow: `sub` is the OIDC subject, which Gatehouse
 * issues as the public identifier of the account, so `userId === sub`) or a service's
 * own token (`client_credentials`). `scopes` are the token's scopes that its client is
 * still registered for.
 */
export type BearerPrincipal =
  | { kind: 'user'; sub: string; userId: string; scopes: string[]; clientId: string }
  | { kind: 'client'; clientId: string; scopes: string[] };

/** RFC 6750 token68; opaque provider tokens are far shorter than the bound. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/u;

/** The token of an `Authorization: Bearer <token>` header; null without one (another scheme, none, or malformed). */
export function bearerTokenOf(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer +(\S+) *$/iu.exec(header);
  const token = match?.[1];
  return token && token.length <= 512 && TOKEN68.test(token) ? token : null;
}

function scopeList(scope: unknown): string[] {
  return typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
}

export interface ResolveBearerOptions {
  /** Whether the account behind a user's token may still use it (active, not disabled). Default: yes. */
  accountActive?: (userId: string) => Promise<boolean>;
}

/**
 * Resolves an opaque access token through the provider (its models live in `oidc_models`,
 * see PgOidcAdapter): a user's AccessToken or a service's ClientCredentials token. Expired,
 * revoked, consumed, unknown or sender-constrained tokens (DPoP / mTLS are not enabled, so
 * no proof could be checked here), tokens whose client is gone, and user tokens whose grant
 * is gone or whose account is no longer active, all resolve to null. The scopes returned
 * are those of the token that its client is still registered for (a scope taken away from a
 * client stops working at once, and a client registered without scopes gets none).
 */
export async function resolveBearer(
  provider: Provider,
  token: string,
  options: ResolveBearerOptions = {},
): Promise<BearerPrincipal | null> {
  if (!TOKEN68.test(token) || token.length > 512) return null;
  const accessToken = await provider.AccessToken.find(token);
  if (accessToken) {
    if (accessToken.isExpired || accessToken.isSenderConstrained() || accessToken.aud !== undefined) return null;
    const accountId = accessToken.accountId;
    const clientId = accessToken.clientId;
    if (typeof accountId !== 'string' || !isUuid(accountId) || typeof accessToken.grantId !== 'string' || !clientId) return null;
    const client = await provider.Client.find(clientId);
    if (!client) return null;
    const grant = await provider.Grant.find(accessToken.grantId, { ignoreExpiration: true });
    if (!grant || grant.isExpired || grant.clientId !== clientId || grant.accountId !== accountId) return null;
    if (options.accountActive && !(await options.accountActive(accountId))) return null;
    const allowed = new Set(scopeList(client.scope));
    const scopes = scopeList(accessToken.scope).filter((s) => allowed.has(s));
    return { kind: 'user', sub: accountId, userId: accountId, scopes, clientId };
  }
  const credentials = await provider.ClientCredentials.find(token);
  if (credentials) {
    if (credentials.isExpired || credentials.isSenderConstrained() || credentials.aud !== undefined) return null;
    const clientId = credentials.clientId;
    if (!clientId) return null;
    const client = await provider.Client.find(clientId);
    if (!client || !client.grantTypeAllowed('client_credentials')) return null;
    const allowed = new Set(scopeList(client.scope));
    const scopes = scopeList(credentials.scope).filter((s) => allowed.has(s));
    return { kind: 'client', clientId, scopes };
  }
  return null;
}

const REALM = 'gatehouse';

/**
 * An RFC 6750 refusal as a DomainError: the ProblemFilter answers it as problem+json with
 * `details.wwwAuthenticate` in the `WWW-Authenticate` header. `invalid_token` (401) for a
 * missing, expired, revoked or unknown token; `insufficient_scope` (403) when the token
 * lacks a scope or is of the wrong kind (a user's token where a service's is needed).
 */
export class BearerError extends DomainError {
  constructor(code: 'invalid_token' | 'insufficient_scope' | 'token_required', message: string, scopes: string[] = []) {
    // RFC 6750 §3.1: a request without any credentials gets a challenge without an error code.
    const challenge =
      code === 'token_required'
        ? `Bearer realm="${REALM}"`
        : `Bearer realm="${REALM}", error="${code}"${code === 'insufficient_scope' && scopes.length ? `, scope="${scopes.join(' ')}"` : ''}`;
    super(code, message, { wwwAuthenticate: challenge });
    this.name = 'BearerError';
  }
}

/** HTTP statuses of the BearerError codes (for the ProblemFilter). */
export const BEARER_STATUS: Record<string, number> = { token_required: 401, invalid_token: 401, insufficient_scope: 403 };

export interface BearerRequirement {
  /** Every one of these scopes is needed. */
  scopes: string[];
  /** `client`: only a service's own token (client_credentials); `user`: only a user's token; default either. */
  kind?: BearerPrincipal['kind'];
}

const REQUIREMENT = 'gatehouse:bearer-requirement';
const PRINCIPAL = Symbol('gatehouse:bearer-principal');

/** Checks the request's bearer token against the handler's (or controller's) `@RequireBearer` and attaches the principal. */
@Injectable()
export class BearerGuard implements CanActivate {
  constructor(
    @Inject(OIDC_PROVIDER) private readonly provider: Provider,
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(Directory) private readonly directory: Directory,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const requirement = this.reflector.getAllAndOverride<BearerRequirement | undefined>(REQUIREMENT, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!requirement) throw new Error('BearerGuard needs @RequireBearer on the handler or its controller');
    const req = context.switchToHttp().getRequest<IncomingMessage & { [PRINCIPAL]?: BearerPrincipal }>();
    const token = bearerTokenOf(req.headers.authorization);
    if (!token) throw new BearerError('token_required', 'An access token is required (Authorization: Bearer).');
    const principal = await resolveBearer(this.provider, token, {
      accountActive: async (userId) => (await this.directory.user(userId))?.status === 'active',
    });
    if (!principal) throw new BearerError('invalid_token', 'The access token is invalid, expired or revoked.');
    if (requirement.kind && principal.kind !== requirement.kind) {
      throw new BearerError(
        'insufficient_scope',
        requirement.kind === 'client'
          ? "This API needs a service's own access token (client_credentials)."
          : "This API needs a user's access token.",
        requirement.scopes,
      );
    }
    const missing = requirement.scopes.filter((s) => !principal.scopes.includes(s));
    if (missing.length) {
      throw new BearerError('insufficient_scope', `The access token lacks the scope ${missing.join(' ')}.`, requirement.scopes);
    }
    req[PRINCIPAL] = principal;
    return true;
  }
}

/** Guards a controller or handler with a bearer token (see BearerGuard). The module must provide BearerGuard's dependencies (OIDC_PROVIDER, Directory). */
export function RequireBearer(requirement: BearerRequirement): MethodDecorator & ClassDecorator {
  return applyDecorators(SetMetadata(REQUIREMENT, requirement), UseGuards(BearerGuard));
}

/** The principal the BearerGuard attached to this request. */
export function bearerOf(req: IncomingMessage): BearerPrincipal {
  const principal = (req as IncomingMessage & { [PRINCIPAL]?: BearerPrincipal })[PRINCIPAL];
  if (!principal) throw new Error('no bearer principal: the handler is not guarded by @RequireBearer');
  return principal;
}

/** Handler parameter: the principal of the request's bearer token (`@Bearer() who: BearerPrincipal`). */
export const Bearer = createParamDecorator((_data: unknown, context: ExecutionContext): BearerPrincipal =>
  bearerOf(context.switchToHttp().getRequest<IncomingMessage>()),
);
