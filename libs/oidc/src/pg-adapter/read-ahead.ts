import type { AdapterPayload } from 'oidc-provider';
import { heldForCurrentRequest } from './token-writes.js';

/**
 * SQL of one jsonb value: the account whose id is the text expression given, read together
 * with a token (see PgOidcAdapter.findWithGrantAndSession and `accountReadAhead`).
 */
export type AccountReadAhead = (accountIdText: string) => string;

/** Models found together with their grant and session in a token request (see PgOidcAdapter.findWithGrantAndSession). */
export const READ_AHEAD: ReadonlySet<string> = new Set(['AuthorizationCode', 'RefreshToken', 'AccessToken']);

/** The key of accounts read ahead (not a model of the provider's). */
export const ACCOUNT = 'Account';

/**
 * The account read together with the token of this token, userinfo or introspection request
 * (see AccountReadAhead): its jsonb value, null when there is no such account, undefined when
 * it was not read ahead (or a write of the request since made it stale) and must be read.
 */
export function accountReadAhead(accountId: string): AdapterPayload | null | undefined {
  return heldForCurrentRequest()?.known(ACCOUNT, accountId);
}

/**
 * The statement of PgOidcAdapter.findWithGrantAndSession: the model `$1` with id `$2`, its
 * grant, the session it is bound to and (with `accountAhead`) its account, each unexpired at
 * `$3`, in one row.
 */
export function tokenReadSql(accountAhead?: AccountReadAhead): string {
  const account = accountAhead ? `(${accountAhead(`m.payload->>'accountId'`)})` : 'NULL::jsonb';
  return `SELECT m.payload, m.consumed_at, g.payload AS grant_payload, s.payload AS session_payload, ${account} AS account
         FROM oidc_models m
         LEFT JOIN oidc_models g ON g.kind = 'Grant' AND g.id = m.payload->>'grantId' AND (g.expires_at IS NULL OR g.expires_at > $3)
         LEFT JOIN LATERAL (
           SELECT payload FROM oidc_models
            WHERE kind = 'Session' AND uid = m.payload->>'sessionUid' AND (expires_at IS NULL OR expires_at > $3) LIMIT 1
         ) s ON TRUE
        WHERE m.kind = $1 AND m.id = $2 AND (m.expires_at IS NULL OR m.expires_at > $3)`;
}
