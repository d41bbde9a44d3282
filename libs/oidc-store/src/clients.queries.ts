import type { DataSource, EntityManager } from 'typeorm';
import { runStatement } from '#libs/database';

/** The statements on oidc_clients (the relying apps aggregate). */

export interface ClientRow {
  client_id: string;
  name: string;
  client_secret_hash: string | null;
  public: boolean;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  backchannel_logout_uri: string | null;
  grant_types: string[];
  scopes: string[];
  pkce_required: boolean;
}

/** Registers a client (values in column order), in the caller's transaction. */
export async function insertClient(manager: EntityManager, values: unknown[]): Promise<void> {
  await manager.query(
    `INSERT INTO oidc_clients (client_id, name, client_secret_hash, public, redirect_uris, post_logout_redirect_uris, grant_types, scopes, created_at,
                                   backchannel_logout_uri, pkce_required)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    values,
  );
}

/** A prepared statement: the provider reads the client on every token request. */
export async function clientById(dataSource: DataSource, clientId: string): Promise<ClientRow | undefined> {
  const { rows } = await runStatement<ClientRow>(
    dataSource,
    `SELECT client_id, name, client_secret_hash, public, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri, grant_types, scopes,
              pkce_required
         FROM oidc_clients WHERE client_id = $1`,
    [clientId],
  );
  return rows[0];
}
