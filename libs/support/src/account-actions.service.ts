import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '#libs/audit';
import { Clock, DomainError, isUuidAnyCase } from '#libs/core';
// Not the lib's index: nothing here needs oidc-provider itself.
import { revokeAccountGrants } from '#libs/oidc-store';
import { SecurityCodeGuard } from '#libs/recovery';
import { RememberedDeviceService, SessionService, type RememberedDevice, type RequestMeta } from '#libs/sessions';
import { SupportNotices } from './notices.js';
import { assertNotOwnAccount, notFound, requireReason, staffEvent, type StaffActor } from './staff-actor.js';
import { openSessionsOfUser } from './support.queries.js';
import { disableUser, enableUser, userForActionForUpdate, userRecoveryState, type ActionTargetUserRow } from '#libs/identity';

/** What the console shows about an end user's access (never a hash, code or token). */
export interface AccessOverview {
  userId: string;
  status: 'active' | 'disabled';
  recovery: { failedAttempts: number; lockedAt: Date | null };
  devices: RememberedDevice[];
  activeSessions: Array<{ id: string; createdAt: Date; lastSeenAt: Date; acr: string; ip: string | null; userAgent: string | null }>;
}

/**
 * Support actions on an end user's access: unlock self-service recovery, revoke remembered
 * devices (one or all), end sessions, disable and enable. Each needs a reason, commits with
 * its audit event (actor type `staff`) and a link-free notice to the user's email.
 */
