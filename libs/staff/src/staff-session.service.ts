import { Inject, Injectable, Optional } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, auditMeta } from '#libs/audit';
import { Clock, Duration } from '#libs/core';
import type { RequestMeta } from '#libs/sessions';
import { type StaffPrincipal, type StaffRole } from './roles.js';
import {
  endStaffSession,
  endStaffSessionsOf,
  insertStaffSession,
  staffOfSession,
  staffSessionByToken,
  touchStaffSession,
} from './staff.queries.js';

export interface StaffSessionPolicy {
  idle: Duration;
  absolute: Duration;
}

/** The numbers: 15 minutes idle, 8 hours at most. */
export const DEFAULT_STAFF_SESSION_POLICY: StaffSessionPolicy = { idle: Duration.ofMinutes(15), absolute: Duration.ofHours(8) };
export const STAFF_SESSION_POLICY = Symbol('STAFF_SESSION_POLICY');

export interface StaffSession {
  id: string;
  staff: StaffPrincipal;
  createdAt: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

export interface StaffSessionRow {
  id: string;
  staff_id: string;
  created_at: Date;
  idle_expires_at: Date;
  absolute_expires_at: Date;
  email: string;
  name: string;
  role: StaffRole;
  status: string;
}

/**
 * Staff sessions, apart from end users' (no remembered devices, other timeouts): the cookie
 * holds a random 256-bit token and only its SHA-256 is stored; a new token at every sign-in;
 * idle and absolute timeouts from the injected Clock; a disabled staff member's sessions end.
 */
@Injectable()
export class StaffSessionService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    @Optional() @Inject(STAFF_SESSION_POLICY) private readonly policy: StaffSessionPolicy = DEFAULT_STAFF_SESSION_POLICY,
  ) {}

  async create(
    staffId: string,
    meta: RequestMeta,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<{ token: string; id: string }> {
    const token = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    const [row] = await insertStaffSession(manager, [
      sha256(token),
      staffId,
      now,
      this.policy.idle.after(now),
      this.policy.absolute.after(now),
      meta.ip ?? null,
      meta.userAgent?.slice(0, 512) ?? null,
    ]);
    await this.audit.record(
      {
        type: 'staff_session.started',
        actor: { type: 'staff', id: staffId },
        subject: { type: 'staff', id: staffId },
        ...auditMeta(meta),
        details: { session_id: row!.id, methods: ['password', 'otp'] },
      },
      manager,
    );
    return { token, id: row!.id };
  }

  /** The live session for a cookie token, moving its idle timeout on; null when absent, ended, timed out or its staff member is not active. */
  async resolve(token: string | undefined): Promise<StaffSession | null> {
    if (!token || token.length > 100) return null;
    const now = this.clock.now();
    const rows = await staffSessionByToken(this.dataSource, [sha256(token)]);
    const row = rows[0];
    if (!row) return null;
    const reason =
      row.absolute_expires_at <= now
        ? 'absolute_timeout'
        : row.idle_expires_at <= now
          ? 'idle_timeout'
          : row.status !== 'active'
            ? 'staff_disabled'
            : null;
    if (reason) {
      await this.endRow(row.id, row.staff_id, reason, {});
      return null;
    }
    const idle = this.policy.idle.after(now);
    const [updated] = await touchStaffSession(this.dataSource, [row.id, now, idle]);
    if (!updated[0]) return null;
    return {
      id: row.id,
      staff: { id: row.staff_id, email: row.email, name: row.name, role: row.role },
      createdAt: row.created_at,
      idleExpiresAt: updated[0].idle_expires_at,
      absoluteExpiresAt: row.absolute_expires_at,
    };
  }

  /** Ends one session (sign-out, replaced by a new sign-in). */
  async end(sessionId: string, reason: string, meta: RequestMeta = {}): Promise<void> {
    const rows = await staffOfSession(this.dataSource, [sessionId]);
    if (rows[0]) await this.endRow(sessionId, rows[0].staff_id, reason, meta);
  }

  /** Ends every live session of a staff member; returns how many. */
  async endAllForStaff(staffId: string, reason: string, manager: EntityManager = this.dataSource.manager): Promise<number> {
    const [, count] = await endStaffSessionsOf(manager, [staffId, this.clock.now(), reason]);
    return count;
  }

  private async endRow(sessionId: string, staffId: string, reason: string, meta: RequestMeta): Promise<void> {
    const [ended] = await endStaffSession(this.dataSource, [sessionId, this.clock.now(), reason]);
    if (ended.length === 0) return;
    await this.audit.record({
      type: 'staff_session.ended',
      actor: reason === 'signed_out' || reason === 'replaced' ? { type: 'staff', id: staffId } : { type: 'system' },
      subject: { type: 'staff', id: staffId },
      ...auditMeta(meta),
      details: { session_id: sessionId, reason },
    });
  }
}
