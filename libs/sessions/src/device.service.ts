import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { UAParser } from 'ua-parser-js';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, type AuditEventInput, auditMeta } from '#libs/audit';
import { Clock, Duration } from '#libs/core';
import type { BatchPart, WriteBatch } from '#libs/database';
import { type RequestMeta } from './session.service.js';
import {
  addDeviceUsePart,
  deviceByTokenHash,
  insertRememberedDevice,
  inspectDevice,
  liveDevicesOfUser,
  recordDeviceMismatch,
  recordDeviceUse,
  rememberedDeviceIdOf,
  revokeDevices,
  revokeDevicesBeyond,
  type DeviceUse,
  type InspectedDeviceRow,
  type RememberedDeviceRow,
} from './sessions.queries.js';

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

/** A device cookie as read by `inspect` (the device and its user's organization's policy), for `decide`. */
export type DeviceInspection = { kind: 'absent' } | { kind: 'malformed' } | { kind: 'read'; row: InspectedDeviceRow | null };

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

const userAgentOf = (meta: RequestMeta) => meta.userAgent?.slice(0, 512) ?? null;

/** A use of a device at `now` as its row records it. */
const useOf = (now: Date, meta: RequestMeta): DeviceUse => ({ now, ip: meta.ip ?? null, userAgent: userAgentOf(meta) });

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
    const id = await insertRememberedDevice(
      manager,
      {
        userId: user.id,
        tokenHash: sha256(token),
        name,
        credentialVersion: user.credentialVersion,
        policyVersion: policy.version,
        expiresAt,
        family,
      },
      useOf(now, meta),
    );
    // Keep the newest MAX_REMEMBERED_DEVICES; drop the rest.
    const dropped = await revokeDevicesBeyond(manager, user.id, now, MAX_REMEMBERED_DEVICES);
    await this.audit.record(
      {
        type: 'device.remembered',
        actor: { type: 'user', id: user.id },
        subject: { type: 'user', id: user.id },
        ...auditMeta(meta),
        details: { device_id: id, name, expires_at: expiresAt.toISOString(), dropped },
      },
      manager,
    );
    return { token, device: { id, name, createdAt: now, lastUsedAt: now, expiresAt } };
  }

  /** Reads what `decide` needs about a device cookie: one statement, none without a cookie. */
  async inspect(token: string | undefined): Promise<DeviceInspection> {
    if (!token) return { kind: 'absent' };
    if (token.length > 100) return { kind: 'malformed' };
    return { kind: 'read', row: await inspectDevice(this.dataSource, sha256(token)) };
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
    // The use (when, from where, which browser) is written here, with the mark: no round trip of its own.
    return addDeviceUsePart(
      batch,
      { id: deviceId, userId: user.id, credentialVersion: user.credentialVersion, family: browserOf(meta.userAgent).family },
      useOf(this.clock.now(), meta),
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
    const row = await deviceByTokenHash(this.dataSource, sha256(token));
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
    await recordDeviceUse(this.dataSource, row.id, seen.family, useOf(now, meta));
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
        ...auditMeta(meta),
        details: { reason, device_id: deviceId },
      });
    }
    return { ok: false, reason };
  }

  /**
   * A valid device's cookie from another browser family or OS: treated as a new device (a code
   * is asked), the attempt recorded on the device (shown on the account page) and audited.
   */
  private async mismatch(
    row: Pick<RememberedDeviceRow, 'id' | 'name'>,
    userId: string,
    seen: string,
    meta: RequestMeta,
  ): Promise<DeviceCheck> {
    await this.dataSource.transaction(async (manager) => {
      await recordDeviceMismatch(manager, row.id, useOf(this.clock.now(), meta));
      await this.audit.record(
        {
          type: 'device.mismatch',
          actor: { type: 'anonymous' },
          subject: { type: 'user', id: userId },
          ...auditMeta(meta),
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
    const rows = await liveDevicesOfUser(this.dataSource, userId, this.clock.now());
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
    const ids = await revokeDevices(manager, userId, deviceId === 'all' ? null : deviceId, {
      now: this.clock.now(),
      reason: reason.slice(0, 200),
      by: `${actor.type}:${actor.id ?? ''}`,
    });
    if (ids.length > 0) {
      await this.audit.record(
        {
          type: 'device.revoked',
          actor,
          subject: { type: 'user', id: userId },
          ...auditMeta(meta),
          details: { device_ids: ids, reason: reason.slice(0, 200) },
        },
        manager,
      );
    }
    return ids.length;
  }
}
