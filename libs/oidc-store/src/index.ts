/**
 * What the OIDC provider stores, without the provider: the client registry, the signing keys
 * and the statements on oidc_models (grants an account or a session holds). The CLI, the admin
 * console and the feature libraries use these without loading oidc-provider (libs/oidc).
 */
export * from './clients.js';
export * from './signing-keys.js';
export * from './oidc-models.queries.js';
export * from './oidc-store.module.js';
