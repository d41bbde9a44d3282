import type { INestApplication } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { createHttpApp } from '#libs/platform';
import { DemoPortalModule, type DemoPortalOptions } from './demo-portal.module.js';
import { defaultPortalSettings } from './settings.js';

/**
 * The portal's forms (sign-out, payment details once the step-up has lapsed) answer with a
 * redirect to Gatehouse, and browsers hold that redirect to the page's CSP `form-action`:
 * the issuer's origin is allowed next to 'self'. Nothing else of helmet's policy changes.
 */
function allowIssuerFormAction(issuer: string) {
  const origin = new URL(issuer).origin;
  return (_req: Request, res: Response, next: NextFunction) => {
    const csp = res.getHeader('content-security-policy');
    if (typeof csp === 'string')
      res.setHeader('content-security-policy', csp.replace(/form-action 'self'/u, `form-action 'self' ${origin}`));
    next();
  };
}

export async function createDemoPortalApp(options: DemoPortalOptions): Promise<INestApplication> {
  const app = await createHttpApp(DemoPortalModule.forRoot(options), options.config);
  app.use(allowIssuerFormAction((options.portal ?? defaultPortalSettings(options.config)).issuer));
  return app;
}
