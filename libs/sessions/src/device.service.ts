import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { UAParser } from 'ua-parser-js';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, type AuditEventInput } from '../../audit/src/index.js';
import { Clock, Duration } from '../../core/src/index.js';
import { runStatement } from '../../database/src/index.js';
import type { RequestMeta } from './session.service.js';

export const MAX_REMEMBERED_DEVICES = 10;

export interface DevicePolicy {
  enabled: boolean;
  /** Lifetime in days (1–365). */
  days: number;
  version: number;
}

export interface RememberedDevice {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
}

export type DeviceCheck =
  | { ok: true; device: RememberedDevice }
  | { ok: false; reason: 'absent' | 'unknown' | 'other_user' | 'revoked' | 'expired' | 'credentials_changed' | 'policy' };

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/**
 * A device that passes every check is marked as used, in one statement: this token, this user,
 * not revoked, not expired, the user's credential version, and the organization's policy as it
 * is now (remembering on, created within its lifetime; days counted as 86,400 s, like Duration).
 */
const USE = `UPDATE remembered_devices d SET last_used_at = $3
  FROM organization_policies p
 WHERE d.token_hash = $1 AND d.user_id = $2 AND d.revoked_at IS NULL AND d.expires_at > $3 AND d.credential_version = $4
   AND p.organization_id = $5 AND p.remember_device_enabled
   AND d.created_at > $3::timestamptz - make_interval(secs => p.remember_device_days * 86400)
RETURNING d.id, d.name, d.created_at, d.expires_at`;

/** "Chrome 131 on macOS", from the User-Agent. */
export function deviceName(userAgent: string | null | undefined): string {
  const ua = new UAParser(userAgent ?? '').getResult();
  const browser = [ua.browser.name, ua.browser.major].filter(Boolean).join(' ') || 'Unknown browser';
  const os = ua.os.name ? ` on ${ua.os.name}` : '';
  return `${browser}${os}`.slice(0, 100);
}