@Injectable()
export class AccountActionsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly guard: SecurityCodeGuard,
    private readonly devices: RememberedDeviceService,
    private readonly sessions: SessionService,
    private readonly notices: SupportNotices,
  ) {}

  async overview(userId: string): Promise<AccessOverview | null> {
    if (!isUuidAnyCase(userId)) return null;
    const [user] = await userRecoveryState(this.dataSource, [userId]);
    if (!user) return null;
    const now = this.clock.now();
    const sessions = await openSessionsOfUser(this.dataSource, [userId, now]);
    return {
      userId,
      status: user.status,
      recovery: { failedAttempts: user.recovery_failed_attempts, lockedAt: user.recovery_locked_at },
      devices: await this.devices.list(userId),
      activeSessions: sessions.map((s) => ({
        id: s.id,
        createdAt: s.created_at,
        lastSeenAt: s.last_seen_at,
        acr: s.acr,
        ip: s.ip,
        userAgent: s.user_agent,
      })),
    };
  }

  /** Lets a user blocked by wrong security codes recover again (SecurityCodeGuard.unlock). Throws `not_locked`. */
  async unlockRecovery(
    actor: StaffActor,
    userId: string,
    reason: unknown,
    meta: RequestMeta = {},
  ): Promise<{ wasLocked: boolean; failedAttempts: number }> {
    const why = requireReason(reason);
    return await this.act(actor, userId, async (m, user, now) => {
      const result = await this.guard.unlock(user.id, { type: 'staff', id: actor.id }, why, meta, m);
      if (!result.wasLocked && result.failedAttempts === 0) {
        throw new DomainError('not_locked', 'Recovery is not locked for this user, and no wrong security code is counted.');
      }
      const notice = result.wasLocked
        ? [
            await this.notices.email(
              m,
              user.email,
              'recovery_unlocked',
              { firstName: user.first_name, at: now },
              { type: 'user', id: user.id },
            ),
          ]
        : [];
      return { result, notice };
    });
  }

  /** Revokes one remembered device (`deviceId`) or all of them (`'all'`). Throws `not_found` / `no_devices`. */
  async revokeDevices(
    actor: StaffActor,
    userId: string,
    deviceId: string,
    reason: unknown,
    meta: RequestMeta = {},
  ): Promise<{ revoked: number }> {
    const why = requireReason(reason);
    if (deviceId !== 'all' && !isUuidAnyCase(deviceId)) throw notFound('remembered device');
    return await this.act(actor, userId, async (m, user, now) => {
      const revoked = await this.devices.revoke(user.id, deviceId, { type: 'staff', id: actor.id }, `support: ${why}`, meta, m);
      if (revoked === 0) {
        throw deviceId === 'all' ? new DomainError('no_devices', 'This user has no remembered devices.') : notFound('remembered device');
      }
      const notice = await this.notices.email(
        m,
        user.email,
        'devices_revoked',
        { firstName: user.first_name, count: revoked, at: now },
        { type: 'user', id: user.id },
      );
      return { result: { revoked }, notice: [notice] };
    });
  }

  /**
   * Ends every active session of the user (they are signed out everywhere), and revokes what the
   * OIDC provider issued to them (every grant, with its codes and tokens) in the same
   * transaction: a relying app's tokens stop working at once, not when the logout queue runs.
   * The relying apps' back-channel logout follows from the ended sessions. Throws `no_sessions`
   * when there was neither a session nor a grant.
   */
  async endSessions(
    actor: StaffActor,
    userId: string,
    reason: unknown,
    meta: RequestMeta = {},
  ): Promise<{ ended: number; grantsRevoked: number }> {
    const why = requireReason(reason);
    return await this.act(actor, userId, async (m, user, now) => {
      const ended = await this.sessions.endAllForUser(user.id, 'ended_by_support', undefined, m);
      const revoked = await revokeAccountGrants(m, user.id, now);
      if (ended === 0 && revoked.grants === 0) throw new DomainError('no_sessions', 'This user has no active sessions.');
      await this.audit.record(
        staffEvent(actor, meta, {
          type: 'support.sessions_ended',
          subject: { type: 'user', id: user.id },
          organizationId: user.organization_id,
          details: {
            reason: why,
            sessions_ended: ended,
            oidc_grants_revoked: revoked.grants,
            oidc_artifacts_revoked: revoked.artifacts,
          },
        }),
        m,
      );
      const notice = await this.notices.email(
        m,
        user.email,
        'sessions_ended',
        { firstName: user.first_name, count: ended, at: now },
        { type: 'user', id: user.id },
      );
      return { result: { ended, grantsRevoked: revoked.grants }, notice: [notice] };
    });
  }

  /**
   * Disables the user: sign-in and recovery refuse them (with the same answers as for a wrong
   * password or unknown details), every session ends, every remembered device is revoked
   * (so enabling later still asks for a code), and every OIDC grant of the user is revoked with
   * the codes and tokens issued under it (introspection answers `active: false`, a refresh is
   * `invalid_grant`, also after enabling), all in one transaction. The relying apps' back-channel
   * logout follows from the ended sessions (the logout queue). Throws `already_disabled`.
   */
  async disable(
    actor: StaffActor,
    userId: string,
    reason: unknown,
    meta: RequestMeta = {},
  ): Promise<{ sessionsEnded: number; devicesRevoked: number }> {
    const why = requireReason(reason);
    return await this.act(actor, userId, async (m, user, now) => {
      if (user.status === 'disabled') throw new DomainError('already_disabled', 'This user is already disabled.');
      await disableUser(m, [user.id, now]);
      const sessionsEnded = await this.sessions.endAllForUser(user.id, 'user_disabled', undefined, m);
      const devicesRevoked = await this.devices.revoke(
        user.id,
        'all',
        { type: 'staff', id: actor.id },
        'user disabled by support',
        meta,
        m,
      );
      const revoked = await revokeAccountGrants(m, user.id, now);
      await this.audit.record(
        staffEvent(actor, meta, {
          type: 'support.user_disabled',
          subject: { type: 'user', id: user.id },
          organizationId: user.organization_id,
          details: {
            reason: why,
            sessions_ended: sessionsEnded,
            devices_revoked: devicesRevoked,
            oidc_grants_revoked: revoked.grants,
            oidc_artifacts_revoked: revoked.artifacts,
          },
        }),
        m,
      );
      const notice = await this.notices.email(
        m,
        user.email,
        'account_disabled',
        { firstName: user.first_name, at: now },
        { type: 'user', id: user.id },
      );
      return { result: { sessionsEnded, devicesRevoked }, notice: [notice] };
    });
  }

  /** Enables a disabled user again. Throws `already_active`. */
  async enable(actor: StaffActor, userId: string, reason: unknown, meta: RequestMeta = {}): Promise<{ status: 'active' }> {
    const why = requireReason(reason);
    return await this.act(actor, userId, async (m, user, now) => {
      if (user.status === 'active') throw new DomainError('already_active', 'This user is already active.');
      await enableUser(m, [user.id, now]);
      await this.audit.record(
        staffEvent(actor, meta, {
          type: 'support.user_enabled',
          subject: { type: 'user', id: user.id },
          organizationId: user.organization_id,
          details: { reason: why },
        }),
        m,
      );
      const notice = await this.notices.email(
        m,
        user.email,
        'account_enabled',
        { firstName: user.first_name, at: now },
        { type: 'user', id: user.id },
      );
      return { result: { status: 'active' as const }, notice: [notice] };
    });
  }

  /** One transaction on a locked user row; notices are handed to the sender after the commit. */
  private async act<T>(
    actor: StaffActor,
    userId: string,
    work: (m: EntityManager, user: ActionTargetUserRow, now: Date) => Promise<{ result: T; notice: string[] }>,
  ): Promise<T> {
    if (!isUuidAnyCase(userId)) throw notFound('user');
    const { result, notice } = await this.dataSource.transaction(async (m) => {
      const [user] = await userForActionForUpdate(m, [userId]);
      if (!user) throw notFound('user');
      assertNotOwnAccount(actor, user.email);
      return await work(m, user, this.clock.now());
    });
    this.notices.deliver(notice);
    return result;
  }
}
