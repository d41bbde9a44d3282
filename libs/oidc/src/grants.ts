import type Provider from 'oidc-provider';
import { OIDC_SCOPES } from '#libs/oidc-store';

type Grant = InstanceType<Provider['Grant']>;

/** Claim names asked in the `claims` parameter (userinfo and id_token members). */
export function requestedClaims(raw: unknown): string[] {
  if (typeof raw !== 'string') return [];
  try {
    const parsed = JSON.parse(raw) as { userinfo?: Record<string, unknown>; id_token?: Record<string, unknown> };
    return [...new Set([...Object.keys(parsed.userinfo ?? {}), ...Object.keys(parsed.id_token ?? {})])];
  } catch {
    return [];
  }
}

/**
 * First-party single sign-on: adds the scopes and claims an authorization request asks for
 * to the grant, without a consent screen: the scopes the client is registered for
 * (`registered`, its `scope` metadata; the OpenID scopes when it has none).
 */
export function grantRequested(grant: Grant, params: Record<string, unknown>, registered: string | undefined): void {
  const allowed: readonly string[] = registered ? registered.split(' ') : OIDC_SCOPES;
  const scopes = (typeof params.scope === 'string' ? params.scope : '').split(' ').filter((s) => s && allowed.includes(s));
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  const claims = requestedClaims(params.claims);
  if (claims.length) grant.addOIDCClaims(claims);
}
