import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, auditMeta } from '#libs/audit';
import { Clock, DomainError, hasForbiddenCharacters, isUuidAnyCase } from '#libs/core';
import {
  correctionRequestsOfLegacy,
  countPeopleMatches,
  enrolledUserOfLegacy,
  peopleMatchesPage,
  personSummaryById,
  rememberedDevicesOfUser,
  sessionsOfUser,
} from './people.queries.js';

export type PersonKind = 'user' | 'legacy_account';

/** One search hit: an enrolled user, or a legacy account still waiting for enrollment. */
export interface PersonSummary {
  kind: PersonKind;
  id: string;
  /** Users only. */
  enterpriseId: string | null;
  /** The imported user ID (a user's, when it came from a legacy account). */
  legacyUserId: string | null;
  firstName: string;
  lastName: string;
  /** `active` / `disabled` for users, `pending` for legacy accounts awaiting enrollment. */
  status: 'active' | 'disabled' | 'pending';
  organization: { id: string; slug: string; name: string };
  email: string;
  emailVerified: boolean;
  mobile: string | null;
  mobileVerified: boolean;
  /** Remembered devices that would still skip the code (not revoked, not expired, current credentials). */
  rememberedDevices: number;
  recoveryLocked: boolean;
  openCorrectionRequests: number;
}

export interface SearchPage {
  query: string;
  items: PersonSummary[];
  page: number;
  pageSize: number;
  total: number;
}

export interface DeviceView {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  state: 'active' | 'expired' | 'revoked' | 'outdated';
  revokedAt: Date | null;
  revokedReason: string | null;
}

export interface SessionView {
  id: string;
  createdAt: Date;
  lastSeenAt: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
  acr: string;
  ip: string | null;
  userAgent: string | null;
}

export interface CorrectionRequestView {
  id: string;
  status: 'open' | 'resolved' | 'rejected';
  /** The user's own words. */
  message: string;
  createdAt: Date;
  resolvedAt: Date | null;
  resolvedBy: string | null;
  resolution: string | null;
}

/** Everything the person page shows (read-only); never a hash, code or token. */
export interface PersonDetails extends PersonSummary {
  /** For a user: the legacy account it enrolled from, if any. For a legacy account: itself. */
  legacyAccountId: string | null;
  createdAt: Date;
  emailVerifiedAt: Date | null;
  mobileVerifiedAt: Date | null;
  recoveryLockedAt: Date | null;
  recoveryFailedAttempts: number;
  devices: DeviceView[];
  /** Live sessions only. */
  sessions: SessionView[];
  correctionRequests: CorrectionRequestView[];
}

export const SEARCH_PAGE_SIZE = 20;
const MAX_TOKENS = 8;
const MAX_QUERY = 200;
/** Something that looks like a phone number: digits with the usual separators, 6 digits or more. */
const PHONE = /^\+?[\d\s().-]+$/u;

/**
 * The words to look for, each folded by the database (`gh_search_fold`: accents and case
 * do not matter). A phone-like query becomes one word of its digits, so `+39 333 123 4567`
 * finds `+393331234567`.
 */
export function searchTokens(raw: string): string[] {
  const query = raw.normalize('NFC').trim();
  if (query === '') return [];
  if (PHONE.test(query) && query.replace(/\D/gu, '').length >= 6) return [query.replace(/[^\d+]/gu, '').replace(/(?!^)\+/gu, '')];
  return [...new Set(query.split(/\s+/u))].slice(0, MAX_TOKENS).map((t) => t.slice(0, 100));
}

export type PersonRow = Record<string, unknown>;

function toSummary(r: PersonRow): PersonSummary {
  const kind = r.kind as PersonKind;
  return {
    kind,
    id: r.id as string,
    enterpriseId: (r.enterprise_id as string | null) ?? null,
    legacyUserId: (r.legacy_user_id as string | null) ?? null,
    firstName: r.first_name as string,
    lastName: r.last_name as string,
    status: r.status as PersonSummary['status'],
    organization: { id: r.organization_id as string, slug: r.org_slug as string, name: r.org_name as string },
    email: r.email as string,
    emailVerified: r.email_verified_at !== null && r.email_verified_at !== undefined,
    mobile: (r.mobile as string | null) ?? null,
    mobileVerified: r.mobile_verified_at !== null && r.mobile_verified_at !== undefined,
    rememberedDevices: (r.devices as number | null) ?? 0,
    recoveryLocked: r.recovery_locked_at !== null && r.recovery_locked_at !== undefined,
    openCorrectionRequests: (r.open_corrections as number | null) ?? 0,
  };
}

/**
 * Read models of people for the support console: search across users and pending legacy
 * accounts (Enterprise ID, legacy user ID, name, email, mobile; case- and
 * accent-insensitive; every word must match), and the person page's details.
 */
@Injectable()
export class PeopleDirectory {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  /** Records that a staff member opened a person's record (`person.viewed`): who looked at whose data, and when. */
  async recordView(
    person: Pick<PersonDetails, 'kind' | 'id' | 'organization'>,
    staffId: string,
    meta: { ip?: string | null; userAgent?: string | null; requestId?: string | null },
    via: 'page' | 'api',
  ): Promise<void> {
    await this.audit.record({
      type: 'person.viewed',
      actor: { type: 'staff', id: staffId },
      subject: { type: person.kind, id: person.id },
      organizationId: person.organization.id,
      ...auditMeta(meta),
      details: { via },
    });
  }

