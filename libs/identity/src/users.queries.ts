import type { DataSource, EntityManager } from 'typeorm';
import { UUID_PATTERN } from '#libs/core';
import { WriteBatch, runStatement, type BatchPart, type Queryable } from '#libs/database';
import type { OtpChannel } from './types.js';

/**
 * Statements on users and legacy accounts (the users aggregate, with organizations.queries.ts),
 * as the directory, the account, recovery, support and legacy-import libraries need them.
 */

/** A user's columns as the directory reads them (`USER_COLUMNS`). */
export interface UserRow {
  id: string;
  organization_id: string;
  enterprise_id: string;
  first_name: string;
  last_name: string;
  email: string;
  email_verified_at: Date | null;
  mobile: string | null;
  mobile_verified_at: Date | null;
  status: 'active' | 'disabled';
  credential_version: number;
  preferred_otp_channel: OtpChannel | null;
}

/** A legacy account's row (`SELECT *`): the columns the directory reads. */
export interface LegacyAccountRow {
  id: string;
  organization_id: string;
  legacy_user_id: string;
  status: 'pending' | 'enrolled';
  first_name: string;
  last_name: string;
  email: string;
  email_key: string;
  mobile: string | null;
  password_hash: string | null;
  user_id: string | null;
}

const USER_COLUMNS = `u.id, u.organization_id, u.enterprise_id, u.first_name, u.last_name, u.email, u.email_verified_at, u.mobile,
  u.mobile_verified_at, u.status, u.credential_version, u.preferred_otp_channel`;

/** The user whose Enterprise ID folds to `key`, with their password hash. */
export async function userByEnterpriseIdKey(db: Queryable, key: string): Promise<(UserRow & { password_hash: string }) | undefined> {
  const rows = await db.query<Array<UserRow & { password_hash: string }>>(
    `SELECT ${USER_COLUMNS}, u.password_hash FROM users u WHERE u.enterprise_id_key = $1`,
    [key],
  );
  return rows[0];
}

