import { InvalidArgumentError, type Command } from 'commander';
import type { DataSource } from 'typeorm';
import { AuditService } from '#libs/audit';
import type { AppConfig } from '#libs/config';
import { SystemClock, type Channel } from '#libs/core';
import { FACTOR_IDS, isFactorId } from '#libs/factors';
import { OrganizationPolicyService, type PolicyChange } from '#libs/identity';
import { MESSAGE_LOCALES, isMessageLocale, type MessageLocale } from '#libs/notifications';

export interface OrgPolicyCommandDeps {
  io: { out: (line: string) => void; err: (line: string) => void };
  config: () => AppConfig;
  withDatabase: <T>(config: AppConfig, io: OrgPolicyCommandDeps['io'], work: (ds: DataSource) => Promise<T>) => Promise<T>;
  operator: { type: 'operator'; id: string };
}

const onOff = (value: string): boolean => {
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new InvalidArgumentError('expected on or off');
};

const whole =
  (low: number, high: number) =>
  (value: string): number => {
    if (!/^\d{1,3}$/u.test(value) || Number(value) < low || Number(value) > high) {
      throw new InvalidArgumentError(`expected a whole number from ${low} to ${high}`);
    }
    return Number(value);
  };

const channels = (value: string): Channel[] => {
  const list = [...new Set(value.split(',').map((c) => c.trim()))];
  if (!list.every((c) => c === 'email' || c === 'sms' || c === 'voice'))
    throw new InvalidArgumentError('expected a list of email, sms, voice');
  if (!list.includes('email')) throw new InvalidArgumentError('email must stay an OTP channel');
  return list;
};

/** A list of factor ids (libs/factors), kept in the registry's order. */
const factors = (value: string): string[] => {
  const list = value.split(',').map((f) => f.trim());
  if (!list.every(isFactorId)) throw new InvalidArgumentError(`expected a list of ${FACTOR_IDS.join(', ')}`);
  return FACTOR_IDS.filter((id) => list.includes(id));
};

const lengthRange = (value: string): { min: number; max: number } => {
  const m = /^([6-9])(?:-([6-9]))?$/u.exec(value);
  if (!m) throw new InvalidArgumentError('expected a length from 6 to 9, or a range such as 6-9');
  const min = Number(m[1]);
  const max = Number(m[2] ?? m[1]);
  if (min > max) throw new InvalidArgumentError('the range must go from short to long, such as 6-9');
  return { min, max };
};

const messageLocale = (value: string): MessageLocale => {
  if (!isMessageLocale(value)) throw new InvalidArgumentError(`expected one of ${MESSAGE_LOCALES.join(', ')}`);
  return value;
};

interface Opts {
  otpChannels?: PolicyChange['otpChannels'];
  rememberDevices?: boolean;
  rememberDeviceDays?: number;
  securityCodeLength?: { min: number; max: number };
  recoveryMaxFailures?: number;
  requireEmergencyEmail?: boolean;
  requireEmergencyPhone?: boolean;
  contactReminderLimit?: number;
  defaultLocale?: MessageLocale;
  factors?: string[];
}

/**
 * `org:policy <slug> [options]`: prints an organization's policy as one JSON object; with
 * options, changes it first (validated as a whole, version bumped, audited).
 */
export function registerOrgPolicyCommands(program: Command, deps: OrgPolicyCommandDeps): void {
  program
    .command('org:policy')
    .description("show an organization's policy as JSON, or change it with the options below")
    .argument('<slug>', 'organization slug')
    .option('--otp-channels <list>', 'OTP channels allowed, comma-separated (email always): email,sms,voice', channels)
    .option('--remember-devices <on|off>', '"Remember this device" allowed', onOff)
    .option('--remember-device-days <1-365>', 'how long a remembered device skips the code', whole(1, 365))
    .option('--security-code-length <n|min-max>', 'security code length, 6 to 9 digits (e.g. 6-9 or 8)', lengthRange)
    .option('--recovery-max-failures <3-10>', 'wrong security codes before recovery is blocked', whole(3, 10))
    .option('--require-emergency-email <on|off>', 'users must verify an emergency contact email', onOff)
    .option('--require-emergency-phone <on|off>', 'users must verify an emergency contact phone', onOff)
    .option('--contact-reminder-limit <0-100>', 'how often "Remind me later" may postpone that', whole(0, 100))
    .option('--default-locale <en|it>', 'the language of messages to people who chose none', messageLocale)
    .option('--factors <list>', `factors allowed, comma-separated: ${FACTOR_IDS.join(',')}`, factors)
    .action(async (slug: string, opts: Opts) => {
      const change: PolicyChange = {
        ...(opts.otpChannels !== undefined ? { otpChannels: opts.otpChannels } : {}),
        ...(opts.rememberDevices !== undefined ? { rememberDeviceEnabled: opts.rememberDevices } : {}),
        ...(opts.rememberDeviceDays !== undefined ? { rememberDeviceDays: opts.rememberDeviceDays } : {}),
        ...(opts.securityCodeLength !== undefined
          ? { securityCodeMinLength: opts.securityCodeLength.min, securityCodeMaxLength: opts.securityCodeLength.max }
          : {}),
        ...(opts.recoveryMaxFailures !== undefined ? { recoveryMaxFailures: opts.recoveryMaxFailures } : {}),
        ...(opts.requireEmergencyEmail !== undefined ? { requireVerifiedEmergencyEmail: opts.requireEmergencyEmail } : {}),
        ...(opts.requireEmergencyPhone !== undefined ? { requireVerifiedEmergencyPhone: opts.requireEmergencyPhone } : {}),
        ...(opts.contactReminderLimit !== undefined ? { contactReminderLimit: opts.contactReminderLimit } : {}),
        ...(opts.defaultLocale !== undefined ? { defaultLocale: opts.defaultLocale } : {}),
        ...(opts.factors !== undefined ? { allowedFactors: opts.factors } : {}),
      };
      await deps.withDatabase(deps.config(), deps.io, async (ds) => {
        const service = new OrganizationPolicyService(ds, new AuditService(ds, new SystemClock()));
        if (Object.keys(change).length === 0) {
          deps.io.out(JSON.stringify(await service.get(slug)));
          return;
        }
        const { policy, changed } = await service.update(slug, change, deps.operator);
        if (changed.length === 0) deps.io.err('nothing changed');
        deps.io.out(JSON.stringify(policy));
      });
    });
}
