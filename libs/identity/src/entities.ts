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

export type LegacyHashFormat = 'bcrypt' | 'argon2' | 'pbkdf2_sha256';

export const IDENTITY_ENTITIES = [OrganizationEntity, OrganizationPolicyEntity];
