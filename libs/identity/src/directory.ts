import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { foldKey } from '#libs/core';
import type { OtpChannel } from './types.js';
import { organizationById, policyOfOrganization } from './organizations.queries.js';
import type { PasswordContext } from './password-strength.js';
import {
  enterpriseIdInUse,
  legacyAccountById,
  legacyAccountByKey,
  userByEnterpriseIdKey,
  userById,
  userWithOrganizationById,
  type LegacyAccountRow,
  type UserRow,
} from './users.queries.js';

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

function toUser(r: UserRow): UserRecord {
  return {
    id: r.id,
    organizationId: r.organization_id,
    enterpriseId: r.enterprise_id,
    firstName: r.first_name,
    lastName: r.last_name,
    email: r.email,
    emailVerifiedAt: r.email_verified_at ?? null,
    mobile: r.mobile ?? null,
    mobileVerifiedAt: r.mobile_verified_at ?? null,
    status: r.status,
    credentialVersion: r.credential_version,
    preferredOtpChannel: r.preferred_otp_channel ?? null,
  };
}

/** A user and its organization's slug, as `userWithOrganization` answers. */
export interface UserWithOrganization {
  user: UserRecord;
  organizationSlug: string | null;
}

/** What `userWithOrganizationSql` (users.queries.ts) selected, as a record (null for no user). */
export function userWithOrganizationFromJson(value: Record<string, unknown> | null): UserWithOrganization | null {
  if (!value) return null;
  const at = (v: unknown): Date | null => (typeof v === 'string' ? new Date(v) : null);
  return {
    user: toUser({ ...value, email_verified_at: at(value.email_verified_at), mobile_verified_at: at(value.mobile_verified_at) } as UserRow),
    organizationSlug: (value.organization_slug as string | null) ?? null,
  };
}

function toLegacy(r: LegacyAccountRow): LegacyRecord {
  return {
    id: r.id,
    organizationId: r.organization_id,
    legacyUserId: r.legacy_user_id,
    status: r.status,
    firstName: r.first_name,
    lastName: r.last_name,
    email: r.email,
    emailKey: r.email_key,
    mobile: r.mobile ?? null,
    passwordHash: r.password_hash ?? null,
    userId: r.user_id ?? null,
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
    const user = await userByEnterpriseIdKey(this.dataSource, key);
    if (user) return { kind: 'user', user: toUser(user), passwordHash: user.password_hash };
    const legacy = await legacyAccountByKey(this.dataSource, key);
    return legacy ? { kind: 'legacy', account: toLegacy(legacy) } : null;
  }

  async user(id: string, manager: EntityManager = this.dataSource.manager): Promise<UserRecord | null> {
    const row = await userById(manager, id);
    return row ? toUser(row) : null;
  }

  async legacyAccount(id: string): Promise<LegacyRecord | null> {
    const row = await legacyAccountById(this.dataSource, id);
    return row ? toLegacy(row) : null;
  }

  async policy(organizationId: string): Promise<PolicyRecord> {
    const r = await policyOfOrganization(this.dataSource, organizationId);
    if (!r) throw new Error(`organization ${organizationId} has no policy`);
    return {
      organizationId,
      otpChannels: r.otp_channels,
      rememberDeviceEnabled: r.remember_device_enabled,
      rememberDeviceDays: r.remember_device_days,
      securityCodeMinLength: r.security_code_min_length,
      securityCodeMaxLength: r.security_code_max_length,
      recoveryMaxFailures: r.recovery_max_failures,
      allowedFactors: r.allowed_factors,
      version: r.version,
    };
  }

  /**
   * A user and their organization's slug in one statement: what the OIDC provider reads for
   * every token and userinfo answer (`user()` and `organization()` would be two round trips).
   */
  async userWithOrganization(id: string): Promise<UserWithOrganization | null> {
    const row = await userWithOrganizationById(this.dataSource, id);
    return row ? { user: toUser(row), organizationSlug: row.organization_slug } : null;
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
    return (await organizationById(this.dataSource, id)) ?? null;
  }

  /** Whether an Enterprise ID (its key or look-alike skeleton) is taken, or is another person's legacy user ID. */
  async enterpriseIdTaken(key: string, skeleton: string, exceptLegacyAccountId: string): Promise<boolean> {
    return await enterpriseIdInUse(this.dataSource, key, skeleton, exceptLegacyAccountId);
  }
}