export async function userById(db: Queryable, id: string): Promise<UserRow | undefined> {
  const rows = await db.query<UserRow[]>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = $1`, [id]);
  return rows[0];
}

/**
 * A user and their organization's slug in one statement, as a prepared statement on the pool:
 * it runs for every token, refresh and userinfo answer.
 */
export async function userWithOrganizationById(
  dataSource: DataSource,
  id: string,
): Promise<(UserRow & { organization_slug: string | null }) | undefined> {
  const { rows } = await runStatement<UserRow & { organization_slug: string | null }>(
    dataSource,
    `SELECT ${USER_COLUMNS}, o.slug AS organization_slug FROM users u LEFT JOIN organizations o ON o.id = u.organization_id WHERE u.id = $1`,
    [id],
  );
  return rows[0];
}

/**
 * SQL of one jsonb value: the user whose id is the text expression `idText`, with its
 * organization's slug (null when `idText` is no uuid or no user's id). For statements that
 * read a user along with something else (the OIDC adapter reads it with a token);
 * `userWithOrganizationFromJson` turns it into what `Directory.userWithOrganization` answers.
 */
export function userWithOrganizationSql(idText: string): string {
  // The id is worked out once, in its own sub-select (an InitPlan), and then compared as a uuid: written
  // inline, a sequential scan of a small users table would match the pattern against every row.
  return `SELECT to_jsonb(x) FROM (
      SELECT ${USER_COLUMNS}, o.slug AS organization_slug FROM users u LEFT JOIN organizations o ON o.id = u.organization_id
       WHERE u.id = (SELECT CASE WHEN ${idText} ~ '${UUID_PATTERN}' THEN (${idText})::uuid END)) x`;
}

export async function legacyAccountByKey(db: Queryable, key: string): Promise<LegacyAccountRow | undefined> {
  const rows = await db.query<LegacyAccountRow[]>(`SELECT * FROM legacy_accounts WHERE legacy_user_id_key = $1`, [key]);
  return rows[0];
}

export async function legacyAccountById(db: Queryable, id: string): Promise<LegacyAccountRow | undefined> {
  const rows = await db.query<LegacyAccountRow[]>(`SELECT * FROM legacy_accounts WHERE id = $1`, [id]);
  return rows[0];
}

/** Whether an Enterprise ID key or look-alike skeleton is a user's, or a legacy user ID key another legacy account's. */
export async function enterpriseIdInUse(db: Queryable, key: string, skeleton: string, exceptLegacyAccountId: string): Promise<boolean> {
  const rows = await db.query<unknown[]>(
    `SELECT 1 FROM users WHERE enterprise_id_key = $1 OR enterprise_id_skeleton = $2
       UNION ALL
       SELECT 1 FROM legacy_accounts WHERE legacy_user_id_key = $1 AND id <> $3
       LIMIT 1`,
    [key, skeleton, exceptLegacyAccountId],
  );
  return rows.length > 0;
}

/** Rows the support console's actions read. */
export interface ActionTargetUserRow {
  id: string;
  organization_id: string;
  first_name: string;
  email: string;
  status: 'active' | 'disabled';
}

export interface LegacyCorrectionRow {
  id: string;
  organization_id: string;
  status: 'pending' | 'enrolled';
  user_id: string | null;
  first_name: string;
  last_name: string;
  email: string;
  mobile: string | null;
}

export interface UserProfileRow {
  id: string;
  organization_id: string;
  first_name: string;
  last_name: string;
  email: string;
  mobile: string | null;
}

/** A user that account recovery may find by email or enterprise id. */
export interface RecoveryCandidateRow {
  id: string;
  organization_id: string;
  status: 'active' | 'disabled';
  security_code_hash: string;
  recovery_locked_at: Date | null;
  email: string;
  first_name: string;
}

export function activeUserContactsForUpdate(db: Queryable, values: unknown[]) {
  return db.query<Array<{ email: string; mobile: string | null }>>(
    `SELECT email, mobile FROM users WHERE id = $1 AND status = 'active' FOR UPDATE`,
    values,
  );
}

export function userMobileForUpdate(db: Queryable, values: unknown[]) {
  return db.query<Array<{ mobile: string | null }>>(`SELECT mobile FROM users WHERE id = $1 FOR UPDATE`, values);
}

export function clearUserMobile(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE users SET mobile = NULL, mobile_verified_at = NULL, updated_at = $2,
                preferred_otp_channel = CASE WHEN preferred_otp_channel IN ('sms', 'voice') THEN NULL ELSE preferred_otp_channel END
          WHERE id = $1`,
    values,
  );
}

export function setVerifiedUserMobile(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET mobile = $2, mobile_verified_at = $3, updated_at = $3 WHERE id = $1`, values);
}

export function setVerifiedUserEmail(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET email = $2, email_key = $3, email_verified_at = $4, updated_at = $4 WHERE id = $1`, values);
}
export function userCredentialHashes(db: Queryable, values: unknown[]) {
  return db.query<Array<{ password_hash: string; security_code_hash: string }>>(
    `SELECT password_hash, security_code_hash FROM users WHERE id = $1`,
    values,
  );
}

export function userCredentialStateForUpdate(db: Queryable, values: unknown[]) {
  return db.query<Array<{ credential_version: number; status: string }>>(
    `SELECT credential_version, status FROM users WHERE id = $1 FOR UPDATE`,
    values,
  );
}

export function setUserCredential(db: Queryable, column: 'password_hash' | 'security_code_hash', values: unknown[]) {
  return db.query<[Array<{ credential_version: number }>, number]>(
    `UPDATE users SET ${column} = $2, credential_version = credential_version + 1, updated_at = $3 WHERE id = $1 RETURNING credential_version`,
    values,
  );
}
export function userLocaleWithDefault(db: Queryable, values: unknown[]) {
  return db.query<Array<{ locale: string | null; default_locale: string | null }>>(
    `SELECT u.locale, p.default_locale FROM users u LEFT JOIN organization_policies p ON p.organization_id = u.organization_id WHERE u.id = $1`,
    values,
  );
}

export function userLocaleForUpdate(db: Queryable, values: unknown[]) {
  return db.query<Array<{ organization_id: string; previous: string | null }>>(
    `SELECT organization_id, locale AS previous FROM users WHERE id = $1 FOR UPDATE`,
    values,
  );
}

