import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { FlowHandle } from '#libs/flows';

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

  /**
   * The secret this browser holds in a flow cookie before any flow exists: the binding token of
   * the flow it holds, or a bare random token (no flow id), set now when the cookie is missing.
   * A page that only shows a form binds its CSRF token to it, so viewing the page writes nothing
   * to the database; the flow is created when the form is submitted.
   */
  formBinding(req: Request, res: Response, cookie: FlowCookieName): string {
    const existing = this.binding(req, cookie);
    if (existing) {
      // Held by a flow: from now on the bare token, so the page's form starts afresh (the old flow simply expires).
      if (existing !== this.get(req, cookie)) this.set(res, cookie, existing);
      return existing;
    }
    const value = randomBytes(32).toString('base64url');
    this.set(res, cookie, value);
    return value;
  }

  /** The binding token a flow cookie holds (of a flow, or bare), if any. */
  binding(req: Request, cookie: FlowCookieName): string | undefined {
    const value = this.get(req, cookie);
    if (!value) return undefined;
    const token = value.slice(value.indexOf('.') + 1);
    return token.length >= 32 ? token : undefined;
  }

  /**
   * A form token: a small context the form must carry back (e.g. where the sign-in returns to),
   * sealed with an HMAC over the purpose and this browser's binding token. It is the form's CSRF
   * token as well: only a page this browser got from us holds one that opens with its cookie.
   */
  sealForm(binding: string, purpose: string, context: Record<string, unknown>): string {
    const payload = Buffer.from(JSON.stringify(context)).toString('base64url');
    return `${payload}.${this.formMac(binding, purpose, payload)}`;
  }

  /** The context of a form token sealed for this purpose and binding; undefined when it does not open. */
  openForm(binding: string | undefined, purpose: string, token: unknown): Record<string, unknown> | undefined {
    if (!binding || typeof token !== 'string' || token.length > 6000) return undefined;
    const dot = token.indexOf('.');
    if (dot <= 0) return undefined;
    const payload = token.slice(0, dot);
    const expected = Buffer.from(this.formMac(binding, purpose, payload));
    const given = Buffer.from(token.slice(dot + 1));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const context: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      return context && typeof context === 'object' && !Array.isArray(context) ? (context as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether a submitted CSRF value is a form token (sealed context) rather than a flow's CSRF token. */
  static isFormToken(token: unknown): boolean {
    return typeof token === 'string' && token.includes('.');
  }

  private formMac(binding: string, purpose: string, payload: string): string {
    return createHmac('sha256', this.key).update(`form:${purpose}:${binding}:${payload}`).digest('base64url');
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
