import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { UUID_PATTERN, foldKey } from '#libs/core';
import { runStatement } from '#libs/database';
import type { OtpChannel } from './entities.js';
import type { PasswordContext } from './password-strength.js';

export interface UserRecord {
  id: string;
  organizationId: string;
  enterpriseId: string;
  firstName: string;
  lastName: string;
  email: string;
  emailVerifiedAt: Date | null;
  mobile: string | null;
  mobileVerifiedAt: Date | null;
  status: 'active' | 'disabled';
  credentialVersion: number;
  preferredOtpChannel: OtpChannel | null;
}

export interface PolicyRecord {
  organizationId: string;
  otpChannels: OtpChannel[];
  rememberDeviceEnabled: boolean;
  rememberDeviceDays: number;
  securityCodeMinLength: number;
  securityCodeMaxLength: number;
  recoveryMaxFailures: number;
  /** The factors the organization allows (libs/factors ids): sign-in asks the factor registry which of them serve a person. */
  allowedFactors: string[];
  version: number;
}

export interface LegacyRecord {
  id: string;
  organizationId: string;
  legacyUserId: string;
  status: 'pending' | 'enrolled';
  firstName: string;
  lastName: string;
  email: string;
  emailKey: string;
  mobile: string | null;
  /** The imported hash while pending; after enrollment an argon2id hash of the retired legacy password. */
  passwordHash: string | null;
  userId: string | null;
}

export type LoginTarget = { kind: 'user'; user: UserRecord; passwordHash: string } | { kind: 'legacy'; account: LegacyRecord } | null;

const USER_COLUMNS = `u.id, u.organization_id, u.enterprise_id, u.first_name, u.last_name, u.email, u.email_verified_at, u.mobile,
  u.mobile_verified_at, u.status, u.credential_version, u.preferred_otp_channel`;

type UserRow = Record<string, unknown>;

function toUser(r: UserRow): UserRecord {
  return {
    id: r.id as string,
    organizationId: r.organization_id as string,
    enterpriseId: r.enterprise_id as string,
    firstName: r.first_name as string,
    lastName: r.last_name as string,
    email: r.email as string,
    emailVerifiedAt: (r.email_verified_at as Date | null) ?? null,
    mobile: (r.mobile as string | null) ?? null,
    mobileVerifiedAt: (r.mobile_verified_at as Date | null) ?? null,
    status: r.status as 'active' | 'disabled',
    credentialVersion: r.credential_version as number,
    preferredOtpChannel: (r.preferred_otp_channel as OtpChannel | null) ?? null,
  };
}

/** A user and its organization's slug, as `userWithOrganization` answers. */
export interface UserWithOrganization {
  user: UserRecord;
  organizationSlug: string | null;
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

/** What `userWithOrganizationSql` selected, as a record (null for no user). */
export function userWithOrganizationFromJson(value: Record<string, unknown> | null): UserWithOrganization | null {
  if (!value) return null;
  const at = (v: unknown): Date | null => (typeof v === 'string' ? new Date(v) : null);
  return {
    user: toUser({ ...value, email_verified_at: at(value.email_verified_at), mobile_verified_at: at(value.mobile_verified_at) }),
    organizationSlug: (value.organization_slug as string | null) ?? null,
  };
}

function toLegacy(r: Record<string, unknown>): LegacyRecord {
  return {
    id: r.id as string,
    organizationId: r.organization_id as string,
    legacyUserId: r.legacy_user_id as string,
    status: r.status as 'pending' | 'enrolled',
    firstName: r.first_name as string,
    lastName: r.last_name as string,
    email: r.email as string,
    emailKey: r.email_key as string,
    mobile: (r.mobile as string | null) ?? null,
    passwordHash: (r.password_hash as string | null) ?? null,
    userId: (r.user_id as string | null) ?? null,
  };
}

/** Read access to people and policies, for the flows. Writes stay in the services that own them. */
@Injectable()
export class Directory {
  constructor(private readonly dataSource: DataSource) {}