export function setUserLocale(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET locale = $2, updated_at = $3 WHERE id = $1`, values);
}
export function userPasswordState(db: Queryable, values: unknown[]) {
  return db.query<Array<{ password_hash: string; credential_version: number }>>(
    `SELECT password_hash, credential_version FROM users WHERE id = $1`,
    values,
  );
}

export function setUserPassword(db: Queryable, values: unknown[]) {
  return db.query<[Array<{ credential_version: number }>, number]>(
    `UPDATE users SET password_hash = $2, credential_version = credential_version + 1, updated_at = $4
            WHERE id = $1 AND credential_version = $3 AND status = 'active' AND recovery_locked_at IS NULL
            RETURNING credential_version`,
    values,
  );
}

export function userForRecovery(db: Queryable, column: 'email_key' | 'enterprise_id_key', values: unknown[]) {
  return db.query<RecoveryCandidateRow[]>(
    `SELECT id, organization_id, status, security_code_hash, recovery_locked_at, email, first_name
         FROM users WHERE ${column === 'email_key' ? 'email_key' : 'enterprise_id_key'} = $1 ORDER BY created_at, id LIMIT $2`,
    values,
  );
}

export function userRecoveryLock(db: Queryable, values: unknown[]) {
  return db.query<Array<{ recovery_locked_at: Date | null }>>(`SELECT recovery_locked_at FROM users WHERE id = $1`, values);
}
export function settleSecurityCodeSuccess(db: Queryable, values: unknown[]) {
  return db.query<[Array<{ id: string }>, number]>(
    `UPDATE users SET recovery_failed_attempts = 0,
                security_code_hash = CASE WHEN $2::text IS NOT NULL AND security_code_hash = $3 THEN $2 ELSE security_code_hash END
          WHERE id = $1 AND status = 'active' AND recovery_locked_at IS NULL RETURNING id`,
    values,
  );
}

export function userRecoveryAttempts(db: Queryable, values: unknown[]) {
  return db.query<Array<{ recovery_failed_attempts: number; recovery_locked_at: Date | null }>>(
    `SELECT recovery_failed_attempts, recovery_locked_at FROM users WHERE id = $1`,
    values,
  );
}

export function userRecoveryAttemptsForUpdate(db: Queryable, values: unknown[]) {
  return db.query<Array<{ organization_id: string; recovery_failed_attempts: number; recovery_locked_at: Date | null }>>(
    `SELECT organization_id, recovery_failed_attempts, recovery_locked_at FROM users WHERE id = $1 FOR UPDATE`,
    values,
  );
}

export function clearRecoveryLock(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET recovery_failed_attempts = 0, recovery_locked_at = NULL, updated_at = $2 WHERE id = $1`, values);
}

export function countRecoveryFailure(db: Queryable, values: unknown[]) {
  return db.query<[Array<{ attempts: number; locked_at: Date | null }>, number]>(
    `UPDATE users SET recovery_failed_attempts = recovery_failed_attempts + 1,
                recovery_locked_at = CASE WHEN recovery_failed_attempts + 1 >= $2 THEN $3::timestamptz ELSE NULL END
          WHERE id = $1 AND status = 'active' AND recovery_locked_at IS NULL
          RETURNING recovery_failed_attempts AS attempts, recovery_locked_at AS locked_at`,
    values,
  );
}

export function userRecoveryState(db: Queryable, values: unknown[]) {
  return db.query<Array<{ status: 'active' | 'disabled'; recovery_failed_attempts: number; recovery_locked_at: Date | null }>>(
    `SELECT status, recovery_failed_attempts, recovery_locked_at FROM users WHERE id = $1`,
    values,
  );
}

export function disableUser(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET status = 'disabled', updated_at = $2 WHERE id = $1`, values);
}

export function enableUser(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET status = 'active', updated_at = $2 WHERE id = $1`, values);
}

export function userForActionForUpdate(db: Queryable, values: unknown[]) {
  return db.query<ActionTargetUserRow[]>(
    `SELECT id, organization_id, first_name, email, status FROM users WHERE id = $1 FOR UPDATE`,
    values,
  );
}

