import type { INestApplication } from '@nestjs/common';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createDemoPortalApp } from '../../apps/demo-portal/src/app.js';
import { testSecrets } from '#libs/config';
import { LogCapture, testConfig } from './apps.js';
import { browse, freePort, landedOnCallback, landedOnPage, signIn, type Landing, type OidcHarness, type Person } from './oidc.js';
import { WebClient, type WebResponse } from './web.js';

/**
 * The sample relying app (apps/demo-portal) next to an OIDC harness: on its own port, on the
 * harness's clock and database, registering itself at first start as `npm start` does
 * (credentials under a temporary DATA_DIR).
 */
export interface RunningPortal {
  app: INestApplication;
  url: string;
  port: number;
  dataDir: string;
  logs: LogCapture;
  close(): Promise<void>;
  /** Also removes its DATA_DIR. */
  dispose(): Promise<void>;
}

export async function startDemoPortal(
  h: OidcHarness,
  options: { port?: number; dataDir?: string; /** Another issuer than the harness's (e.g. one that is down). */ issuer?: string } = {},
): Promise<RunningPortal> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'gh-portal-')));
  const logs = new LogCapture();
  const config = testConfig({ ISSUER: h.issuer, DEMO_PORT: String(port), DATA_DIR: dataDir });
  const app = await createDemoPortalApp({
    config,
    databaseUrl: h.db.url,
    clock: h.clock,
    secrets: testSecrets(),
    logStream: logs,
    portal: { baseUrl: url, issuer: options.issuer ?? h.issuer },
  });
  await app.listen(port, '127.0.0.1');
  const close = () => app.close();
  return {
    app,
    url,
    port,
    dataDir,
    logs,
    close,
    async dispose() {
      await close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** One browser: its cookies for the portal and for Gatehouse (different ports of one host; the names never collide). */
export interface PortalBrowser {
  portal: WebClient;
  idp: WebClient;
}

export function newBrowser(h: OidcHarness, portal: RunningPortal): PortalBrowser {
  return { portal: new WebClient(portal.url), idp: new WebClient(h.issuer) };
}

/** Opens a portal page that sends the browser to Gatehouse; follows Gatehouse until a page of its own or the portal's callback. */
export async function viaGatehouse(b: PortalBrowser, portalPath: string): Promise<{ authorization: URL; landing: Landing }> {
  const started = await b.portal.get(portalPath, false);
  if (started.status !== 303 || !started.location?.startsWith(b.idp.base)) {
    throw new Error(`expected a redirect to Gatehouse from ${portalPath}, got ${started.status} ${started.location ?? ''}`);
  }
  const authorization = new URL(started.location);
  return { authorization, landing: await browse(b.idp, authorization, `${b.portal.base}/`) };
}

/** Back at the portal (the callback, or any portal URL Gatehouse sent the browser to): follows the portal's own redirects. */
export async function backAtPortal(b: PortalBrowser, landing: Landing | URL): Promise<WebResponse> {
  let response = await b.portal.get((landing instanceof URL ? landing : landedOnCallback(landing)).href, false);
  for (let hops = 0; hops < 5 && response.status === 303 && response.location?.startsWith('/'); hops++) {
    response = await b.portal.get(response.location, false);
  }
  return response;
}

/** Signs in to the portal through Gatehouse's pages: password, then the emailed code unless the device is remembered. */
export async function signInToPortal(
  h: OidcHarness,
  b: PortalBrowser,
  who: Person,
  options: { remember?: boolean; expectOtp?: boolean; from?: string } = {},
): Promise<WebResponse> {
  const { landing } = await viaGatehouse(b, options.from ?? '/login');
  landedOnPage(landing, 'Password');
  return await backAtPortal(b, await signIn(h, b.idp, who, { ...options, stopAt: `${b.portal.base}/` }));
}
