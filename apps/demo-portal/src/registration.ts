import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import type { AuditService } from '#libs/audit';
import type { Clock } from '#libs/core';
// Not the lib's index: registering a client needs no oidc-provider (which warns on Node 20 when loaded).
import { ClientRegistry, clientSecretMatches } from '#libs/oidc-store';
import { redirectUris, type PortalClient, type PortalSettings } from './settings.js';

export const CLIENT_NAME = 'Reconciliation portal (demo)';

interface StoredClient {
  client_id: string;
  client_secret: string;
}

/** The file under DATA_DIR that keeps the portal's client credentials (mode 0600). */
export function clientFile(dataDir: string): string {
  return path.join(dataDir, 'demo-portal.json');
}

async function readStored(file: string): Promise<StoredClient | null> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<StoredClient>;
    return typeof parsed.client_id === 'string' && typeof parsed.client_secret === 'string'
      ? { client_id: parsed.client_id, client_secret: parsed.client_secret }
      : null;
  } catch {
    return null;
  }
}

/**
 * The portal's registration at Gatehouse, made on first start through the ClientRegistry
 * (what `client:create` uses): a confidential client with the portal's callback and
 * signed-out URIs. The credentials are kept in `$DATA_DIR/demo-portal.json` (0600) and
 * reused while Gatehouse still knows the client with that secret and those URIs;
 * otherwise (database reset, port changed, client removed) it registers again.
 */
export async function ensureRegistered(
  deps: { dataSource: DataSource; clock: Clock; audit: AuditService },
  settings: PortalSettings,
  dataDir: string,
): Promise<PortalClient & { registered: boolean }> {
  const file = clientFile(dataDir);
  const uris = redirectUris(settings);
  const registry = new ClientRegistry(deps.dataSource, deps.clock, deps.audit);
  const stored = await readStored(file);
  if (stored) {
    const metadata = await registry.metadata(stored.client_id);
    if (
      metadata &&
      clientSecretMatches(metadata.client_secret, stored.client_secret) &&
      metadata.redirect_uris.includes(uris.callback) &&
      metadata.post_logout_redirect_uris.includes(uris.signedOut)
    ) {
      await chmod(file, 0o600);
      return { clientId: stored.client_id, clientSecret: stored.client_secret, registered: false };
    }
  }
  const created = await registry.create(
    {
      name: CLIENT_NAME,
      redirectUris: [uris.callback],
      postLogoutRedirectUris: [uris.signedOut],
      grants: ['authorization_code'],
      scopes: ['openid', 'profile', 'email', 'gatehouse'],
    },
    { type: 'system', id: 'demo-portal' },
  );
  const record: StoredClient = { client_id: created.clientId, client_secret: created.clientSecret! };
  await mkdir(dataDir, { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
  return { clientId: record.client_id, clientSecret: record.client_secret, registered: true };
}
