import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { UAParser } from 'ua-parser-js';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, type AuditEventInput } from '#libs/audit';
import { Clock, Duration } from '#libs/core';
import { runStatement, type BatchPart, type WriteBatch } from '#libs/database';
import { rememberedDeviceIdOf } from './sessions.queries.js';
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
  /** The last use (`list` only): from which address, and which browser ("Chrome 131 on macOS"); null when not recorded. */
  lastUse?: { ip: string | null; from: string | null };
  /**
   * The latest time its cookie came from another browser family or OS (`list` only): a code was
   * asked instead, and `count` such attempts were seen in all. Null when never.
   */
  mismatch?: { at: Date; ip: string | null; from: string | null; count: number } | null;
}

export type DeviceCheck =
  | { ok: true; device: RememberedDevice }
  | { ok: false; reason: 'absent' | 'unknown' | 'other_user' | 'revoked' | 'expired' | 'credentials_changed' | 'policy' | 'mismatch' };

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/**
 * The device a cookie names, with its user's organization's policy: everything deciding on it
 * needs, in one read that the sign-in sends together with its other reads.
 */
const INSPECT = `SELECT d.id, d.user_id, d.name, d.credential_version, d.created_at, d.expires_at, d.revoked_at, d.ua_family,
       p.remember_device_enabled AS policy_enabled, p.remember_device_days AS policy_days
  FROM remembered_devices d JOIN users u ON u.id = d.user_id LEFT JOIN organization_policies p ON p.organization_id = u.organization_id
 WHERE d.token_hash = $1`;

/** A device cookie as read by `inspect`, for `decide`. */
export type DeviceInspection =
  | { kind: 'absent' }
  | { kind: 'malformed' }
  | {
      kind: 'read';
      row: (DeviceRow & { policy_enabled: boolean | null; policy_days: number | null }) | null;
    };

/**
 * What a User-Agent says about the browser: its name for people ("Chrome 131 on macOS") and its
 * family ("Chrome|macOS": browser and OS, no versions, so an update does not change it).
 */
export function browserOf(userAgent: string | null | undefined): { name: string; family: string } {
  // Only the browser and the OS (about half the cost of the whole result): this runs at every device sign-in.
  const parser = new UAParser(userAgent ?? '');
  const { name: browserName, major } = parser.getBrowser();
  const osName = parser.getOS().name;
  const browser = [browserName, major].filter(Boolean).join(' ') || 'Unknown browser';
  const os = osName ? ` on ${osName}` : '';
  return { name: `${browser}${os}`.slice(0, 100), family: `${browserName ?? ''}|${osName ?? ''}`.slice(0, 200) };
}

/** "Chrome 131 on macOS", from the User-Agent. */
export function deviceName(userAgent: string | null | undefined): string {
  return browserOf(userAgent).name;
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
  /** The browser family and OS it was remembered in (`browserOf`); null for a device remembered before it was recorded. */
  ua_family: string | null;
}

const userAgentOf = (meta: RequestMeta) => meta.userAgent?.slice(0, 512) ?? null;

