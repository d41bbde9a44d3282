import type { ServedApp } from '#libs/platform';
import { createAdminApp } from './app.js';

export const ADMIN: ServedApp = {
  name: 'admin',
  port: (c) => c.adminPort,
  create: createAdminApp,
  banner: (c, port) => `Support console:    http://${c.host === '0.0.0.0' ? 'localhost' : c.host}:${port}`,
};
