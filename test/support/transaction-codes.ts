import * as client from 'openid-client';
import { registerApp, type OidcHarness } from './oidc.js';
import { seedUser } from './web.js';

/** A service registered for `client_credentials` (what `client:create --grant client_credentials --scope …` does). */
export interface Service {
  name: string;
  clientId: string;
  config: client.Configuration;
}

export async function registerService(h: OidcHarness, name: string, scopes: string[]): Promise<Service> {
  const rp = await registerApp(h, { name, grants: ['client_credentials'], scopes, redirectUris: [], postLogoutRedirectUris: [] });
  return { name, clientId: rp.clientId, config: rp.config };
}

/** A fresh access token from the real token endpoint (openid-client's client_credentials grant). */
export async function serviceToken(service: Service, scope: string): Promise<string> {
  return (await client.clientCredentialsGrant(service.config, { scope })).access_token;
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  /** The parsed JSON body (problem+json included); undefined for an empty one. */
  body: Record<string, unknown> | undefined;
}

/** One call of the transaction codes API, with a bearer token when given. */
export async function txApi(
  h: OidcHarness,
  method: 'POST' | 'DELETE',
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<ApiAnswer> {
  const response = await fetch(`${h.app.url}/api/v1/transaction-codes${path}`, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const raw = await response.text();
  return { status: response.status, headers: response.headers, body: raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined };
}

/** A user with a verified email, who can sign in with the password and an emailed code. */
export async function seedPerson(
  h: OidcHarness,
  org: string,
  tag: string,
  status = 'active',
): Promise<{ id: string; userId: string; password: string; email: string }> {
  const who = { userId: `tx.${tag}`, password: `correct horse battery ${tag}`, email: `tx-${tag}@example.com` };
  const id = await seedUser(h.db.dataSource, org, { enterpriseId: who.userId, password: who.password, email: who.email, status });
  return { ...who, id };
}

/** Whether `text` holds `code` as a stand-alone 6-digit number (not inside a longer one, such as a timestamp). */
export function mentionsCode(text: string, code: string): boolean {
  return new RegExp(`(?<!\\d)${code}(?!\\d)`, 'u').test(text);
}