/**
 * Remembered devices: a random 256-bit token in a cookie, only its SHA-256 stored, with
 * the user's credential version, so a password or security-code change re-requires an
 * OTP everywhere at once. At most 10 per user (the oldest is dropped).
 *
 * Until devices are bound to a key, a device is bound to the browser family and OS it was
 * remembered in: its cookie presented by another (a copied cookie, most likely) does not skip
 * the code, and the attempt is recorded on the device and audited (`device.mismatch`). Every
 * use records when, from which address and with which User-Agent, in the statement that marks
 * the device used.
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
    const { name, family } = browserOf(meta.userAgent);
    const expiresAt = Duration.ofDays(Math.min(365, Math.max(1, policy.days))).after(now);
    const rows = await manager.query<Array<{ id: string }>>(
      `INSERT INTO remembered_devices (user_id, token_hash, name, credential_version, policy_version, created_at, last_used_at, expires_at,
                                       ua_family, last_used_ip, last_used_user_agent)
       VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10) RETURNING id`,
      [user.id, sha256(token), name, user.credentialVersion, policy.version, now, expiresAt, family, meta.ip ?? null, userAgentOf(meta)],
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

  /** Reads what `decide` needs about a device cookie: one statement, none without a cookie. */
  async inspect(token: string | undefined): Promise<DeviceInspection> {
    if (!token) return { kind: 'absent' };
    if (token.length > 100) return { kind: 'malformed' };
    const { rows } = await runStatement<Extract<DeviceInspection, { kind: 'read' }>['row'] & object>(this.dataSource, INSPECT, [
      sha256(token),
    ]);
    return { kind: 'read', row: rows[0] ?? null };
  }

  /**
   * Whether the inspected cookie lets this user skip the OTP now, by the same checks and in the
   * same order as `check`: another user's, a forged or a revoked cookie is ignored (and
   * audited), never an error. Writes nothing for a valid device: `useIn` marks it used in the
   * sign-in's batch, re-checking everything at that moment. A valid device's cookie from another
   * browser family or OS is refused as `mismatch` (recorded on the device and audited).
   */
  async decide(inspection: DeviceInspection, user: { id: string; credentialVersion: number }, meta: RequestMeta): Promise<DeviceCheck> {
    if (inspection.kind === 'absent') return { ok: false, reason: 'absent' };
    const row = inspection.kind === 'read' ? inspection.row : null;
    if (!row) return this.refused('unknown', user.id, null, meta);
    const now = this.clock.now();
    if (row.user_id !== user.id) return this.refused('other_user', user.id, row.id, meta);
    if (row.revoked_at) return this.refused('revoked', user.id, row.id, meta);
    if (row.expires_at <= now) return this.refused('expired', user.id, row.id, meta);
    if (row.credential_version !== user.credentialVersion) return this.refused('credentials_changed', user.id, row.id, meta);
    if (!row.policy_enabled || !row.policy_days || Duration.ofDays(row.policy_days).after(row.created_at) <= now) {
      return this.refused('policy', user.id, row.id, meta);
    }
    const seen = browserOf(meta.userAgent);
    if (row.ua_family !== null && row.ua_family !== seen.family) return this.mismatch(row, user.id, seen.name, meta);
    return { ok: true, device: { id: row.id, name: row.name, createdAt: row.created_at, lastUsedAt: now, expiresAt: row.expires_at } };
  }

  /**
   * Marks a device that `decide` accepted as used, as part of a batch: only if it still passes
   * every check now (this user, not revoked, not expired, the user's credential version, the
   * organization's policy as it is now), so the session that depends on it (`after` it) is
   * not started for a device revoked meanwhile. When `result.ran(part)` is false, the device
   * no longer applies: `check` says why (and audits it).
   */
  useIn(batch: WriteBatch, deviceId: string, user: { id: string; credentialVersion: number }, meta: RequestMeta = {}): BatchPart {
    const now = batch.param(this.clock.now(), 'timestamptz');
    const family = batch.param(browserOf(meta.userAgent).family, 'text');
    // The use (when, from where, which browser) is written here, with the mark: no round trip of its own.
    return batch.add(
      'device_use',
      `UPDATE remembered_devices d SET last_used_at = ${now}, last_used_ip = ${batch.param(meta.ip ?? null, 'inet')},
              last_used_user_agent = ${batch.param(userAgentOf(meta), 'text')}, ua_family = COALESCE(d.ua_family, ${family})
         FROM users u JOIN organization_policies p ON p.organization_id = u.organization_id
        WHERE d.id = ${batch.param(deviceId, 'uuid')} AND d.user_id = ${batch.param(user.id, 'uuid')} AND u.id = d.user_id
          AND d.revoked_at IS NULL AND d.expires_at > ${now} AND d.credential_version = ${batch.param(user.credentialVersion, 'int')}
          AND p.remember_device_enabled AND d.created_at > ${now} - make_interval(secs => p.remember_device_days * 86400)
          AND (d.ua_family IS NULL OR d.ua_family = ${family})
        RETURNING d.id`,
    );
  }

  /**
   * Whether a device cookie lets this user skip the OTP now, checked and marked used on its
   * own (the sign-in uses `inspect`, `decide` and `useIn` instead, and this to explain a device
   * that no longer applied when its batch ran). A cookie of another user, a forged or a
   * revoked one is ignored (and audited), never an error.
   */
  async check(
    token: string | undefined,
    user: { id: string; credentialVersion: number },
    policy: () => Promise<DevicePolicy>,
    meta: RequestMeta,
  ): Promise<DeviceCheck> {
    if (!token) return { ok: false, reason: 'absent' };
    if (token.length > 100) return this.refused('unknown', user.id, null, meta);
    const now = this.clock.now();
    // Find out why, in this order, for the answer and the audit trail.
    const rows = await this.dataSource.query<DeviceRow[]>(`SELECT * FROM remembered_devices WHERE token_hash = $1`, [sha256(token)]);
    const row = rows[0];
    if (!row) return this.refused('unknown', user.id, null, meta);
    if (row.user_id !== user.id) return this.refused('other_user', user.id, row.id, meta);
    if (row.revoked_at) return this.refused('revoked', user.id, row.id, meta);
    if (row.expires_at <= now) return this.refused('expired', user.id, row.id, meta);
    if (row.credential_version !== user.credentialVersion) return this.refused('credentials_changed', user.id, row.id, meta);
    const current = await policy();
    if (!current.enabled || Duration.ofDays(current.days).after(row.created_at) <= now)
      return this.refused('policy', user.id, row.id, meta);
    const seen = browserOf(meta.userAgent);
    if (row.ua_family !== null && row.ua_family !== seen.family) return this.mismatch(row, user.id, seen.name, meta);
    await this.dataSource.query(
      `UPDATE remembered_devices SET last_used_at = $2, last_used_ip = $3, last_used_user_agent = $4, ua_family = COALESCE(ua_family, $5)
        WHERE id = $1`,
      [row.id, now, meta.ip ?? null, userAgentOf(meta), seen.family],
    );
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

  /**
   * A valid device's cookie from another browser family or OS: treated as a new device (a code
   * is asked), the attempt recorded on the device (shown on the account page) and audited.
   */
  private async mismatch(row: Pick<DeviceRow, 'id' | 'name'>, userId: string, seen: string, meta: RequestMeta): Promise<DeviceCheck> {
    await this.dataSource.transaction(async (manager) => {
      await manager.query(
        `UPDATE remembered_devices SET mismatch_count = mismatch_count + 1, last_mismatch_at = $2, last_mismatch_ip = $3,
                last_mismatch_user_agent = $4
          WHERE id = $1`,
        [row.id, this.clock.now(), meta.ip ?? null, userAgentOf(meta)],
      );
      await this.audit.record(
        {
          type: 'device.mismatch',
          actor: { type: 'anonymous' },
          subject: { type: 'user', id: userId },
          ip: meta.ip ?? null,
          userAgent: meta.userAgent ?? null,
          requestId: meta.requestId ?? null,
          details: { device_id: row.id, device_name: row.name, presented_by: seen },
        },
        manager,
      );
    });
    return { ok: false, reason: 'mismatch' };
  }

  /** The id of the user's device this cookie names (the account page marks it "this device"), or null. */
  async currentId(token: string | undefined, userId: string): Promise<string | null> {
    if (!token) return null;
    return rememberedDeviceIdOf(this.dataSource, sha256(token), userId);
  }

  async list(userId: string): Promise<RememberedDevice[]> {
    const rows = await this.dataSource.query<
      Array<
        DeviceRow & {
          last_ip: string | null;
          last_used_user_agent: string | null;
          mismatch_count: number;
          last_mismatch_at: Date | null;
          mismatch_ip: string | null;
          last_mismatch_user_agent: string | null;
        }
      >
    >(
      `SELECT *, host(last_used_ip) AS last_ip, host(last_mismatch_ip) AS mismatch_ip
         FROM remembered_devices WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY last_used_at DESC`,
      [userId, this.clock.now()],
    );
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      expiresAt: r.expires_at,
      lastUse: { ip: r.last_ip, from: r.last_used_user_agent === null ? null : deviceName(r.last_used_user_agent) },
      mismatch: r.last_mismatch_at
        ? {
            at: r.last_mismatch_at,
            ip: r.mismatch_ip,
            from: r.last_mismatch_user_agent === null ? null : deviceName(r.last_mismatch_user_agent),
            count: r.mismatch_count,
          }
        : null,
    }));
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
