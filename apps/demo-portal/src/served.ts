import type { ServedApp } from '#libs/platform';
import { createDemoPortalApp } from './app.js';

export const DEMO_PORTAL: ServedApp = {
  name: 'demo-portal',
  port: (c) => c.demoPort,
  create: createDemoPortalApp,
  banner: (_c, port) => `Demo portal:        http://localhost:${port}  (sample relying app: sign in, then Payment details)`,
};