  /** What a typed "User ID" names: an Enterprise ID first, else a legacy user ID. */
  async findLoginTarget(userId: string): Promise<LoginTarget> {
    const key = foldKey(userId.trim());
    if (key === '' || key.length > 200) return null;
    const users = await this.dataSource.query<UserRow[]>(
      `SELECT ${USER_COLUMNS}, u.password_hash FROM users u WHERE u.enterprise_id_key = $1`,
      [key],
    );
    if (users[0]) return { kind: 'user', user: toUser(users[0]), passwordHash: users[0].password_hash as string };
    const legacy = await this.dataSource.query<Array<Record<string, unknown>>>(
      `SELECT * FROM legacy_accounts WHERE legacy_user_id_key = $1`,
      [key],
    );
    return legacy[0] ? { kind: 'legacy', account: toLegacy(legacy[0]) } : null;
  }

  async user(id: string, manager: EntityManager = this.dataSource.manager): Promise<UserRecord | null> {
    const rows = await manager.query<UserRow[]>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = $1`, [id]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  async legacyAccount(id: string): Promise<LegacyRecord | null> {
    const rows = await this.dataSource.query<Array<Record<string, unknown>>>(`SELECT * FROM legacy_accounts WHERE id = $1`, [id]);
    return rows[0] ? toLegacy(rows[0]) : null;
  }

  async policy(organizationId: string): Promise<PolicyRecord> {
    const rows = await this.dataSource.query<Array<Record<string, unknown>>>(
      `SELECT * FROM organization_policies WHERE organization_id = $1`,
      [organizationId],
    );
    const r = rows[0];
    if (!r) throw new Error(`organization ${organizationId} has no policy`);
    return {
      organizationId,
      otpChannels: r.otp_channels as OtpChannel[],
      rememberDeviceEnabled: r.remember_device_enabled as boolean,
      rememberDeviceDays: r.remember_device_days as number,
      securityCodeMinLength: r.security_code_min_length as number,
      securityCodeMaxLength: r.security_code_max_length as number,
      recoveryMaxFailures: r.recovery_max_failures as number,
      allowedFactors: r.allowed_factors as string[],
      version: r.version as number,
    };
  }

  /**
   * A user and their organization's slug in one statement: what the OIDC provider reads for
   * every token and userinfo answer (`user()` and `organization()` would be two round trips).
   */
  async userWithOrganization(id: string): Promise<UserWithOrganization | null> {
    // A prepared statement: it runs for every token, refresh and userinfo answer.
    const { rows } = await runStatement<UserRow & { organization_slug: string | null }>(
      this.dataSource,
      `SELECT ${USER_COLUMNS}, o.slug AS organization_slug FROM users u LEFT JOIN organizations o ON o.id = u.organization_id WHERE u.id = $1`,
      [id],
    );
    return rows[0] ? { user: toUser(rows[0]), organizationSlug: rows[0].organization_slug } : null;
  }

  /** An organization's slug and display name (for claims and pages). */
  /** What a new password is checked against besides itself: the person's names, IDs and organization (checkNewPassword). */
  async passwordContext(person: {
    organizationId: string;
    enterpriseId?: string | undefined;
    email: string;
    firstName: string;
    lastName: string;
  }): Promise<PasswordContext> {
    const organization = await this.organization(person.organizationId);
    return {
      enterpriseId: person.enterpriseId,
      email: person.email,
      firstName: person.firstName,
      lastName: person.lastName,
      organizationName: organization?.name,
      organizationSlug: organization?.slug,
    };
  }

  async organization(id: string): Promise<{ id: string; slug: string; name: string } | null> {
    const rows = await this.dataSource.query<Array<{ id: string; slug: string; name: string }>>(
      `SELECT id, slug, name FROM organizations WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  /** Whether an Enterprise ID (its key or look-alike skeleton) is taken, or is another person's legacy user ID. */
  async enterpriseIdTaken(key: string, skeleton: string, exceptLegacyAccountId: string): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(
      `SELECT 1 FROM users WHERE enterprise_id_key = $1 OR enterprise_id_skeleton = $2
       UNION ALL
       SELECT 1 FROM legacy_accounts WHERE legacy_user_id_key = $1 AND id <> $3
       LIMIT 1`,
      [key, skeleton, exceptLegacyAccountId],
    );
    return rows.length > 0;
  }
}
