import type { Channel } from '#libs/core';
import type { LinkFreeIdentifier } from './link-free.js';

export type OtpPurpose = 'login' | 'enrollment' | 'step_up' | 'recovery' | 'verification' | 'transaction';

/** Notices about what happened to the user's own account. */
export const ACCOUNT_NOTICE_KINDS = [
  'new_device',
  'password_changed',
  'security_code_changed',
  'recovery_blocked',
  'enterprise_id_reminder',
  'email_changed',
  'mobile_changed',
  'correction_received',
] as const;

/** Support console actions (libs/support): what support did, never why (the reason is internal). */
export const SUPPORT_NOTICE_KINDS = [
  'details_corrected',
  'correction_resolved',
  'correction_rejected',
  'contact_changed_by_support',
  'recovery_unlocked',
  'devices_revoked',
  'sessions_ended',
  'account_disabled',
  'account_enabled',
] as const;

export const NOTICE_KINDS = [...ACCOUNT_NOTICE_KINDS, ...SUPPORT_NOTICE_KINDS] as const;

export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** Profile fields a notice may name (never their values). */
export type NoticeField = 'first_name' | 'last_name' | 'email' | 'mobile';

/** The texts of one language: one file per language beside this one, listed in CATALOGS (locales.ts). */
export interface Catalog {
  purpose: Record<OtpPurpose, (ctx: { channel: Channel; description: string | undefined }) => string>;
  minutes(n: number): string;
  otpSubject(code: string, purpose: string): string;
  otpEmail(ctx: { greeting: string; code: string; purpose: string; validity: string }): string;
  otpSms(ctx: { code: string; purpose: string; validity: string }): string;
  otpVoice(ctx: { spoken: string; purpose: string; validity: string; extra?: string }): string;
  /** The purpose and the phishing reminder of an emergency contact's verification code. */
  emergencyContact: { purpose(channel: Channel): string; reminder: string };
  greeting(firstName: string | undefined): string;
  when(at: string): string;
  notice: Record<
    NoticeKind,
    (ctx: { device: string; when: string; identifier: LinkFreeIdentifier; fields: string; count: number }) => {
      subject: string;
      body: string;
    }
  >;
  noticeFooter: string;
  supportFooter: string;
  /** "first name, last name and email". */
  fieldList(fields: readonly NoticeField[]): string;
  /** SMS to a mobile number that support replaced or removed. */
  mobileReplacedSms(when: string): string;
}
