import { Inject, Injectable, Optional } from '@nestjs/common';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, type AuditEventInput, auditMeta } from '#libs/audit';
import { Clock, Duration } from '#libs/core';
import type { BatchPart, WriteBatch } from '#libs/database';
import {
  addSessionPart,
  endSession,
  endSessionFor,
  endSessionsOfUser,
  insertSession,
  sessionVerificationsForUpdate,
  setSessionAssurance,
  setSessionCredentialVersion,
  touchSession,
  unendedSessionByTokenHash,
  type NewSession,
} from './sessions.queries.js';
import { acrOf, type VerificationRecord } from './verification.js';

export interface SessionPolicy {
  idle: Duration;
  absolute: Duration;
}

export const SESSION_POLICY = Symbol('SESSION_POLICY');

export const DEFAULT_SESSION_POLICY: SessionPolicy = { idle: Duration.ofMinutes(30), absolute: Duration.ofHours(12) };

export interface Session {
  id: string;
  userId: string;
  credentialVersion: number;
  authTime: Date;
  verifications: VerificationRecord[];
  acr: string;
  createdAt: Date;
  lastSeenAt: Date;
}

export interface RequestMeta {
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/**
 * Server-side sessions in PostgreSQL: only the SHA-256 of the cookie token is stored, a
 * new token is minted at every sign-in (no fixation), idle and absolute timeouts come
 * from config, and a session dies when the user's credential version moves on or the
 * user is disabled.
 */
@Injectable()
export class SessionService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    @Optional() @Inject(SESSION_POLICY) private readonly policy: SessionPolicy = DEFAULT_SESSION_POLICY,
  ) {}

  async create(
    userId: string,
    credentialVersion: number,
    verifications: VerificationRecord[],
    meta: RequestMeta,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<{ token: string; session: Session }> {
    const acr = acrOf(verifications);
    if (!acr) throw new Error('a session needs a password and a second factor');
    const token = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    const id = await insertSession(manager, { id: userId, credentialVersion }, this.newSession(token, verifications, acr, now, meta));
    await this.audit.record(this.startedEvent(userId, id, acr, verifications, meta), manager);
    return {
      token,
      session: { id, userId, credentialVersion, authTime: now, verifications, acr, createdAt: now, lastSeenAt: now },
    };
  }

  /**
   * Adds the creation of a session to a batch: a new random token (only its hash stored), for
   * the user as they are in the database when the batch runs. The row is written only if the
   * user is still active with this credential version and every part in `after` wrote, so a
   * sign-in that races a disable or a password reset starts no session. Returns the token,
   * the part (check `result.ran(part)`) and the `session.started` audit event, for the caller
   * to append to the same batch.
   */
  createIn(
    batch: WriteBatch,
    user: { id: string; credentialVersion: number },
    verifications: VerificationRecord[],
    meta: RequestMeta,
    after: ReadonlyArray<BatchPart | undefined> = [],
  ): { token: string; sessionId: string; part: BatchPart; event: AuditEventInput } {
    const acr = acrOf(verifications);
    if (!acr) throw new Error('a session needs a password and a second factor');
    const token = randomBytes(32).toString('base64url');
    const sessionId = randomUUID();
    const part = addSessionPart(batch, sessionId, user, this.newSession(token, verifications, acr, this.clock.now(), meta), after);
    return { token, sessionId, part, event: this.startedEvent(user.id, sessionId, acr, verifications, meta) };
  }

  /** A new session's row: its token's hash, and its timeouts from now. */
  private newSession(token: string, verifications: VerificationRecord[], acr: string, now: Date, meta: RequestMeta): NewSession {
    return {
      tokenHash: sha256(token),
      verifications,
      acr,
      now,
      idleExpiresAt: this.policy.idle.after(now),
      absoluteExpiresAt: this.policy.absolute.after(now),
      ip: meta.ip ?? null,
      userAgent: meta.userAgent?.slice(0, 512) ?? null,
    };
  }

  private startedEvent(
    userId: string,
    sessionId: string,
    acr: string,
    verifications: VerificationRecord[],
    meta: RequestMeta,
  ): AuditEventInput {
    return {
      type: 'session.started',
      actor: { type: 'user', id: userId },
      subject: { type: 'user', id: userId },
      ...auditMeta(meta),
      details: { session_id: sessionId, acr, methods: verifications.map((v) => v.method) },
    };
  }

  /** The live session for a cookie token, refreshing its idle timeout; null when absent, ended, expired or outdated. */
  async resolve(token: string | undefined): Promise<Session | null> {
    if (!token || token.length > 100) return null;
    const now = this.clock.now();
    const row = await unendedSessionByTokenHash(this.dataSource, sha256(token));
    if (!row) return null;
    let reason: string | null = null;
    if (row.idle_expires_at <= now) reason = 'idle_timeout';
    else if (row.absolute_expires_at <= now) reason = 'absolute_timeout';
    else if (row.current_credential_version !== row.credential_version) reason = 'credentials_changed';
    else if (row.status !== 'active') reason = 'user_disabled';
    if (reason) {
      await endSessionFor(this.dataSource, row.id, now, reason);
      return null;
    }
    await touchSession(this.dataSource, row.id, now, this.policy.idle.after(now));
    return {
      id: row.id,
      userId: row.user_id,
      credentialVersion: row.credential_version,
      authTime: row.auth_time,
      verifications: row.verifications,
      acr: row.acr,
      createdAt: row.created_at,
      lastSeenAt: now,
    };
  }

  /**
   * A rise in assurance (step-up): adds a fresh verification to a live session and renews its
   * token, in one transaction with `event` (its audit entry). The old token's hash is replaced, so
   * the token the session had at the lower level (which may have leaked, or been planted) no longer
   * resolves; the session keeps its id, and with it what is bound to it (flows, the OIDC
   * provider's sessions, back-channel logout). Returns the new token, or null when the session
   * ended meanwhile (nothing changes then).
   */
  async raiseAssurance(sessionId: string, record: VerificationRecord, event: AuditEventInput): Promise<string | null> {
    const token = randomBytes(32).toString('base64url');
    return await this.dataSource.transaction(async (manager) => {
      const current = await sessionVerificationsForUpdate(manager, sessionId);
      if (!current) return null;
      const verifications = [...current, record];
      await setSessionAssurance(manager, sessionId, verifications, acrOf(verifications) ?? 'none', sha256(token));
      await this.audit.record(event, manager);
      return token;
    });
  }

  async end(sessionId: string, reason: string, meta: RequestMeta = {}): Promise<void> {
    const userId = await endSession(this.dataSource, sessionId, this.clock.now(), reason);
    if (userId) {
      await this.audit.record({
        type: 'session.ended',
        actor: { type: 'user', id: userId },
        subject: { type: 'user', id: userId },
        ...auditMeta(meta),
        details: { session_id: sessionId, reason },
      });
    }
  }

  /**
   * Keeps one live session valid across a credential change made in it: it takes the
   * user's new credential version, so `resolve` does not end it as outdated. Returns false
   * when the session has ended meanwhile.
   */
  async adoptCredentialVersion(
    sessionId: string,
    credentialVersion: number,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<boolean> {
    return (await setSessionCredentialVersion(manager, sessionId, credentialVersion)) > 0;
  }

  /** Ends every live session of a user (optionally but one); returns how many. */
  async endAllForUser(
    userId: string,
    reason: string,
    exceptSessionId?: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<number> {
    return await endSessionsOfUser(manager, userId, this.clock.now(), reason, exceptSessionId ?? null);
  }
}
