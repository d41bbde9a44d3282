import { Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { createHmac } from 'node:crypto';
import { SECRETS, type Secrets } from '#libs/config';
import { CookieJar } from '#libs/web';
import type { RequestMeta } from './payment-details.js';
import { PORTAL_SETTINGS, type PortalSettings } from './settings.js';

/**
 * The portal's cookie, CSRF tokens and request checks. Its cookie name differs from every
 * Gatehouse cookie: browsers share cookies between ports of one host (localhost:3000 and
 * localhost:3002), so a `gh_session` here would overwrite Gatehouse's.
 */
@Injectable()
export class PortalWeb {
  readonly cookieName: string;
  private readonly secure: boolean;
  /** Only its CSRF helpers: an HMAC of the session token under the portal's own key. */
  private readonly tokens: CookieJar;
  readonly origin: string;

  constructor(@Inject(PORTAL_SETTINGS) settings: PortalSettings, @Inject(SECRETS) secrets: Secrets) {
    const base = new URL(settings.baseUrl);
    this.origin = base.origin;
    this.secure = base.protocol === 'https:';
    this.cookieName = this.secure ? '__Host-portal_session' : 'portal_session';
    this.tokens = new CookieJar(this.secure, createHmac('sha256', secrets.cookie).update('gatehouse:demo-portal').digest());
  }

  session(req: Request): string | undefined {
    const value = (req.cookies as Record<string, unknown> | undefined)?.[this.cookieName];
    return typeof value === 'string' && value.length <= 100 ? value : undefined;
  }

  setSession(res: Response, token: string): void {
    res.cookie(this.cookieName, token, { httpOnly: true, secure: this.secure, sameSite: 'lax', path: '/' });
  }

  clearSession(res: Response): void {
    res.clearCookie(this.cookieName, { httpOnly: true, secure: this.secure, sameSite: 'lax', path: '/' });
  }

  csrf(sessionToken: string): string {
    return this.tokens.csrf(`portal:${sessionToken}`);
  }

  /** A form post: the CSRF token of this session, sent from the portal's own pages. */
  formAllowed(req: Request, sessionToken: string | undefined, body: Record<string, unknown>): boolean {
    const origin = req.get('origin');
    const sameOrigin = origin === undefined || origin === this.origin || (origin !== 'null' && URL.parse(origin)?.host === req.get('host'));
    return sameOrigin && sessionToken !== undefined && this.tokens.checkCsrf(`portal:${sessionToken}`, body.csrf);
  }

  /** Whether the request reached the portal by another host name than its redirect URIs use (cookies would not follow). */
  otherHost(req: Request): boolean {
    return req.get('host') !== new URL(this.origin).host;
  }

  meta(req: Request): RequestMeta {
    const id = (req as Request & { id?: unknown }).id;
    return { ip: req.ip ?? null, userAgent: req.get('user-agent') ?? null, requestId: typeof id === 'string' ? id : null };
  }
}
