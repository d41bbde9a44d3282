import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { APP_CONFIG, SECRETS, type AppConfig, type Secrets } from '#libs/config';
import { CookieJar, requestMeta } from './cookies.js';

/**
 * Whether a form post comes from a page of this app: its Origin header, when the browser sends
 * one, names this host and port (or the origin of `alsoAllowed`). An `Origin: null` is refused.
 */
export function isSameOrigin(req: Request, alsoAllowed?: string): boolean {
  const origin = req.get('origin');
  if (origin === undefined) return true;
  try {
    const url = new URL(origin);
    return url.host === req.get('host') || (alsoAllowed !== undefined && url.origin === new URL(alsoAllowed).origin);
  } catch {
    return false;
  }
}

/**
 * One app's web plumbing, which each app extends with its own cookies and checks: its cookie
 * jar (Secure and `__Host-` names when the issuer is https) and who sent a request, for audit events.
 */
@Injectable()
export class AppWeb {
  readonly cookies: CookieJar;

  constructor(
    @Inject(APP_CONFIG) readonly config: AppConfig,
    @Inject(SECRETS) secrets: Secrets,
  ) {
    this.cookies = new CookieJar(config.issuer.startsWith('https://'), secrets.cookie);
  }

  meta(req: Request): ReturnType<typeof requestMeta> {
    return requestMeta(req);
  }
}
