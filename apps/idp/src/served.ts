import type { ServedApp } from '#libs/platform';
import { createIdpApp } from './app.js';

export const IDP: ServedApp = {
  name: 'idp',
  port: (c) => c.port,
  create: createIdpApp,
  banner: (c) => `Gatehouse IdP:      ${c.issuer}  (sign-in, OIDC, account)`,
};
