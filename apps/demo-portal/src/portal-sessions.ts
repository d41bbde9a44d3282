import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Clock, Duration } from '#libs/core';
import type { PaymentDetailsForm } from './iban.js';
import type { IdClaims } from './step-up.js';
import {
  deleteExpiredPortalSessions,
  deletePortalSession,
  insertPortalSession,
  insertSignedInPortalSession,
  portalSessionByToken,
  setPortalSessionPending,
  takePortalSessionDraft,
  takePortalSessionPending,
  updatePortalSessionProfile,
} from './portal.queries.js';

/** What the portal shows about the person, from Gatehouse's userinfo. */
export interface Profile {
  name: string | null;
  enterpriseId: string | null;
  organization: string | null;
  email: string | null;
}

/** An authorization request on its way through Gatehouse: what its callback is checked against. */
export interface PendingAuthorization {
  purpose: 'signin' | 'step_up';
  state: string;
  nonce: string;
  codeVerifier: string;
  /** max_age sent with it (step-up), for openid-client's own auth_time check. */
  maxAge?: number;
  /** Local path to go to afterwards. */
  returnTo: string;
  /** When it started (portal clock, ms). */
  startedAt: number;
  /** A payment-details form submitted when the step-up had lapsed: shown again afterwards, not saved. */
  draft?: PaymentDetailsForm;
}

export interface PortalSession {
  token: string;
  sub: string | null;
  profile: Profile | null;
  claims: IdClaims | null;
  idToken: string | null;
  pending: PendingAuthorization | null;
  /** A form kept across a step-up, to show again once. */
  draft: PendingAuthorization['draft'] | null;
  expiresAt: Date;
}

/** A validated sign-in or step-up result. */
export interface Identity {
  claims: IdClaims;
  profile: Profile;
  idToken: string;
}

export interface PortalSessionRow {
  sub: string | null;
  profile: Profile | null;
  id_claims: IdClaims | null;
  id_token: string | null;
  pending: PendingAuthorization | null;
  draft: PendingAuthorization['draft'] | null;
  expires_at: Date;
}

/** An anonymous session only carries a sign-in on its way; a signed-in one lasts a working day. */
export const ANONYMOUS_LIFETIME = Duration.ofMinutes(30);
export const SIGNED_IN_LIFETIME = Duration.ofHours(8);
/** How long a callback may take to come back from Gatehouse. */
export const PENDING_LIFETIME = Duration.ofMinutes(30);

const hash = (token: string) => createHash('sha256').update(token, 'utf8').digest();

/**
 * The portal's own server-side sessions in PostgreSQL (so any number of portal nodes can
 * serve a browser). The cookie holds a random 256-bit token; only its SHA-256 is stored.
 * Expiry follows the injected Clock.
 */
@Injectable()
export class PortalSessions {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  async resolve(token: string | undefined): Promise<PortalSession | null> {
    if (!token || !/^[A-Za-z0-9_-]{43}$/u.test(token)) return null;
    const rows = await portalSessionByToken(this.dataSource, [hash(token), this.clock.now()]);
    const r = rows[0];
    if (!r) return null;
    return {
      token,
      sub: r.sub,
      profile: r.profile,
      claims: r.id_claims,
      idToken: r.id_token,
      pending: r.pending,
      draft: r.draft,
      expiresAt: r.expires_at,
    };
  }

  /** A new anonymous session (expired ones are purged on the way). */
  async start(): Promise<string> {
    const now = this.clock.now();
    await deleteExpiredPortalSessions(this.dataSource, [now]);
    const token = randomBytes(32).toString('base64url');
    await insertPortalSession(this.dataSource, [hash(token), now, ANONYMOUS_LIFETIME.after(now)]);
    return token;
  }

  async setPending(token: string, pending: PendingAuthorization): Promise<void> {
    await setPortalSessionPending(this.dataSource, [hash(token), pending]);
  }

  /** Takes the pending authorization out of the session (single use: a replayed callback finds none). */
  async takePending(token: string): Promise<PendingAuthorization | null> {
    // TypeORM answers UPDATE … RETURNING on PostgreSQL with [rows, rowCount].
    const [rows] = await takePortalSessionPending(this.dataSource, [hash(token), this.clock.now()]);
    const pending = rows[0]?.pending ?? null;
    if (!pending || this.clock.now().getTime() - pending.startedAt > PENDING_LIFETIME.milliseconds) return null;
    return pending;
  }

  /** Signs the browser in: the old session (anonymous, or another person's) ends and a new token is issued. */
  async signIn(oldToken: string, identity: Identity): Promise<string> {
    const now = this.clock.now();
    const token = randomBytes(32).toString('base64url');
    await this.dataSource.transaction(async (manager) => {
      await deletePortalSession(manager, [hash(oldToken)]);
      await insertSignedInPortalSession(manager, [
        hash(token),
        identity.claims.sub,
        identity.profile,
        identity.claims,
        identity.idToken,
        now,
        SIGNED_IN_LIFETIME.after(now),
      ]);
    });
    return token;
  }

  /**
   * A completed step-up: the newer ID token's claims replace the session's (same person
   * only; the caller checked), with the form draft kept across it, if any.
   */
  async stepUp(token: string, identity: Identity, draft: PendingAuthorization['draft'] | undefined): Promise<void> {
    await updatePortalSessionProfile(this.dataSource, [
      hash(token),
      identity.profile,
      identity.claims,
      identity.idToken,
      identity.claims.sub,
      draft ?? null,
    ]);
  }

  /** The kept form draft, once. */
  async takeDraft(token: string): Promise<PendingAuthorization['draft'] | null> {
    const [rows] = await takePortalSessionDraft(this.dataSource, [hash(token)]);
    return rows[0]?.draft ?? null;
  }

  async end(token: string): Promise<void> {
    await deletePortalSession(this.dataSource, [hash(token)]);
  }
}
