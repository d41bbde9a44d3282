import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, auditMeta } from '#libs/audit';
import { Clock, isUuid } from '#libs/core';
// Not the lib's index: nothing here needs oidc-provider itself.
import { revokeAccountGrants, revokeSessionGrants } from '#libs/oidc-store';
import { SessionService, deviceName, endSessionOfUser, openSessionsWithApps, type RequestMeta } from '#libs/sessions';

/** One place a person is signed in, as their account page shows it (never a token or its hash). */
export interface SignedInSession {
  id: string;
  /** The session asking (this browser, or the app's own token). */
  current: boolean;
  /** "Chrome 131 on macOS", from the User-Agent it signed in with. */
  device: string;
  /** The address it signed in from. */
  ip: string | null;
  signedInAt: Date;
  lastSeenAt: Date;
  /** The relying apps (by name) it signed in to through OpenID Connect. */
  apps: string[];
}

/** Why a session a person ends themselves ended (none is quiet: relying apps get their back-channel logout). */
export type OwnEndReason = 'signed_out' | 'ended_by_user';

/**
 * The person's own sessions: where they are signed in, and signing one (or all) of them out.
 * Ending a session revokes, in the same transaction, what the OpenID provider issued in it (its
 * grants with their codes and tokens), so a relying app's tokens stop at once rather than when
 * the logout queue runs; the queue, filled by the session's end, then tells the relying apps.
 * Each end is audited with what it revoked.
 */
@Injectable()
export class AccountSessionsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly sessions: SessionService,
  ) {}

  /** The person's live sessions, the most recently seen first. */
  async list(userId: string, currentSessionId: string | null): Promise<SignedInSession[]> {
    const rows = await openSessionsWithApps(this.dataSource, [userId, this.clock.now()]);
    return rows.map((r) => ({
      id: r.id,
      current: r.id === currentSessionId,
      device: deviceName(r.user_agent),
      ip: r.ip,
      signedInAt: r.created_at,
      lastSeenAt: r.last_seen_at,
      apps: r.apps,
    }));
  }

  /**
   * Ends one of the person's own live sessions and revokes its OIDC grants, in one transaction.
   * False when `sessionId` is not a live session of `userId` (another person's looks the same as
   * none): nothing changes then.
   */
  async endOwn(userId: string, sessionId: string, reason: OwnEndReason, meta: RequestMeta): Promise<boolean> {
    if (!isUuid(sessionId)) return false;
    return await this.dataSource.transaction(async (m) => {
      const now = this.clock.now();
      const [ended] = await endSessionOfUser(m, [sessionId, userId, now, reason]);
      if (ended.length === 0) return false;
      const revoked = await revokeSessionGrants(m, sessionId, userId, now);
      await this.audit.record(
        {
          type: 'session.ended',
          actor: { type: 'user', id: userId },
          subject: { type: 'user', id: userId },
          ...auditMeta(meta),
          details: {
            session_id: sessionId,
            reason,
            oidc_grants_revoked: revoked.grants,
            oidc_artifacts_revoked: revoked.artifacts,
          },
        },
        m,
      );
      return true;
    });
  }

  /**
   * "Sign out everywhere": ends every live session of the person (the asking one too) and
   * revokes every grant the provider holds for them, in one transaction. Returns how many
   * sessions ended.
   */
  async endAll(userId: string, meta: RequestMeta): Promise<number> {
    return await this.dataSource.transaction(async (m) => {
      const now = this.clock.now();
      const ended = await this.sessions.endAllForUser(userId, 'signed_out_everywhere', undefined, m);
      const revoked = await revokeAccountGrants(m, userId, now);
      await this.audit.record(
        {
          type: 'session.signed_out_everywhere',
          actor: { type: 'user', id: userId },
          subject: { type: 'user', id: userId },
          ...auditMeta(meta),
          details: { sessions_ended: ended, oidc_grants_revoked: revoked.grants, oidc_artifacts_revoked: revoked.artifacts },
        },
        m,
      );
      return ended;
    });
  }
}
