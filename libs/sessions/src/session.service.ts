import { Inject, Injectable, Optional } from '@nestjs/common';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, type AuditEventInput } from '#libs/audit';
import { Clock, Duration } from '#libs/core';
import { WriteBatch, type BatchPart } from '#libs/database';
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

interface SessionRow {
  id: string;
  user_id: string;
  credential_version: number;
  auth_time: Date;
  verifications: VerificationRecord[];
  acr: string;
  created_at: Date;
  last_seen_at: Date;
  idle_expires_at: Date;
  absolute_expires_at: Date;
  current_credential_version: number;
  status: string;
}

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
    const rows = await manager.query<Array<{ id: string }>>(
      `INSERT INTO sessions (token_hash, user_id, credential_version, auth_time, verifications, acr, created_at, last_seen_at,
                             idle_expires_at, absolute_expires_at, ip, user_agent)
       VALUES ($1, $2, $3, $4, $5, $6, $4, $4, $7, $8, $9, $10) RETURNING id`,
      [
        sha256(token),
        userId,
        credentialVersion,
        now,
        JSON.stringify(verifications),
        acr,
        this.policy.idle.after(now),
        this.policy.absolute.after(now),
        meta.ip ?? null,
        meta.userAgent?.slice(0, 512) ?? null,
      ],
    );
    const id = rows[0]!.id;
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
    const now = this.clock.now();
    const p = (value: unknown, type: string) => batch.param(value, type);
    const at = p(now, 'timestamptz');
    const part = batch.add(
      'session',
      `INSERT INTO sessions (id, token_hash, user_id, credential_version, auth_time, verifications, acr, created_at, last_seen_at,
                             idle_expires_at, absolute_expires_at, ip, user_agent)
       SELECT ${p(sessionId, 'uuid')}, ${p(sha256(token), 'bytea')}, u.id, u.credential_version, ${at}, ${p(JSON.stringify(verifications), 'jsonb')},
              ${p(acr, 'text')}, ${at}, ${at}, ${p(this.policy.idle.after(now), 'timestamptz')}, ${p(this.policy.absolute.after(now), 'timestamptz')},
              ${p(meta.ip ?? null, 'inet')}, ${p(meta.userAgent?.slice(0, 512) ?? null, 'text')}
         FROM users u
        WHERE u.id = ${p(user.id, 'uuid')} AND u.status = 'active' AND u.credential_version = ${p(user.credentialVersion, 'int')}
          AND ${WriteBatch.ran(...after)}
       RETURNING id`,
    );
    return { token, sessionId, part, event: this.startedEvent(user.id, sessionId, acr, verifications, meta) };
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
      ip: meta.ip ?? null,
      userAgent: meta.userAgent ?? null,
      requestId: meta.requestId ?? null,
      details: { session_id: sessionId, acr, methods: verifications.map((v) => v.method) },
    };
  }

  /** The live session for a cookie token, refreshing its idle timeout; null when absent, ended, expired or outdated. */
  async resolve(token: string | undefined): Promise<Session | null> {
    if (!token || token.length > 100) return null;
    const now = this.clock.now();
    const rows = await this.dataSource.query<SessionRow[]>(
      `SELECT s.*, u.credential_version AS current_credential_version, u.status
         FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = $1 AND s.ended_at IS NULL`,
      [sha256(token)],
    );
    const row = rows[0];
    if (!row) return null;
    let reason: string | null = null;
    if (row.idle_expires_at <= now) reason = 'idle_timeout';
    else if (row.absolute_expires_at <= now) reason = 'absolute_timeout';
    else if (row.current_credential_version !== row.credential_version) reason = 'credentials_changed';
    else if (row.status !== 'active') reason = 'user_disabled';
    if (reason) {
      await this.dataSource.query(`UPDATE sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL`, [
        row.id,
        now,
        reason,
      ]);
      return null;
    }
    const idle = this.policy.idle.after(now);
    await this.dataSource.query(`UPDATE sessions SET last_seen_at = $2, idle_expires_at = LEAST($3, absolute_expires_at) WHERE id = $1`, [
      row.id,
      now,
      idle,
    ]);
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
      const rows = await manager.query<Array<{ verifications: VerificationRecord[] }>>(
        `SELECT verifications FROM sessions WHERE id = $1 AND ended_at IS NULL FOR UPDATE`,
        [sessionId],
      );
      if (!rows[0]) return null;
      const verifications = [...rows[0].verifications, record];
      await manager.query(`UPDATE sessions SET verifications = $2, acr = $3, token_hash = $4 WHERE id = $1`, [
        sessionId,
        JSON.stringify(verifications),
        acrOf(verifications) ?? 'none',
        sha256(token),
      ]);
      await this.audit.record(event, manager);
      return token;
    });
  }

  async end(sessionId: string, reason: string, meta: RequestMeta = {}): Promise<void> {
    const [ended] = await this.dataSource.query<[Array<{ user_id: string }>, number]>(
      `UPDATE sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL RETURNING user_id`,
      [sessionId, this.clock.now(), reason],
    );
    const userId = ended[0]?.user_id;
    if (userId) {
      await this.audit.record({
        type: 'session.ended',
        actor: { type: 'user', id: userId },
        subject: { type: 'user', id: userId },
        ip: meta.ip ?? null,
        userAgent: meta.userAgent ?? null,
        requestId: meta.requestId ?? null,
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
    const [, count] = await manager.query<[unknown[], number]>(
      `UPDATE sessions SET credential_version = $2 WHERE id = $1 AND ended_at IS NULL`,
      [sessionId, credentialVersion],
    );
    return count > 0;
  }

  /** Ends every live session of a user (optionally but one); returns how many. */
  async endAllForUser(
    userId: string,
    reason: string,
    exceptSessionId?: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<number> {
    const [, count] = await manager.query<[unknown[], number]>(
      `UPDATE sessions SET ended_at = $2, end_reason = $3 WHERE user_id = $1 AND ended_at IS NULL AND ($4::uuid IS NULL OR id <> $4::uuid)`,
      [userId, this.clock.now(), reason, exceptSessionId ?? null],
    );
    return count;
  }
}
