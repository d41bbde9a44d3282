/** Revoking what the provider issued to an account or in one session: statements on oidc_models, in its queries module. */
export { revokeAccountGrants, revokeSessionGrants, type RevokedGrants } from './pg-adapter/oidc-models.queries.js';
