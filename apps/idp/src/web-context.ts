import { Injectable, Module } from '@nestjs/common';
import type { Request } from 'express';
import { AppWeb, isSameOrigin } from '#libs/web';

/** Per-app web helpers: cookie jar and request metadata for audit entries. */
@Injectable()
export class WebContext extends AppWeb {
  /** The CSRF token of this browser's session (what its forms carry in `csrf`). */
  sessionCsrf(req: Request): string {
    return this.cookies.csrf(this.cookies.get(req, 'session') ?? '');
  }

  /** Same-origin check for form posts (in addition to the CSRF token): this host, or the issuer's origin. */
  sameOrigin(req: Request): boolean {
    return isSameOrigin(req, this.config.issuer);
  }
}

/** The IdP's web plumbing, for its controllers and for the OIDC module's session bridge. */
@Module({ providers: [WebContext], exports: [WebContext] })
export class IdpWebModule {}
