import { errors, type Configuration } from 'oidc-provider';

/** The client metadata (ClientMetadataRecord) saying whether the client's authorization requests must carry PKCE. */
const PKCE_REQUIRED = 'gatehouse_pkce_required';

/** PKCE is required unless a confidential client's registration says otherwise; a public client always needs it. */
export function pkceRequired(client: { clientAuthMethod?: string | undefined; [PKCE_REQUIRED]?: unknown }): boolean {
  return client.clientAuthMethod === 'none' || client[PKCE_REQUIRED] !== false;
}

/**
 * oidc-provider's PKCE settings: S256 from every client (RFC 9700 §2.1.1); a confidential client
 * registered with `--pkce-optional` may leave it out (a code_challenge it does send is still
 * checked). The registration flag is client metadata, validated as a boolean.
 */
export const PKCE_CONFIGURATION = {
  pkce: { required: (_ctx, client) => pkceRequired(client) },
  extraClientMetadata: {
    properties: [PKCE_REQUIRED],
    validator: (_ctx, key, value) => {
      if (key === PKCE_REQUIRED && typeof value !== 'boolean') throw new errors.InvalidClientMetadata(`${PKCE_REQUIRED} must be a boolean`);
    },
  },
} satisfies Pick<Configuration, 'pkce' | 'extraClientMetadata'>;