export function userContactsForUpdate(db: Queryable, values: unknown[]) {
  return db.query<Array<{ organization_id: string; first_name: string; email: string; mobile: string | null }>>(
    `SELECT organization_id, first_name, email, mobile FROM users WHERE id = $1 FOR UPDATE`,
    values,
  );
}

export function setUserEmail(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET email = $2, email_key = $3, email_verified_at = NULL, updated_at = $4 WHERE id = $1`, values);
}

export function setUserMobile(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE users SET mobile = $2, mobile_verified_at = NULL, updated_at = $3,
                  preferred_otp_channel = CASE WHEN preferred_otp_channel IN ('sms', 'voice') THEN NULL ELSE preferred_otp_channel END
            WHERE id = $1`,
    values,
  );
}

export function userEmailAndName(db: Queryable, values: unknown[]) {
  return db.query<Array<{ email: string; first_name: string }>>(`SELECT email, first_name FROM users WHERE id = $1`, values);
}

export function legacyAccountForCorrection(db: Queryable, values: unknown[]) {
  return db.query<LegacyCorrectionRow[]>(
    `SELECT id, organization_id, status, user_id, first_name, last_name, email, mobile FROM legacy_accounts WHERE id = $1 FOR UPDATE`,
    values,
  );
}

export function correctLegacyAccount(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE legacy_accounts SET first_name = $2, last_name = $3, email = $4, email_key = $5, mobile = $6, updated_at = $7 WHERE id = $1`,
    values,
  );
}

export function userProfileForUpdate(db: Queryable, values: unknown[]) {
  return db.query<UserProfileRow[]>(
    `SELECT id, organization_id, first_name, last_name, email, mobile FROM users WHERE id = $1 FOR UPDATE`,
    values,
  );
}

export function setUserNames(db: Queryable, values: unknown[]) {
  return db.query(`UPDATE users SET first_name = $2, last_name = $3, updated_at = $4 WHERE id = $1`, values);
}

/** One legacy import per organization at a time (until the transaction ends): a concurrent run then sees the first one's rows as unchanged. */
export async function lockLegacyImportOf(manager: EntityManager, organizationId: string): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`legacy_import:${organizationId}`]);
}
/** A legacy account as the import compares it with the file. */
export interface ExistingLegacyAccountRow {
  legacy_user_id_key: string;
  organization_id: string;
  status: 'pending' | 'enrolled';
  legacy_user_id: string;
  first_name: string;
  last_name: string;
  email: string;
  mobile: string | null;
  password_hash: string | null;
}

export function legacyAccountsByKey(db: Queryable, values: unknown[]) {
  return db.query<ExistingLegacyAccountRow[]>(
    `SELECT legacy_user_id_key, organization_id, status, legacy_user_id, first_name, last_name, email, mobile, password_hash
         FROM legacy_accounts WHERE legacy_user_id_key = ANY($1::text[]) FOR UPDATE`,
    values,
  );
}

export function enterpriseIdKeysTaken(db: Queryable, values: unknown[]) {
  return db.query<Array<{ key: string }>>(
    `SELECT u.enterprise_id_key AS key FROM users u
            WHERE u.enterprise_id_key = ANY($1::text[])
              AND NOT EXISTS (SELECT 1 FROM legacy_accounts l WHERE l.user_id = u.id AND l.legacy_user_id_key = u.enterprise_id_key)`,
    values,
  );
}

export function insertLegacyAccounts(db: Queryable, values: unknown[]) {
  return db.query<Array<{ key: string }>>(
    `INSERT INTO legacy_accounts
           (organization_id, legacy_user_id, legacy_user_id_key, first_name, last_name, email, email_key, mobile, password_hash, hash_format)
         SELECT $1::uuid, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
         ON CONFLICT (legacy_user_id_key) DO NOTHING
         RETURNING legacy_user_id_key AS key`,
    values,
  );
}

export function updateLegacyAccounts(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE legacy_accounts l SET
            legacy_user_id = u.legacy_user_id, first_name = u.first_name, last_name = u.last_name, email = u.email,
            email_key = u.email_key, mobile = u.mobile, password_hash = u.password_hash, hash_format = u.hash_format, updated_at = now()
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
                AS u(legacy_user_id, legacy_user_id_key, first_name, last_name, email, email_key, mobile, password_hash, hash_format)
          WHERE l.legacy_user_id_key = u.legacy_user_id_key AND l.organization_id = $1::uuid AND l.status = 'pending'`,
    values,
  );
}