interface DeviceRow {
  id: string;
  user_id: string;
  name: string;
  credential_version: number;
  created_at: Date;
  last_used_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

/**
 * Remembered devices: a random 256-bit token in a cookie, only its SHA-256 stored, with
 * the user's credential version, so a password or security-code change re-requires an
 * OTP everywhere at once. At most 10 per user (the oldest is dropped).
 */
@Injectable()
export class RememberedDeviceService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  async remember(
    user: { id: string; credentialVersion: number },
    policy: DevicePolicy,
    meta: RequestMeta,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<{ token: string; device: RememberedDevice } | null> {
    if (!policy.enabled) return null;
    const token = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    const name = deviceName(meta.userAgent);
    const expiresAt = Duration.ofDays(Math.min(365, Math.max(1, policy.days))).after(now);
    const rows = await manager.query<Array<{ id: string }>>(
      `INSERT INTO remembered_devices (user_id, token_hash, name, credential_version, policy_version, created_at, last_used_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING id`,
      [user.id, sha256(token), name, user.credentialVersion, policy.version, now, expiresAt],
    );
    const id = rows[0]!.id;
    // Keep the newest MAX_REMEMBERED_DEVICES; drop the rest.
    const [dropped] = await manager.query<[Array<{ id: string }>, number]>(
      `UPDATE remembered_devices SET revoked_at = $2, revoked_reason = 'limit', revoked_by = 'system'
        WHERE user_id = $1 AND revoked_at IS NULL AND id NOT IN (
          SELECT id FROM remembered_devices WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $3)
        RETURNING id`,
      [user.id, now, MAX_REMEMBERED_DEVICES],
    );
    await this.audit.record(
      {
        type: 'device.remembered',
        actor: { type: 'user', id: user.id },
        subject: { type: 'user', id: user.id },
        ip: meta.ip ?? null,
        userAgent: meta.userAgent ?? null,
        requestId: meta.requestId ?? null,
        details: { device_id: id, name, expires_at: expiresAt.toISOString(), dropped: dropped.map((d) => d.id) },
      },
      manager,
    );
    return { token, device: { id, name, createdAt: now, lastUsedAt: now, expiresAt } };
  }

  /**
   * Whether a device cookie lets this user skip the OTP now. A cookie of another user, a
   * forged or a revoked one is ignored (and audited), never an error.
   *
   * The usual case, a valid device, is one statement: it marks the device as used only if it
   * passes every check, the organization's current policy included (remembering enabled, the
   * device younger than the policy's lifetime), read in the same statement. `policy` is called
   * only to explain a refusal.
   */
  async check(
    token: string | undefined,
    user: { id: string; credentialVersion: number; organizationId: string },
    policy: () => Promise<DevicePolicy>,
    meta: RequestMeta,
  ): Promise<DeviceCheck> {
    if (!token) return { ok: false, reason: 'absent' };
    if (token.length > 100) return this.refused('unknown', user.id, null, meta);
    const now = this.clock.now();
    const tokenHash = sha256(token);
    const { rows: used } = await runStatement<Pick<DeviceRow, 'id' | 'name' | 'created_at' | 'expires_at'>>(this.dataSource, USE, [
      tokenHash,
      user.id,
      now,
      user.credentialVersion,
      user.organizationId,
    ]);
    const device = used[0];
    if (device) {
      return {
        ok: true,
        device: { id: device.id, name: device.name, createdAt: device.created_at, lastUsedAt: now, expiresAt: device.expires_at },
      };
    }
    // Otherwise: find out why, in this order, for the answer and the audit trail.
    const rows = await this.dataSource.query<DeviceRow[]>(`SELECT * FROM remembered_devices WHERE token_hash = $1`, [tokenHash]);
    const row = rows[0];
    if (!row) return this.refused('unknown', user.id, null, meta);
    if (row.user_id !== user.id) return this.refused('other_user', user.id, row.id, meta);
    if (row.revoked_at) return this.refused('revoked', user.id, row.id, meta);
    if (row.expires_at <= now) return this.refused('expired', user.id, row.id, meta);
    if (row.credential_version !== user.credentialVersion) return this.refused('credentials_changed', user.id, row.id, meta);
    const current = await policy();
    if (!current.enabled || Duration.ofDays(current.days).after(row.created_at) <= now)
      return this.refused('policy', user.id, row.id, meta);
    // Valid after all (the policy or the device changed between the two reads): marked as used, as above.
    await this.dataSource.query(`UPDATE remembered_devices SET last_used_at = $2 WHERE id = $1`, [row.id, now]);
    return { ok: true, device: { id: row.id, name: row.name, createdAt: row.created_at, lastUsedAt: now, expiresAt: row.expires_at } };
  }

  private async refused(
    reason: Exclude<DeviceCheck, { ok: true }>['reason'],
    userId: string,
    deviceId: string | null,
    meta: RequestMeta,
  ): Promise<DeviceCheck> {
    if (reason === 'other_user' || reason === 'unknown' || reason === 'revoked') {
      await this.audit.record({
        type: 'device.cookie_refused',
        actor: { type: 'anonymous' },
        subject: { type: 'user', id: userId },
        ip: meta.ip ?? null,
        userAgent: meta.userAgent ?? null,
        requestId: meta.requestId ?? null,
        details: { reason, device_id: deviceId },
      });
    }
    return { ok: false, reason };
  }

  async list(userId: string): Promise<RememberedDevice[]> {
    const rows = await this.dataSource.query<DeviceRow[]>(
      `SELECT * FROM remembered_devices WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY last_used_at DESC`,
      [userId, this.clock.now()],
    );
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, lastUsedAt: r.last_used_at, expiresAt: r.expires_at }));
  }

  /**
   * Revokes one device (deviceId) or all of a user's devices; returns how many. Pass a
   * transaction's manager to commit the revocation and its audit event with the caller's change.
   */
  async revoke(
    userId: string,
    deviceId: string /* or 'all' */,
    actor: AuditEventInput['actor'],
    reason: string,
    meta: RequestMeta = {},
    manager: EntityManager = this.dataSource.manager,
  ): Promise<number> {
    const [rows] = await manager.query<[Array<{ id: string }>, number]>(
      `UPDATE remembered_devices SET revoked_at = $3, revoked_reason = $4, revoked_by = $5
        WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id = $2::uuid) RETURNING id`,
      [userId, deviceId === 'all' ? null : deviceId, this.clock.now(), reason.slice(0, 200), `${actor.type}:${actor.id ?? ''}`],
    );
    if (rows.length > 0) {
      await this.audit.record(
        {
          type: 'device.revoked',
          actor,
          subject: { type: 'user', id: userId },
          ip: meta.ip ?? null,
          userAgent: meta.userAgent ?? null,
          requestId: meta.requestId ?? null,
          details: { device_ids: rows.map((r) => r.id), reason: reason.slice(0, 200) },
        },
        manager,
      );
    }
    return rows.length;
  }
}
