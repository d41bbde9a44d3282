import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { APP_CONFIG, SECRETS, type AppConfig, type Secrets } from '#libs/config';
import type { RequestMeta } from '#libs/sessions';
import { CookieJar, requestMeta } from '#libs/web';

/** Per-app web helpers: cookie jar and request metadata for audit entries. */
@Injectable()
export class WebContext {
  readonly cookies: CookieJar;

  constructor(
    @Inject(APP_CONFIG) readonly config: AppConfig,
    @Inject(SECRETS) secrets: Secrets,
  ) {
    this.cookies = new CookieJar(config.issuer.startsWith('https://'), secrets.cookie);
  }

  meta(req: Request): RequestMeta {
    return requestMeta(req);
  }

  /** The CSRF token of this browser's session (what its forms carry in `csrf`). */
  sessionCsrf(req: Request): string {
    return this.cookies.csrf(this.cookies.get(req, 'session') ?? '');
  }

  /** Same-origin check for form posts (in addition to the CSRF token). */
  sameOrigin(req: Request): boolean {
    const origin = req.get('origin');
    if (!origin || origin === 'null') return origin === undefined;
    const host = req.get('host');
    try {
      return new URL(origin).host === host || new URL(origin).origin === new URL(this.config.issuer).origin;
    } catch {
      return false;
    }
  }
}
