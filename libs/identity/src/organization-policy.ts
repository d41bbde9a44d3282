import type { DataSource } from 'typeorm';
import type { AuditEventInput, AuditService } from '#libs/audit';
import { CHANNELS, DomainError, type Channel } from '#libs/core';
import { allowedFactorsProblem } from '#libs/factors';
import { MESSAGE_LOCALES, isMessageLocale, type MessageLocale } from '#libs/notifications';
import {
  policyOfSlug,
  policyOfSlugForUpdate,
  updatePolicy,
  type OrganizationPolicyColumn,
  type OrganizationPolicyListRow,
} from './organizations.queries.js';

/**
 * An organization's policy as operators see and change it (`npm run cli -- org:policy`).
 * Every change is one transaction: the row is locked, validated as a whole, its version
 * bumped, and an `organization.policy_changed` audit event records before and after.
 * Remembered devices follow the policy at their next use (lifetime shortened below a
 * device's age, or remembering turned off: the device needs a code again).
 */
export interface OrganizationPolicy {
  otpChannels: Channel[];
  rememberDeviceEnabled: boolean;
  rememberDeviceDays: number;
  securityCodeMinLength: number;
  securityCodeMaxLength: number;
  recoveryMaxFailures: number;
  requireVerifiedEmergencyEmail: boolean;
  requireVerifiedEmergencyPhone: boolean;
  contactReminderLimit: number;
  /** The language of messages to people who chose none (a message catalogue: en, it). */
  defaultLocale: MessageLocale;
  /** The factors the organization allows (libs/factors ids, in the registry's order). */
  allowedFactors: string[];
  version: number;
}

export type PolicyChange = Partial<Omit<OrganizationPolicy, 'version'>>;

const COLUMNS: Record<keyof Omit<OrganizationPolicy, 'version'>, OrganizationPolicyColumn> = {
  otpChannels: 'otp_channels',
  rememberDeviceEnabled: 'remember_device_enabled',
  rememberDeviceDays: 'remember_device_days',
  securityCodeMinLength: 'security_code_min_length',
  securityCodeMaxLength: 'security_code_max_length',
  recoveryMaxFailures: 'recovery_max_failures',
  requireVerifiedEmergencyEmail: 'require_verified_emergency_email',
  requireVerifiedEmergencyPhone: 'require_verified_emergency_phone',
  contactReminderLimit: 'contact_reminder_limit',
  defaultLocale: 'default_locale',
  allowedFactors: 'allowed_factors',
};

function intIn(value: number, low: number, high: number, what: string): void {
  if (!Number.isInteger(value) || value < low || value > high) {
    throw new DomainError('invalid_policy', `${what} must be a whole number from ${low} to ${high}`);
  }
}

/** Checks a whole policy (after a change is applied), with messages an operator can act on. */
export function validatePolicy(p: Omit<OrganizationPolicy, 'version'>): void {
  if (p.otpChannels.length === 0 || !p.otpChannels.every((c) => (CHANNELS as readonly string[]).includes(c))) {
    throw new DomainError('invalid_policy', 'OTP channels must be some of email, sms, voice');
  }
  if (!p.otpChannels.includes('email')) throw new DomainError('invalid_policy', 'OTP channels must include email');
  intIn(p.rememberDeviceDays, 1, 365, 'remember-device days');
  intIn(p.securityCodeMinLength, 6, 9, 'the shortest security code');
  intIn(p.securityCodeMaxLength, 6, 9, 'the longest security code');
  if (p.securityCodeMinLength > p.securityCodeMaxLength) {
    throw new DomainError('invalid_policy', 'the shortest security code cannot be longer than the longest');
  }
  intIn(p.recoveryMaxFailures, 3, 10, 'wrong security codes before recovery is blocked');
  intIn(p.contactReminderLimit, 0, 100, 'contact reminders');
  if (!isMessageLocale(p.defaultLocale)) {
    throw new DomainError('invalid_policy', `the default message language must be one of ${MESSAGE_LOCALES.join(', ')}`);
  }
  const factors = allowedFactorsProblem(p);
  if (factors) throw new DomainError('invalid_policy', factors);
}

function fromRow(r: OrganizationPolicyListRow): OrganizationPolicy {
  return {
    otpChannels: [...r.otp_channels_list].sort(
      (a, b) => CHANNELS.indexOf(a as never) - CHANNELS.indexOf(b as never),
    ) as OrganizationPolicy['otpChannels'],
    rememberDeviceEnabled: r.remember_device_enabled,
    rememberDeviceDays: r.remember_device_days,
    securityCodeMinLength: r.security_code_min_length,
    securityCodeMaxLength: r.security_code_max_length,
    recoveryMaxFailures: r.recovery_max_failures,
    requireVerifiedEmergencyEmail: r.require_verified_emergency_email,
    requireVerifiedEmergencyPhone: r.require_verified_emergency_phone,
    contactReminderLimit: r.contact_reminder_limit,
    defaultLocale: r.default_locale as MessageLocale,
    allowedFactors: [...r.allowed_factors],
    version: r.version,
  };
}

export class OrganizationPolicyService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async get(slug: string): Promise<OrganizationPolicy> {
    const row = await policyOfSlug(this.dataSource, slug);
    if (!row) throw new DomainError('organization_not_found', `no organization with slug "${slug}"`);
    return fromRow(row);
  }

  /** Applies a change; returns the policy after it (unchanged, and nothing recorded, when it changes nothing). */
  async update(
    slug: string,
    change: PolicyChange,
    actor: AuditEventInput['actor'],
  ): Promise<{ policy: OrganizationPolicy; changed: string[] }> {
    return await this.dataSource.transaction(async (m) => {
      const row = await policyOfSlugForUpdate(m, slug);
      if (!row) throw new DomainError('organization_not_found', `no organization with slug "${slug}"`);
      const before = fromRow(row);
      const { version: _v, ...current } = before;
      const next = { ...current, ...change };
      validatePolicy(next);
      const changed = (Object.keys(COLUMNS) as Array<keyof typeof COLUMNS>).filter(
        (k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]),
      );
      if (changed.length === 0) return { policy: before, changed: [] };
      const after = fromRow(
        await updatePolicy(
          m,
          row.org_id,
          changed.map((k) => [COLUMNS[k], next[k]] as const),
        ),
      );
      await this.audit.record(
        {
          type: 'organization.policy_changed',
          actor,
          subject: { type: 'organization', id: row.org_id },
          organizationId: row.org_id,
          details: {
            // A list of {setting, before, after}: setting names such as `security_code_min_length` would read as secrets as keys.
            changed: changed.map((k) => ({ setting: COLUMNS[k], before: current[k], after: next[k] })),
            version: after.version,
          },
        },
        m,
      );
      return { policy: after, changed: changed.map((k) => COLUMNS[k]) };
    });
  }
}
