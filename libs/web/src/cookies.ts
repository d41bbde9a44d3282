import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { FlowHandle } from '../../flows/src/index.js';

/** Cookies that carry a flow handle (`<flow id>.<binding token>`). */
export type FlowCookieName = 'signin' | 'enroll' | 'recover' | 'admin_signin';

/** `admin_*`: the support console's own cookies (sent to both ports of a host, so they are named apart from the IdP's). */
export type CookieName = FlowCookieName | 'session' | 'device' | 'admin_session' | 'admin_pre';

/**
 * Cookie names and attributes: `__Host-` prefixed, Secure, HttpOnly, SameSite=Lax when the
 * issuer is https; the same without the prefix and Secure flag in development over http.
 */
export class CookieJar {
  constructor(
    private readonly secure: boolean,
    private readonly key: Buffer,
  ) {}

  name(cookie: CookieName): string {
    return this.secure ? `__Host-gh_${cookie}` : `gh_${cookie}`;
  }

  get(req: Request, cookie: CookieName): string | undefined {
    const value = (req.cookies as Record<string, unknown> | undefined)?.[this.name(cookie)];
    return typeof value === 'string' && value.length <= 300 ? value : undefined;
  }

  set(res: Response, cookie: CookieName, value: string, maxAgeMs?: number): void {
    res.cookie(this.name(cookie), value, {
      httpOnly: true,
      secure: this.secure,
      sameSite: 'lax',
      path: '/',
      ...(maxAgeMs !== undefined ? { maxAge: maxAgeMs } : {}),
    });
  }

  clear(res: Response, cookie: CookieName): void {
    res.clearCookie(this.name(cookie), { httpOnly: true, secure: this.secure, sameSite: 'lax', path: '/' });
  }

  flow(req: Request, cookie: FlowCookieName): FlowHandle | undefined {
    const value = this.get(req, cookie);
    const dot = value?.indexOf('.') ?? -1;
    if (!value || dot <= 0) return undefined;
    return { id: value.slice(0, dot), token: value.slice(dot + 1) };
  }

  setFlow(res: Response, cookie: FlowCookieName, handle: FlowHandle): void {
    this.set(res, cookie, `${handle.id}.${handle.token}`);
  }

  /** A CSRF token bound to a secret the browser holds in an HttpOnly cookie (flow or session token). */
  csrf(binding: string): string {
    return createHmac('sha256', this.key).update(`csrf:${binding}`).digest('base64url');
  }

  checkCsrf(binding: string | undefined, token: unknown): boolean {
    if (!binding || typeof token !== 'string' || token.length > 100) return false;
    const expected = Buffer.from(this.csrf(binding));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/** Who sent a request, for audit events: client IP (Express's verdict behind a trusted proxy), User-Agent and request id. */
export function requestMeta(req: Request): {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  /** The browser's languages: the language of messages to a person not yet enrolled (and theirs once enrolled). */
  acceptLanguage: string | null;
} {
  const id = (req as Request & { id?: unknown }).id;
  return {
    ip: req.ip ?? null,
    userAgent: req.get('user-agent') ?? null,
    requestId: typeof id === 'string' ? id : null,
    acceptLanguage: req.get('accept-language')?.slice(0, 500) ?? null,
  };
}
