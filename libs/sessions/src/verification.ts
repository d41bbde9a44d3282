import type { OtpChannel } from '../../identity/src/index.js';

/**
 * What was verified in one authentication, when and how. A session's `acr` and `amr`
 * are derived from these records, never from flags.
 */
export type VerificationRecord =
  | { method: 'password'; at: string }
  | { method: 'legacy_password'; at: string }
  | { method: 'otp'; channel: OtpChannel; at: string }
  | { method: 'remembered_device'; deviceId: string; at: string }
  | { method: 'security_code'; at: string };

export const LOA1 = 'urn:gatehouse:loa:1';
export const LOA2 = 'urn:gatehouse:loa:2';

/** loa:2 = password plus an OTP verified in this authentication; loa:1 = password plus a remembered device or an OTP. */
export function acrOf(records: readonly VerificationRecord[]): typeof LOA1 | typeof LOA2 | null {
  const password = records.some((r) => r.method === 'password' || r.method === 'legacy_password');
  if (!password) return null;
  if (records.some((r) => r.method === 'otp')) return LOA2;
  if (records.some((r) => r.method === 'remembered_device')) return LOA1;
  return null;
}

/** RFC 8176 values: `pwd`, `otp` only when an OTP was verified, `sms`/`tel` for its channel. */
export function amrOf(records: readonly VerificationRecord[]): string[] {
  const amr = new Set<string>();
  for (const r of records) {
    if (r.method === 'password' || r.method === 'legacy_password') amr.add('pwd');
    if (r.method === 'otp') {
      amr.add('otp');
      if (r.channel === 'sms') amr.add('sms');
      if (r.channel === 'voice') amr.add('tel');
    }
  }
  return [...amr];
}

/** The time of the latest OTP in these records, if any (step-up freshness). */
export function lastOtpAt(records: readonly VerificationRecord[]): Date | null {
  const times = records.filter((r) => r.method === 'otp').map((r) => new Date(r.at).getTime());
  return times.length ? new Date(Math.max(...times)) : null;
}
