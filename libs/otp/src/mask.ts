import type { Channel } from '#libs/core';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

/** `jane.doe@example.com` -> `j***@example.com`: enough to recognize, not to harvest. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) return '***';
  const first = Array.from(email.slice(0, at))[0] ?? '';
  return `${first}***@${email.slice(at + 1)}`;
}

/** `+393331234567` -> `+39 *** *** 4567`: the country calling code and the last digits only. */
export function maskPhone(phone: string): string {
  const parsed = parsePhoneNumberFromString(phone.trim());
  if (parsed) {
    const national = parsed.nationalNumber;
    const shown = national.length >= 8 ? 4 : 2;
    return `+${parsed.countryCallingCode} *** *** ${national.slice(-shown)}`;
  }
  const digits = phone.replace(/\D/gu, '');
  return digits.length >= 8 ? `*** *** ${digits.slice(-4)}` : '***';
}

/** The masked form for messages, pages and audit events. */
export function maskDestination(channel: Channel, destination: string): string {
  return channel === 'email' ? maskEmail(destination) : maskPhone(destination);
}
