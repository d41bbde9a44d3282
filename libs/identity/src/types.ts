import type { Channel } from '#libs/core';

/** The one Channel type (libs/core), under the name the directory's columns use. */
export type OtpChannel = Channel;

/** An organization: its id, its slug (in URLs and the CLI), its name. */
export interface Organization {
  id: string;
  slug: string;
  name: string;
  createdAt: Date;
}

/** The legacy hash formats an import accepts. */
export type LegacyHashFormat = 'bcrypt' | 'argon2' | 'pbkdf2_sha256';