  /** Page `page` (from 1) of the people matching every word of `query`, by last name, first name. */
  async search(query: unknown, page: unknown = 1, pageSize = SEARCH_PAGE_SIZE): Promise<SearchPage> {
    const text = typeof query === 'string' ? query : '';
    if (text.length > MAX_QUERY || hasForbiddenCharacters(text)) {
      throw new DomainError('invalid_input', `Search for at most ${MAX_QUERY} visible characters.`, {
        fieldErrors: { q: `Search for at most ${MAX_QUERY} visible characters.` },
      });
    }
    const number = typeof page === 'number' ? page : Number.parseInt(typeof page === 'string' ? page : '1', 10);
    const current = Number.isInteger(number) && number >= 1 && number <= 10_000 ? number : 1;
    const tokens = searchTokens(text);
    if (tokens.length === 0) return { query: text.trim(), items: [], page: 1, pageSize, total: 0 };
    const now = this.clock.now();
    const [counted] = await countPeopleMatches(this.dataSource, [tokens]);
    const rows = await peopleMatchesPage(this.dataSource, [tokens, now, pageSize, (current - 1) * pageSize]);
    return { query: text.trim(), items: rows.map(toSummary), page: current, pageSize, total: counted?.total ?? 0 };
  }

  /** A user or legacy account with everything the person page shows; null when there is no such person. */
  async person(kind: unknown, id: unknown): Promise<PersonDetails | null> {
    if ((kind !== 'user' && kind !== 'legacy_account') || typeof id !== 'string' || !isUuidAnyCase(id)) return null;
    const now = this.clock.now();
    const rows = await personSummaryById(this.dataSource, [[], now, id, kind]);
    const r = rows[0];
    if (!r) return null;
    const summary = toSummary(r);
    const details: PersonDetails = {
      ...summary,
      legacyAccountId: (r.legacy_account_id as string | null) ?? null,
      createdAt: r.created_at as Date,
      emailVerifiedAt: (r.email_verified_at as Date | null) ?? null,
      mobileVerifiedAt: (r.mobile_verified_at as Date | null) ?? null,
      recoveryLockedAt: (r.recovery_locked_at as Date | null) ?? null,
      recoveryFailedAttempts: (r.recovery_failed_attempts as number | null) ?? 0,
      devices: [],
      sessions: [],
      correctionRequests: [],
    };
    if (kind === 'user') {
      details.devices = await this.devices(id, r.credential_version as number, now);
      details.sessions = await this.sessions(id, now);
    }
    if (details.legacyAccountId) details.correctionRequests = await this.correctionRequests(details.legacyAccountId);
    return details;
  }

  /** Where an enrolled legacy account lives on as a user (the person page redirects there). */
  async userOfLegacyAccount(id: string): Promise<string | null> {
    if (!isUuidAnyCase(id)) return null;
    const rows = await enrolledUserOfLegacy(this.dataSource, [id]);
    return rows[0]?.user_id ?? null;
  }

  private async devices(userId: string, credentialVersion: number, now: Date): Promise<DeviceView[]> {
    const rows = await rememberedDevicesOfUser(this.dataSource, [userId]);
    return rows.map((d) => ({
      id: d.id as string,
      name: d.name as string,
      createdAt: d.created_at as Date,
      lastUsedAt: d.last_used_at as Date,
      expiresAt: d.expires_at as Date,
      state: d.revoked_at
        ? 'revoked'
        : (d.expires_at as Date) <= now
          ? 'expired'
          : d.credential_version !== credentialVersion
            ? 'outdated'
            : 'active',
      revokedAt: (d.revoked_at as Date | null) ?? null,
      revokedReason: (d.revoked_reason as string | null) ?? null,
    }));
  }

  private async sessions(userId: string, now: Date): Promise<SessionView[]> {
    const rows = await sessionsOfUser(this.dataSource, [userId, now]);
    return rows.map((s) => ({
      id: s.id as string,
      createdAt: s.created_at as Date,
      lastSeenAt: s.last_seen_at as Date,
      idleExpiresAt: s.idle_expires_at as Date,
      absoluteExpiresAt: s.absolute_expires_at as Date,
      acr: s.acr as string,
      ip: (s.ip as string | null) ?? null,
      userAgent: (s.user_agent as string | null) ?? null,
    }));
  }

  private async correctionRequests(legacyAccountId: string): Promise<CorrectionRequestView[]> {
    const rows = await correctionRequestsOfLegacy(this.dataSource, [legacyAccountId]);
    return rows.map((c) => ({
      id: c.id as string,
      status: c.status as CorrectionRequestView['status'],
      message: c.message as string,
      createdAt: c.created_at as Date,
      resolvedAt: (c.resolved_at as Date | null) ?? null,
      resolvedBy: (c.resolved_by as string | null) ?? null,
      resolution: (c.resolution as string | null) ?? null,
    }));
  }
}
