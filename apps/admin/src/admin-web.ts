import { Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { randomBytes } from 'node:crypto';
import { AppWeb, isSameOrigin } from '#libs/web';

/**
 * The console's web plumbing: its cookies (`__Host-gh_admin_*` over https, `gh_admin_*` over
 * plain http in development; never the IdP's names, since browsers send a host's cookies
 * to every port), CSRF tokens, the same-origin check and request metadata for audit events.
 *
 * CSRF tokens are HMACs (COOKIE_SECRET) of a secret the browser holds in an HttpOnly
 * cookie: the session token once signed in, before that a random `admin_pre` cookie.
 */
@Injectable()
export class AdminWeb extends AppWeb {
  /** A form post must come from a page of this console: Origin (when the browser sends one) names this host and port. */
  sameOrigin(req: Request): boolean {
    return isSameOrigin(req);
  }

  /** The signed-in session's cookie token, if any. */
  sessionToken(req: Request): string | undefined {
    return this.cookies.get(req, 'admin_session');
  }

  /** The pre-session secret; set on pages that show a form to someone not signed in. */
  ensurePre(req: Request, res: Response): string {
    const existing = this.cookies.get(req, 'admin_pre');
    if (existing && existing.length >= 32) return existing;
    const value = randomBytes(32).toString('base64url');
    this.cookies.set(res, 'admin_pre', value);
    (req.cookies as Record<string, string>)[this.cookies.name('admin_pre')] = value;
    return value;
  }

  /** The CSRF token for forms on this page: bound to the session when signed in, else to the pre-session cookie. */
  csrf(req: Request, res: Response): string {
    const session = (req as Request & { staffSession?: { token: string } }).staffSession;
    return this.cookies.csrf(session ? session.token : this.ensurePre(req, res));
  }
}
