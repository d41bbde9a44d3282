import type { DataSource, EntityManager } from 'typeorm';
import { WriteBatch, runStatement, type BatchPart, type Queryable } from '#libs/database';
import type { VerificationRecord } from './verification.js';

/**
 * Statements on sessions and remembered devices (the sessions aggregate): SessionService's,
 * RememberedDeviceService's and the account page's. The sign-in's (the device read, the use of
 * a device and the start of a session in its batch) are fixed texts: `inspectDevice` runs as a
 * prepared statement on the pool, the batch parts go into the sign-in's one statement.
 */

/** A session as `resolve` reads it, with its user's current credential version and status. */
export interface SessionRow {
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

/** A new session's row (the token only as its hash). */
export interface NewSession {
  tokenHash: Buffer;
  verifications: VerificationRecord[];
  acr: string;
  now: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
  ip: string | null;
  userAgent: string | null;
}

/** Inserts a session of this user at this credential version; answers its id. */
export async function insertSession(db: Queryable, user: { id: string; credentialVersion: number }, s: NewSession): Promise<string> {
  const rows = await db.query<Array<{ id: string }>>(
    `INSERT INTO sessions (token_hash, user_id, credential_version, auth_time, verifications, acr, created_at, last_seen_at,
                             idle_expires_at, absolute_expires_at, ip, user_agent)
       VALUES ($1, $2, $3, $4, $5, $6, $4, $4, $7, $8, $9, $10) RETURNING id`,
    [
      s.tokenHash,
      user.id,
      user.credentialVersion,
      s.now,
      JSON.stringify(s.verifications),
      s.acr,
      s.idleExpiresAt,
      s.absoluteExpiresAt,
      s.ip,
      s.userAgent,
    ],
  );
  return rows[0]!.id;
}

/**
 * The batch part inserting session `sessionId` for the user as they are when the batch runs:
 * only if they are still active at this credential version and every part in `after` wrote.
 */
export function addSessionPart(
  batch: WriteBatch,
  sessionId: string,
  user: { id: string; credentialVersion: number },
  s: NewSession,
  after: ReadonlyArray<BatchPart | undefined>,
): BatchPart {
  const p = (value: unknown, type: string) => batch.param(value, type);
  const at = p(s.now, 'timestamptz');
  return batch.add(
    'session',
    `INSERT INTO sessions (id, token_hash, user_id, credential_version, auth_time, verifications, acr, created_at, last_seen_at,
                             idle_expires_at, absolute_expires_at, ip, user_agent)
       SELECT ${p(sessionId, 'uuid')}, ${p(s.tokenHash, 'bytea')}, u.id, u.credential_version, ${at}, ${p(JSON.stringify(s.verifications), 'jsonb')},
              ${p(s.acr, 'text')}, ${at}, ${at}, ${p(s.idleExpiresAt, 'timestamptz')}, ${p(s.absoluteExpiresAt, 'timestamptz')},
              ${p(s.ip, 'inet')}, ${p(s.userAgent, 'text')}
         FROM users u
        WHERE u.id = ${p(user.id, 'uuid')} AND u.status = 'active' AND u.credential_version = ${p(user.credentialVersion, 'int')}
          AND ${WriteBatch.ran(...after)}
       RETURNING id`,
  );
}

/** The session (not ended) whose token hashes to `tokenHash`, with its user's current state. */
export async function unendedSessionByTokenHash(db: Queryable, tokenHash: Buffer): Promise<SessionRow | undefined> {
  const rows = await db.query<SessionRow[]>(
    `SELECT s.*, u.credential_version AS current_credential_version, u.status
         FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = $1 AND s.ended_at IS NULL`,
    [tokenHash],
  );
  return rows[0];
}

/** Ends a session (if not ended yet) for `reason`. */
export async function endSessionFor(db: Queryable, id: string, now: Date, reason: string): Promise<void> {
  await db.query(`UPDATE sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL`, [id, now, reason]);
}

/** Marks a session seen now, its idle timeout renewed to `idleExpiresAt` (never beyond its absolute one). */
export async function touchSession(db: Queryable, id: string, now: Date, idleExpiresAt: Date): Promise<void> {
  await db.query(`UPDATE sessions SET last_seen_at = $2, idle_expires_at = LEAST($3, absolute_expires_at) WHERE id = $1`, [
    id,
    now,
    idleExpiresAt,
  ]);
}

/** A live session's verifications, the row locked; undefined when it has ended. */
export async function sessionVerificationsForUpdate(db: Queryable, id: string): Promise<VerificationRecord[] | undefined> {
  const rows = await db.query<Array<{ verifications: VerificationRecord[] }>>(
    `SELECT verifications FROM sessions WHERE id = $1 AND ended_at IS NULL FOR UPDATE`,
    [id],
  );
  return rows[0]?.verifications;
}

/** Sets a session's verifications and acr, and replaces its token's hash. */
export async function setSessionAssurance(
  db: Queryable,
  id: string,
  verifications: VerificationRecord[],
  acr: string,
  tokenHash: Buffer,
): Promise<void> {
  await db.query(`UPDATE sessions SET verifications = $2, acr = $3, token_hash = $4 WHERE id = $1`, [
    id,
    JSON.stringify(verifications),
    acr,
    tokenHash,
  ]);
}

/** Ends a session (if not ended yet) for `reason`; answers its user's id, undefined when it had ended already. */
export async function endSession(db: Queryable, id: string, now: Date, reason: string): Promise<string | undefined> {
  const [ended] = await db.query<[Array<{ user_id: string }>, number]>(
    `UPDATE sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL RETURNING user_id`,
    [id, now, reason],
  );
  return ended[0]?.user_id;
}

/** Gives a live session this credential version; answers how many rows changed (0 or 1). */
export async function setSessionCredentialVersion(db: Queryable, id: string, credentialVersion: number): Promise<number> {
  const [, count] = await db.query<[unknown[], number]>(`UPDATE sessions SET credential_version = $2 WHERE id = $1 AND ended_at IS NULL`, [
    id,
    credentialVersion,
  ]);
  return count;
}

/** Ends every live session of a user but `exceptSessionId` (none: null); answers how many. */
export async function endSessionsOfUser(
  db: Queryable,
  userId: string,
  now: Date,
  reason: string,
  exceptSessionId: string | null,
): Promise<number> {
  const [, count] = await db.query<[unknown[], number]>(
    `UPDATE sessions SET ended_at = $2, end_reason = $3 WHERE user_id = $1 AND ended_at IS NULL AND ($4::uuid IS NULL OR id <> $4::uuid)`,
    [userId, now, reason, exceptSessionId],
  );
  return count;
}

export function openSessionsWithApps(db: Queryable, values: unknown[]) {
  return db.query<
    Array<{ id: string; created_at: Date; last_seen_at: Date; ip: string | null; user_agent: string | null; apps: string[] }>
  >(
    `SELECT s.id, s.created_at, s.last_seen_at, host(s.ip) AS ip, s.user_agent,
              ARRAY(SELECT DISTINCT COALESCE(c.name, a.client_id)
                      FROM oidc_models m
                      CROSS JOIN LATERAL jsonb_object_keys(
                        CASE WHEN jsonb_typeof(m.payload->'authorizations') = 'object' THEN m.payload->'authorizations' ELSE '{}'::jsonb END
                      ) AS a(client_id)
                      LEFT JOIN oidc_clients c ON c.client_id = a.client_id
                     WHERE m.kind = 'Session' AND m.gatehouse_session_id = s.id AND (m.expires_at IS NULL OR m.expires_at > $2)
                     ORDER BY 1) AS apps
         FROM sessions s JOIN users u ON u.id = s.user_id AND u.credential_version = s.credential_version
        WHERE s.user_id = $1 AND s.ended_at IS NULL AND s.idle_expires_at > $2 AND s.absolute_expires_at > $2
        ORDER BY s.last_seen_at DESC, s.id`,
    values,
  );
}

export function endSessionOfUser(db: Queryable, values: unknown[]) {
  return db.query<[Array<{ id: string }>, number]>(
    `UPDATE sessions SET ended_at = $3, end_reason = $4 WHERE id = $1 AND user_id = $2 AND ended_at IS NULL RETURNING id`,
    values,
  );
}

/** A remembered device's row. */
export interface RememberedDeviceRow {
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

/** A device as `inspectDevice` reads it, with its user's organization's policy. */
export type InspectedDeviceRow = RememberedDeviceRow & { policy_enabled: boolean | null; policy_days: number | null };

/** A device as the account page lists it, with its last use and its latest mismatch. */
export type ListedDeviceRow = RememberedDeviceRow & {
  last_ip: string | null;
  last_used_user_agent: string | null;
  mismatch_count: number;
  last_mismatch_at: Date | null;
  mismatch_ip: string | null;
  last_mismatch_user_agent: string | null;
};

/** When, from where and in which browser a device was used (or presented). */
export interface DeviceUse {
  now: Date;
  ip: string | null;
  userAgent: string | null;
}

/** Inserts a remembered device, used now; answers its id. */
export async function insertRememberedDevice(
  db: Queryable,
  device: {
    userId: string;
    tokenHash: Buffer;
    name: string;
    credentialVersion: number;
    policyVersion: number;
    expiresAt: Date;
    family: string;
  },
  use: DeviceUse,
): Promise<string> {
  const rows = await db.query<Array<{ id: string }>>(
    `INSERT INTO remembered_devices (user_id, token_hash, name, credential_version, policy_version, created_at, last_used_at, expires_at,
                                       ua_family, last_used_ip, last_used_user_agent)
       VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10) RETURNING id`,
    [
      device.userId,
      device.tokenHash,
      device.name,
      device.credentialVersion,
      device.policyVersion,
      use.now,
      device.expiresAt,
      device.family,
      use.ip,
      use.userAgent,
    ],
  );
  return rows[0]!.id;
}

/** Revokes (reason `limit`) a user's live devices but the newest `keep`; answers their ids. */
export async function revokeDevicesBeyond(db: Queryable, userId: string, now: Date, keep: number): Promise<string[]> {
  const [dropped] = await db.query<[Array<{ id: string }>, number]>(
    `UPDATE remembered_devices SET revoked_at = $2, revoked_reason = 'limit', revoked_by = 'system'
        WHERE user_id = $1 AND revoked_at IS NULL AND id NOT IN (
          SELECT id FROM remembered_devices WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $3)
        RETURNING id`,
    [userId, now, keep],
  );
  return dropped.map((d) => d.id);
}

/**
 * The device a cookie names, with its user's organization's policy: everything deciding on it
 * needs, in one read that the sign-in sends together with its other reads.
 */
const INSPECT = `SELECT d.id, d.user_id, d.name, d.credential_version, d.created_at, d.expires_at, d.revoked_at, d.ua_family,
       p.remember_device_enabled AS policy_enabled, p.remember_device_days AS policy_days
  FROM remembered_devices d JOIN users u ON u.id = d.user_id LEFT JOIN organization_policies p ON p.organization_id = u.organization_id
 WHERE d.token_hash = $1`;

/** The device whose token hashes to `tokenHash`, with its policy (a prepared statement on the pool), or null. */
export async function inspectDevice(dataSource: DataSource, tokenHash: Buffer): Promise<InspectedDeviceRow | null> {
  const { rows } = await runStatement<InspectedDeviceRow>(dataSource, INSPECT, [tokenHash]);
  return rows[0] ?? null;
}

/**
 * The batch part marking a device used (when, from where, which browser), only if it still
 * passes every check when the batch runs: this user, not revoked, not expired, the user's
 * credential version, the organization's policy as it is then, and the browser family.
 */
export function addDeviceUsePart(
  batch: WriteBatch,
  device: { id: string; userId: string; credentialVersion: number; family: string },
  use: DeviceUse,
): BatchPart {
  const now = batch.param(use.now, 'timestamptz');
  const family = batch.param(device.family, 'text');
  return batch.add(
    'device_use',
    `UPDATE remembered_devices d SET last_used_at = ${now}, last_used_ip = ${batch.param(use.ip, 'inet')},
              last_used_user_agent = ${batch.param(use.userAgent, 'text')}, ua_family = COALESCE(d.ua_family, ${family})
         FROM users u JOIN organization_policies p ON p.organization_id = u.organization_id
        WHERE d.id = ${batch.param(device.id, 'uuid')} AND d.user_id = ${batch.param(device.userId, 'uuid')} AND u.id = d.user_id
          AND d.revoked_at IS NULL AND d.expires_at > ${now} AND d.credential_version = ${batch.param(device.credentialVersion, 'int')}
          AND p.remember_device_enabled AND d.created_at > ${now} - make_interval(secs => p.remember_device_days * 86400)
          AND (d.ua_family IS NULL OR d.ua_family = ${family})
        RETURNING d.id`,
  );
}

/** The device whose token hashes to `tokenHash`, whoever's and whatever its state. */
export async function deviceByTokenHash(db: Queryable, tokenHash: Buffer): Promise<RememberedDeviceRow | undefined> {
  const rows = await db.query<RememberedDeviceRow[]>(`SELECT * FROM remembered_devices WHERE token_hash = $1`, [tokenHash]);
  return rows[0];
}

/** Records a use of a device (its browser family kept if it has one). */
export async function recordDeviceUse(db: Queryable, id: string, family: string, use: DeviceUse): Promise<void> {
  await db.query(
    `UPDATE remembered_devices SET last_used_at = $2, last_used_ip = $3, last_used_user_agent = $4, ua_family = COALESCE(ua_family, $5)
        WHERE id = $1`,
    [id, use.now, use.ip, use.userAgent, family],
  );
}

/** Records that a device's cookie came from another browser family or OS. */
export async function recordDeviceMismatch(db: Queryable, id: string, use: DeviceUse): Promise<void> {
  await db.query(
    `UPDATE remembered_devices SET mismatch_count = mismatch_count + 1, last_mismatch_at = $2, last_mismatch_ip = $3,
                last_mismatch_user_agent = $4
          WHERE id = $1`,
    [id, use.now, use.ip, use.userAgent],
  );
}

/** A user's live devices (not revoked, not expired at `now`), the latest used first. */
export async function liveDevicesOfUser(db: Queryable, userId: string, now: Date): Promise<ListedDeviceRow[]> {
  return await db.query<ListedDeviceRow[]>(
    `SELECT *, host(last_used_ip) AS last_ip, host(last_mismatch_ip) AS mismatch_ip
         FROM remembered_devices WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY last_used_at DESC`,
    [userId, now],
  );
}

/** Revokes one live device of a user (`deviceId`) or all of them (null); answers their ids. */
export async function revokeDevices(
  db: Queryable,
  userId: string,
  deviceId: string | null,
  revocation: { now: Date; reason: string; by: string },
): Promise<string[]> {
  const [rows] = await db.query<[Array<{ id: string }>, number]>(
    `UPDATE remembered_devices SET revoked_at = $3, revoked_reason = $4, revoked_by = $5
        WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id = $2::uuid) RETURNING id`,
    [userId, deviceId, revocation.now, revocation.reason, revocation.by],
  );
  return rows.map((r) => r.id);
}

/** The id of the user's remembered device whose token hashes to `tokenHash`, or null. */
export async function rememberedDeviceIdOf(db: DataSource | EntityManager, tokenHash: Buffer, userId: string): Promise<string | null> {
  const rows = await db.query<Array<{ id: string }>>(`SELECT id FROM remembered_devices WHERE token_hash = $1 AND user_id = $2`, [
    tokenHash,
    userId,
  ]);
  return rows[0]?.id ?? null;
}
