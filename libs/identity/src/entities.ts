import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import type { Channel } from '#libs/core';

/** The one Channel type (libs/core), under the name the directory's columns use. */
export type OtpChannel = Channel;

@Entity({ name: 'organizations' })
export class OrganizationEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'text' })
  slug!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

@Entity({ name: 'organization_policies' })
export class OrganizationPolicyEntity {
  @PrimaryColumn({ name: 'organization_id', type: 'uuid' })
  organizationId!: string;

  @Column({ name: 'otp_channels', type: 'text', array: true })
  otpChannels!: OtpChannel[];

  @Column({ name: 'remember_device_enabled', type: 'boolean' })
  rememberDeviceEnabled!: boolean;

  @Column({ name: 'remember_device_days', type: 'integer' })
  rememberDeviceDays!: number;

  @Column({ name: 'security_code_min_length', type: 'integer' })
  securityCodeMinLength!: number;

  @Column({ name: 'security_code_max_length', type: 'integer' })
  securityCodeMaxLength!: number;

  @Column({ name: 'recovery_max_failures', type: 'integer' })
  recoveryMaxFailures!: number;

  /** The factors the organization allows (libs/factors ids). */
  @Column({ name: 'allowed_factors', type: 'text', array: true })
  allowedFactors!: string[];

  /** Moves on with every change, so remembered devices can be re-checked against it. */
  @Column({ type: 'integer' })
  version!: number;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

@Entity({ name: 'users' })
export class UserEntity {
  /** Stable, opaque id; also the OIDC `sub`. */
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'organization_id', type: 'uuid' })
  organizationId!: string;

  @Column({ name: 'enterprise_id', type: 'text' })
  enterpriseId!: string;

  @Column({ name: 'enterprise_id_key', type: 'text' })
  enterpriseIdKey!: string;

  @Column({ name: 'first_name', type: 'text' })
  firstName!: string;

  @Column({ name: 'last_name', type: 'text' })
  lastName!: string;

  @Column({ type: 'text' })
  email!: string;

  @Column({ name: 'email_key', type: 'text' })
  emailKey!: string;

  @Column({ name: 'email_verified_at', type: 'timestamptz', nullable: true })
  emailVerifiedAt!: Date | null;

  @Column({ type: 'text', nullable: true })
  mobile!: string | null;

  @Column({ name: 'mobile_verified_at', type: 'timestamptz', nullable: true })
  mobileVerifiedAt!: Date | null;

  @Column({ name: 'password_hash', type: 'text', select: false })
  passwordHash!: string;

  @Column({ name: 'security_code_hash', type: 'text', select: false })
  securityCodeHash!: string;

  @Column({ type: 'text' })
  status!: 'active' | 'disabled';

  @Column({ name: 'credential_version', type: 'integer' })
  credentialVersion!: number;

  @Column({ name: 'preferred_otp_channel', type: 'text', nullable: true })
  preferredOtpChannel!: OtpChannel | null;

  @Column({ name: 'recovery_failed_attempts', type: 'integer' })
  recoveryFailedAttempts!: number;

  @Column({ name: 'recovery_locked_at', type: 'timestamptz', nullable: true })
  recoveryLockedAt!: Date | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

export type LegacyHashFormat = 'bcrypt' | 'argon2' | 'pbkdf2_sha256';

@Entity({ name: 'legacy_accounts' })
export class LegacyAccountEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'organization_id', type: 'uuid' })
  organizationId!: string;

  @Column({ name: 'legacy_user_id', type: 'text' })
  legacyUserId!: string;

  @Column({ name: 'legacy_user_id_key', type: 'text' })
  legacyUserIdKey!: string;

  @Column({ type: 'text' })
  status!: 'pending' | 'enrolled';

  @Column({ name: 'first_name', type: 'text' })
  firstName!: string;

  @Column({ name: 'last_name', type: 'text' })
  lastName!: string;

  @Column({ type: 'text' })
  email!: string;

  @Column({ name: 'email_key', type: 'text' })
  emailKey!: string;

  @Column({ type: 'text', nullable: true })
  mobile!: string | null;

  @Column({ name: 'password_hash', type: 'text', nullable: true, select: false })
  passwordHash!: string | null;

  @Column({ name: 'hash_format', type: 'text', nullable: true })
  hashFormat!: LegacyHashFormat | null;

  @Column({ name: 'user_id', type: 'uuid', nullable: true })
  userId!: string | null;

  @Column({ name: 'enrolled_at', type: 'timestamptz', nullable: true })
  enrolledAt!: Date | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

export const IDENTITY_ENTITIES = [OrganizationEntity, OrganizationPolicyEntity, UserEntity, LegacyAccountEntity];
