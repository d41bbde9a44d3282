import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, type AuditEventInput, auditMeta } from '#libs/audit';
import { SECRETS, type Secrets } from '#libs/config';
import { Clock, DomainError, Duration, isUuidAnyCase } from '#libs/core';
import { PasswordHasher, checkEmail, checkName, checkNewPassword } from '#libs/identity';
import { OutboxService } from '#libs/notifications';
import type { RequestMeta } from '#libs/sessions';
import { IP_RULE, ThrottleService, throttledError } from '#libs/throttle';
import { assertCanActOn, isStaffRole, refusedAttempt, type StaffPrincipal, type StaffRole } from './roles.js';
import { generateSetupCode, normalizeSetupCode, setupCodeHmac, setupCodeMatches, setupSelector } from './setup-code.js';
import { staffSetupMessage } from './setup-message.js';
import { StaffSessionService } from './staff-session.service.js';
import {
  allStaff,
  completeStaffSetup,
  countSetupAttempt,
  giveSetupAttemptBack,
  insertStaff,
  setStaffSetup,
  setStaffStatus,
  staffById,
  staffByIdForUpdate,
  staffHasPassword,
} from './staff.queries.js';

export type StaffStatus = 'pending' | 'active' | 'disabled';

/** A staff member as the console shows it: never a hash or a setup code. */
export interface StaffRecord {
  id: string;
  email: string;
  name: string;
  role: StaffRole;
  status: StaffStatus;
  emailVerifiedAt: Date | null;
  /** While a setup code is outstanding. */
  setupExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Who creates or changes a staff account: a supervisor in the console, or an operator at the CLI. */
export type StaffAdministrator = { type: 'staff'; principal: StaffPrincipal } | { type: 'operator'; id: string };

export interface CreatedStaff {
  staff: StaffRecord;
  /** The outbox message carrying the setup code (for deliverNow). */
  messageId: string;
}

export type SetupResult =
  | { ok: true; staff: StaffRecord }
  | { ok: false; code: 'invalid_setup_code' | 'throttled' | 'invalid_password'; message: string; fieldErrors: Record<string, string> };

/** How long an emailed setup code stays valid. */
export const SETUP_CODE_TTL = Duration.ofHours(72);
/** Wrong codes for one account before its setup code is void (a supervisor sends a new one). */
export const SETUP_MAX_ATTEMPTS = 5;

export interface StaffRow {
  id: string;
  email: string;
  name: string;
  role: StaffRole;
  status: StaffStatus;
  email_verified_at: Date | null;
  setup_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export function toStaff(r: StaffRow): StaffRecord {
  return {
    id: r.id,
    email: r.email,
    name: r.name,
    role: r.role,
    status: r.status,
    emailVerifiedAt: r.email_verified_at,
    setupExpiresAt: r.setup_expires_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const INVALID_SETUP = 'This setup code is not valid or has expired. Ask a supervisor for a new one.';

/**
 * Staff accounts of the support console: creation (CLI `staff:create` or a supervisor) with
 * an emailed one-time setup code, setup (password; proves the email), listing, disabling
 * and enabling. Every change is audited; no hash or code ever leaves this service.
 */
@Injectable()
export class StaffService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    @Inject(SECRETS) private readonly secrets: Secrets,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditService,
    private readonly outbox: OutboxService,
    private readonly throttle: ThrottleService,
    private readonly sessions: StaffSessionService,
  ) {}

  /**
   * Creates a staff member (status `pending`) and queues the setup-code email, in one
   * transaction. Throws `invalid_input` (details.fieldErrors: email, name, role) or
   * `staff_exists`; a supervisor acting in the console must be a supervisor.
   */
  async create(
    input: { email: unknown; name: unknown; role: unknown },
    by: StaffAdministrator,
    meta: RequestMeta = {},
  ): Promise<CreatedStaff> {
    if (by.type === 'staff' && by.principal.role !== 'supervisor') {
      throw new DomainError('forbidden', 'Only a supervisor can create staff accounts.');
    }
    const fieldErrors: Record<string, string> = {};
    const email = checkEmail(typeof input.email === 'string' ? input.email : '');
    if (!email.ok) fieldErrors.email = 'Enter a valid email address.';
    const name = checkName(typeof input.name === 'string' ? input.name : '', 'Name');
    if (!name.ok) fieldErrors.name = name.reason.replace(/^Name/u, 'The name');
    if (!isStaffRole(input.role)) fieldErrors.role = 'Choose the role: support or supervisor.';
    if (!email.ok || !name.ok || !isStaffRole(input.role)) {
      throw new DomainError('invalid_input', 'Please correct the fields marked below.', { fieldErrors });
    }
    const role = input.role;
    const now = this.clock.now();
    return await this.dataSource.transaction(async (m) => {
      const inserted = await insertStaff(m, [email.value.display, email.value.key, name.value, role, actorId(by), now]);
      const row = inserted[0];
      if (!row) throw new DomainError('staff_exists', `A staff account with the email ${email.value.display} already exists.`);
      const messageId = await this.issueSetupCode(m, row, now);
      await this.audit.record(
        {
          ...this.event('staff.created', by, row.id, meta),
          details: { email: row.email, name: row.name, role: row.role },
        },
        m,
      );
      const [fresh] = await staffById(m, [row.id]);
      return { staff: toStaff(fresh!), messageId };
    });
  }

  /** A new setup code for an account that has not been set up yet (the previous code stops working). */
  async reissueSetupCode(id: string, by: StaffAdministrator, meta: RequestMeta = {}): Promise<CreatedStaff> {
    return await this.dataSource.transaction(async (m) => {
      const row = await this.lockForChange(m, id, by);
      if (row.status !== 'pending') {
        throw new DomainError('staff_already_set_up', 'This account is already set up (or disabled): it needs no setup code.');
      }
      const messageId = await this.issueSetupCode(m, row, this.clock.now());
      await this.audit.record(this.event('staff.setup_code_reissued', by, row.id, meta), m);
      const [fresh] = await staffById(m, [row.id]);
      return { staff: toStaff(fresh!), messageId };
    });
  }

  /**
   * The setup page: a valid setup code plus a new password (the users' password policy)
   * activate the account and prove its email. Wrong codes count against the account (the
   * code dies after SETUP_MAX_ATTEMPTS) and the IP; every code failure gets one answer.
   */
  async completeSetup(input: { code: unknown; password: unknown; confirmPassword: unknown }, meta: RequestMeta = {}): Promise<SetupResult> {
    const ipKey = `staff_setup:ip:${meta.ip ?? 'unknown'}`;
    // Counted before it is evaluated (parallel attempts never exceed the rule); given back when the code is right.
    const reserved = await this.throttle.reserve([[ipKey, IP_RULE]]);
    if (!reserved.ok) return { ok: false, code: 'throttled', message: throttledError(reserved.wait).message, fieldErrors: {} };
    const invalid = async (reason: string, staffId: string | null): Promise<SetupResult> => {
      await this.audit.record(refusedAttempt('staff.setup_failed', staffId, meta, reason));
      return { ok: false, code: 'invalid_setup_code', message: INVALID_SETUP, fieldErrors: { code: INVALID_SETUP } };
    };

    const code = normalizeSetupCode(input.code);
    if (!code) return invalid('malformed', null);
    const now = this.clock.now();
    // Count the attempt first, atomically, while the code is live; then compare.
    const [counted] = await countSetupAttempt(this.dataSource, [setupSelector(code), now, SETUP_MAX_ATTEMPTS]);
    const row = counted[0];
    if (!row) return invalid('unknown_or_expired', null);
    if (!setupCodeMatches(this.secrets.otp, code, row.setup_code_hmac)) return invalid('wrong_code', row.id);

    // The code is right: give the attempt back, so a password the policy refuses costs nothing.
    await giveSetupAttemptBack(this.dataSource, [row.id]);
    await this.throttle.succeeded(reserved, []);
    const password = typeof input.password === 'string' ? input.password : '';
    const checked = checkNewPassword(password, { email: row.email, firstName: row.name });
    const fieldErrors: Record<string, string> = {};
    if (!checked.ok) fieldErrors.password = checked.reason;
    else if (input.confirmPassword !== password) fieldErrors.confirm_password = 'The two passwords do not match.';
    if (Object.keys(fieldErrors).length > 0) {
      return { ok: false, code: 'invalid_password', message: 'Please correct the fields marked below.', fieldErrors };
    }

    const hash = await this.hasher.hash(password);
    return await this.dataSource.transaction(async (m) => {
      const [done] = await completeStaffSetup(m, [row.id, hash, now, setupSelector(code)]);
      const activated = done[0];
      // Two submits of one code at once: the first wins, the second is told the code is spent.
      if (!activated)
        return { ok: false, code: 'invalid_setup_code', message: INVALID_SETUP, fieldErrors: { code: INVALID_SETUP } } as const;
      await this.audit.record(
        {
          type: 'staff.setup_completed',
          actor: { type: 'staff', id: row.id },
          subject: { type: 'staff', id: row.id },
          ...auditMeta(meta),
          details: { email_verified: true },
        },
        m,
      );
      return { ok: true, staff: toStaff(activated) } as const;
    });
  }

  async list(): Promise<StaffRecord[]> {
    const rows = await allStaff(this.dataSource);
    return rows.map(toStaff);
  }

  async get(id: string): Promise<StaffRecord | null> {
    if (!isUuidAnyCase(id)) return null;
    const rows = await staffById(this.dataSource, [id]);
    return rows[0] ? toStaff(rows[0]) : null;
  }

  /** Disables a staff account (its sessions end at once) or enables it again. Never one's own; only supervisors. */
  async setEnabled(id: string, enabled: boolean, by: StaffAdministrator, meta: RequestMeta = {}): Promise<StaffRecord> {
    return await this.dataSource.transaction(async (m) => {
      const row = await this.lockForChange(m, id, by);
      const [hashed] = await staffHasPassword(m, [id]);
      const next: StaffStatus = !enabled ? 'disabled' : hashed?.has_password ? 'active' : 'pending';
      if (next === row.status) return toStaff(row);
      const [updated] = await setStaffStatus(m, [id, next, this.clock.now()]);
      const ended = enabled ? 0 : await this.sessions.endAllForStaff(id, 'staff_disabled', m);
      await this.audit.record(
        {
          ...this.event(enabled ? 'staff.enabled' : 'staff.disabled', by, id, meta),
          details: enabled ? { status: next } : { sessions_ended: ended },
        },
        m,
      );
      return toStaff(updated[0]!);
    });
  }

  private async lockForChange(m: EntityManager, id: string, by: StaffAdministrator): Promise<StaffRow> {
    if (by.type === 'staff') assertCanActOn(by.principal, { type: 'staff', id });
    if (!isUuidAnyCase(id)) throw new DomainError('not_found', 'No such staff member.');
    const rows = await staffByIdForUpdate(m, [id]);
    if (!rows[0]) throw new DomainError('not_found', 'No such staff member.');
    return rows[0];
  }

  private async issueSetupCode(m: EntityManager, row: StaffRow, now: Date): Promise<string> {
    const code = generateSetupCode();
    const compact = code.replace(/-/gu, '');
    const expiresAt = SETUP_CODE_TTL.after(now);
    await setStaffSetup(m, [row.id, setupSelector(compact), setupCodeHmac(this.secrets.otp, compact), expiresAt, now]);
    const message = staffSetupMessage({ name: row.name, role: row.role, code, expiresAt });
    return await this.outbox.enqueue(m, {
      channel: 'email',
      to: row.email,
      purpose: 'staff.setup',
      subject: message.subject,
      text: message.text,
    });
  }

  private event(type: string, by: StaffAdministrator, staffId: string, meta: RequestMeta): AuditEventInput {
    return {
      type,
      actor: by.type === 'staff' ? { type: 'staff', id: by.principal.id } : { type: 'operator', id: by.id },
      subject: { type: 'staff', id: staffId },
      ...auditMeta(meta),
    };
  }
}

function actorId(by: StaffAdministrator): string {
  return by.type === 'staff' ? `staff:${by.principal.id}` : `operator:${by.id}`;
}