/** Sign-in: a password hash rehashed with today's parameters replaces the old one, unless it changed meanwhile. */
export function replacePasswordHash(db: Queryable, userId: string, rehashed: string, previous: string) {
  return db.query(`UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3`, [userId, rehashed, previous]);
}

/**
 * Sign-in: a login code that reached the email address on file proves it (only if the code
 * went to the address on file now, not to one replaced meanwhile). Answers how many rows changed.
 */
export async function markEmailProvenByCode(manager: EntityManager, userId: string, challengeId: string, now: Date): Promise<number> {
  const [, count] = await manager.query<[unknown[], number]>(
    `UPDATE users u SET email_verified_at = $3, updated_at = $3 FROM otp_challenges c
          WHERE u.id = $1 AND c.id = $2 AND u.email_verified_at IS NULL AND c.channel = 'email' AND c.destination = u.email`,
    [userId, challengeId, now],
  );
  return count;
}

/** Enrollment: the mobile number given is verified, if it is still the one on file. */
export function setMobileVerified(db: Queryable, userId: string, now: Date, mobile: string) {
  return db.query(`UPDATE users SET mobile_verified_at = $2, updated_at = $2 WHERE id = $1 AND mobile = $3`, [userId, now, mobile]);
}

/** Enrollment: the language the person chose on the legacy account's pages. */
export function setLegacyAccountLocale(db: Queryable, legacyAccountId: string, locale: string) {
  return db.query(`UPDATE legacy_accounts SET locale = $2 WHERE id = $1`, [legacyAccountId, locale]);
}

/** Sign-in's finishing batch: the channel just used becomes the person's default, if the `after` parts wrote. */
export function addPreferredChannelPart(batch: WriteBatch, userId: string, channel: string, after: BatchPart): BatchPart {
  return batch.add(
    'preferred_channel',
    `UPDATE users SET preferred_otp_channel = ${batch.param(channel, 'text')}
          WHERE id = ${batch.param(userId, 'uuid')} AND ${WriteBatch.ran(after)} RETURNING id`,
  );
}

/** Enrollment's "the data is wrong": a correction request on the legacy account, for support. */
export function insertCorrectionRequest(
  db: Queryable,
  values: [legacyAccountId: string, organizationId: string, message: string, now: Date],
) {
  return db.query<Array<{ id: string }>>(
    `INSERT INTO correction_requests (legacy_account_id, organization_id, message, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
    values,
  );
}

/** Enrollment: the legacy account's status, its row locked (exactly one enrollment of it wins). */
export function legacyAccountStatusForUpdate(manager: EntityManager, legacyAccountId: string) {
  return manager.query<Array<{ status: string }>>(`SELECT status FROM legacy_accounts WHERE id = $1 FOR UPDATE`, [legacyAccountId]);
}

/** Enrollment: the user the legacy account becomes ($13: the legacy account, whose chosen language the user keeps). */
export function insertEnrolledUser(manager: EntityManager, values: unknown[]) {
  return manager.query<Array<{ id: string }>>(
    `INSERT INTO users (organization_id, enterprise_id, enterprise_id_key, enterprise_id_skeleton, first_name, last_name, email, email_key,
                              email_verified_at, mobile, password_hash, security_code_hash, created_at, updated_at, locale)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $9, $9, (SELECT locale FROM legacy_accounts WHERE id = $13)) RETURNING id`,
    values,
  );
}

/** Enrollment: the legacy account is enrolled as `userId`, if still pending; its password is kept only to recognise it (retired). */
export function claimLegacyAccount(
  manager: EntityManager,
  values: [legacyAccountId: string, userId: string, now: Date, retiredPasswordHash: string],
) {
  return manager.query<[Array<{ id: string }>, number]>(
    `UPDATE legacy_accounts SET status = 'enrolled', user_id = $2, enrolled_at = $3, updated_at = $3, password_hash = $4, hash_format = NULL
            WHERE id = $1 AND status = 'pending' RETURNING id`,
    values,
  );
}
