import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import type { DataSource } from 'typeorm';
import { foldKey } from '#libs/core';
import { skeletonOf } from '#libs/identity';

export interface WebResponse {
  status: number;
  html: string;
  location: string | null;
  headers: Headers;
}

/**
 * A minimal browser for server-rendered pages: keeps cookies, follows redirects, and
 * submits forms with the page's CSRF token, like a person with JavaScript off.
 */
export class WebClient {
  readonly cookies = new Map<string, string>();
  /** Every Set-Cookie line received, redirects included, for checks of cookie attributes. */
  readonly setCookies: string[] = [];
  /** Sent with every request, e.g. `X-Forwarded-For` to appear from another address (the app trusts the loopback proxy). */
  readonly extraHeaders: Record<string, string> = {};
  last: WebResponse | null = null;

  constructor(
    readonly base: string,
    private readonly userAgent = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  ) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private absorb(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      this.setCookies.push(line);
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/iu.test(line) || /max-age=0/iu.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, decodeURIComponent(value));
    }
  }

  async request(method: string, path: string, body?: URLSearchParams, follow = true): Promise<WebResponse> {
    let response = await fetch(new URL(path, this.base), {
      method,
      redirect: 'manual',
      headers: {
        ...this.extraHeaders,
        'User-Agent': this.userAgent,
        Cookie: this.cookieHeader(),
        ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded', Origin: this.base } : {}),
      },
      ...(body ? { body } : {}),
    });
    this.absorb(response.headers);
    let hops = 0;
    while (follow && [301, 302, 303, 307].includes(response.status) && hops++ < 5) {
      const location = response.headers.get('location')!;
      response = await fetch(new URL(location, this.base), {
        redirect: 'manual',
        headers: { ...this.extraHeaders, 'User-Agent': this.userAgent, Cookie: this.cookieHeader() },
      });
      this.absorb(response.headers);
    }
    this.last = {
      status: response.status,
      html: await response.text(),
      location: response.headers.get('location'),
      headers: response.headers,
    };
    return this.last;
  }

  get(path: string, follow = true): Promise<WebResponse> {
    return this.request('GET', path, undefined, follow);
  }

  /** The CSRF token of the last page. */
  csrf(): string {
    const match = /name="csrf" value="([^"]+)"/u.exec(this.last?.html ?? '');
    if (!match) throw new Error(`no CSRF token on the last page (status ${this.last?.status}):\n${this.last?.html.slice(0, 500)}`);
    return match[1]!;
  }

  /** Submits a form of the last page, with its CSRF token. */
  post(path: string, fields: Record<string, string>, follow = true): Promise<WebResponse> {
    return this.request('POST', path, new URLSearchParams({ csrf: this.csrf(), ...fields }), follow);
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(`gh_${name}`);
  }
}

/** Visible text of a page, for assertions. */
export function text(html: string): string {
  return html
    .replace(/<[^>]+>/gu, ' ')
    .replace(/&#39;/gu, "'")
    .replace(/&quot;/gu, '"')
    .replace(/&amp;/gu, '&')
    .replace(/\s+/gu, ' ')
    .trim();
}

export async function seedOrganization(ds: DataSource, slug: string, policy: Record<string, unknown> = {}): Promise<string> {
  const [org] = await ds.query<Array<{ id: string }>>(`INSERT INTO organizations (slug, name) VALUES ($1, $1) RETURNING id`, [slug]);
  await ds.query(`INSERT INTO organization_policies (organization_id) VALUES ($1)`, [org!.id]);
  for (const [column, value] of Object.entries(policy)) {
    await ds.query(`UPDATE organization_policies SET ${column} = $2 WHERE organization_id = $1`, [org!.id, value]);
  }
  return org!.id;
}

export async function seedLegacyAccount(
  ds: DataSource,
  organizationId: string,
  a: { legacyUserId: string; password: string; firstName?: string; lastName?: string; email: string; mobile?: string | null },
): Promise<string> {
  const hash = await bcrypt.hash(a.password, 4);
  const [row] = await ds.query<Array<{ id: string }>>(
    `INSERT INTO legacy_accounts (organization_id, legacy_user_id, legacy_user_id_key, first_name, last_name, email, email_key, mobile, password_hash, hash_format)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'bcrypt') RETURNING id`,
    [
      organizationId,
      a.legacyUserId,
      foldKey(a.legacyUserId),
      a.firstName ?? 'Ada',
      a.lastName ?? 'Lovelace',
      a.email,
      a.email.toLowerCase(),
      a.mobile ?? null,
      hash,
    ],
  );
  return row!.id;
}

const FAST = { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 } as const;

export async function seedUser(
  ds: DataSource,
  organizationId: string,
  u: {
    enterpriseId: string;
    password: string;
    securityCode?: string;
    email: string;
    mobile?: string | null;
    mobileVerified?: boolean;
    status?: string;
  },
): Promise<string> {
  const [row] = await ds.query<Array<{ id: string }>>(
    `INSERT INTO users (organization_id, enterprise_id, enterprise_id_key, enterprise_id_skeleton, first_name, last_name, email, email_key, email_verified_at,
                        mobile, mobile_verified_at, password_hash, security_code_hash, status)
     VALUES ($1, $2, $3, $4, 'Grace', 'Hopper', $5, $6, now(), $7, $8, $9, $10, $11) RETURNING id`,
    [
      organizationId,
      u.enterpriseId,
      foldKey(u.enterpriseId),
      skeletonOf(u.enterpriseId),
      u.email,
      u.email.toLowerCase(),
      u.mobile ?? null,
      u.mobile && u.mobileVerified !== false ? new Date() : null,
      await argon2.hash(u.password, FAST),
      await argon2.hash(u.securityCode ?? '27182818', FAST),
      u.status ?? 'active',
    ],
  );
  return row!.id;
}
