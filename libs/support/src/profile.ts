import { checkEmail, checkMobile, checkName } from '#libs/identity';
import type { NoticeField } from '#libs/notifications';
import type { FieldErrors } from './staff-actor.js';

/** The data support can correct: of a pending legacy account (prefilled) or of an enrolled user (profile). */
export interface ProfileValues {
  firstName: string;
  lastName: string;
  email: string;
  mobile: string | null;
}

export type ProfileField = NoticeField;
export const PROFILE_FIELDS: readonly ProfileField[] = ['first_name', 'last_name', 'email', 'mobile'];
/** Fields that are where one-time codes go: on an enrolled user they change only with a supervisor's approval. */
export const CONTACT_FIELDS: readonly ProfileField[] = ['email', 'mobile'];
/** The other fields: they change at once. */
export const NAME_FIELDS: readonly ProfileField[] = ['first_name', 'last_name'];

export interface FieldChange {
  before: string | null;
  after: string | null;
}

/** What changed, field by field (only fields that changed). Shown before/after on the console and stored in the audit event. */
export type ProfileDiff = Partial<Record<ProfileField, FieldChange>>;

/** Form or JSON input, keyed like the fields. A field left out keeps its value; an empty `mobile` removes the number. */
export type ProfileInput = Partial<Record<ProfileField, unknown>>;

export type ProfileCheck =
  { ok: true; values: ProfileValues & { emailKey: string }; diff: ProfileDiff } | { ok: false; fieldErrors: FieldErrors };

const KEY: Record<ProfileField, keyof ProfileValues> = {
  first_name: 'firstName',
  last_name: 'lastName',
  email: 'email',
  mobile: 'mobile',
};

const text = (value: unknown, max: number): string | null => (typeof value === 'string' ? value.slice(0, max) : null);

/**
 * Validates corrected values with the rules of the legacy import and of enrollment (names:
 * NFC, visible, 1–100 characters; email: syntax and comparison key; mobile: E.164 with
 * libphonenumber-js, optional) and says what differs from `current`. An email with the same
 * comparison key as the current one (`Ada@Example.com` for `ada@example.com`) is the same
 * address and no change.
 */
export function checkProfile(input: ProfileInput, current: ProfileValues): ProfileCheck {
  const errors: FieldErrors = {};
  const next: ProfileValues & { emailKey: string } = { ...current, emailKey: '' };
  const currentEmail = checkEmail(current.email);
  const currentKey = currentEmail.ok ? currentEmail.value.key : current.email.toLowerCase();
  next.emailKey = currentKey;

  for (const [field, label] of [
    ['first_name', 'First name'],
    ['last_name', 'Last name'],
  ] as const) {
    if (input[field] === undefined) continue;
    const raw = text(input[field], 1000);
    const checked = raw === null ? null : checkName(raw, label);
    if (!checked?.ok) errors[field] = checked ? `${checked.reason}.` : `${label} is required.`;
    else next[KEY[field] as 'firstName' | 'lastName'] = checked.value;
  }

  if (input.email !== undefined) {
    const raw = text(input.email, 1000);
    const checked = raw === null ? null : checkEmail(raw);
    if (!checked?.ok) errors.email = 'Enter a valid email address.';
    else if (checked.value.key !== currentKey) {
      next.email = checked.value.display;
      next.emailKey = checked.value.key;
    }
  }

  if (input.mobile !== undefined) {
    const raw = input.mobile === null ? '' : text(input.mobile, 64);
    if (raw === null) errors.mobile = 'Enter a mobile number in E.164 format, e.g. +393331234567, or leave it empty.';
    else if (raw.trim() === '') next.mobile = null;
    else {
      const checked = checkMobile(raw);
      if (!checked.ok) errors.mobile = `${checked.reason.replace(/^mobile/u, 'The mobile number')}.`.replace(/\.\.$/u, '.');
      else next.mobile = checked.value;
    }
  }

  if (Object.keys(errors).length > 0) return { ok: false, fieldErrors: errors };
  return { ok: true, values: next, diff: diffProfile(current, next) };
}

/** The fields whose value differs, with before and after. */
export function diffProfile(before: ProfileValues, after: ProfileValues): ProfileDiff {
  const diff: ProfileDiff = {};
  for (const field of PROFILE_FIELDS) {
    const a = before[KEY[field]];
    const b = after[KEY[field]];
    if (a !== b) diff[field] = { before: a, after: b };
  }
  return diff;
}

/** The part of a diff limited to some fields. */
export function pick(diff: ProfileDiff, fields: readonly ProfileField[]): ProfileDiff {
  const out: ProfileDiff = {};
  for (const field of fields) if (diff[field]) out[field] = diff[field];
  return out;
}

/**
 * A correction of an enrolled user split as it is applied: the names at once, the contacts
 * after a supervisor's approval (four-eyes). A pending legacy account changes all at once.
 */
export function splitForApproval(diff: ProfileDiff, enrolled: boolean): { now: ProfileDiff; fourEyes: ProfileDiff } {
  return enrolled ? { now: pick(diff, NAME_FIELDS), fourEyes: pick(diff, CONTACT_FIELDS) } : { now: diff, fourEyes: {} };
}

export function changedFields(diff: ProfileDiff): ProfileField[] {
  return PROFILE_FIELDS.filter((f) => diff[f] !== undefined);
}

export const isEmpty = (diff: ProfileDiff): boolean => changedFields(diff).length === 0;
