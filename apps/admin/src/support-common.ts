import { ArgumentsHost, Catch, Injectable, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '#libs/core';
import { Directory } from '#libs/identity';
import {
  ContactApprovalService,
  CorrectionRequestService,
  type CorrectionRequest,
  type PendingChange,
  type ProfileValues,
  type StaffActor,
} from '#libs/support';
import { sendPage, sendProblem } from '#libs/web';
import { assertCanActOn, type StaffPrincipal } from './auth/index.js';
import { isApiPath } from './auth/staff-auth.guard.js';
import { CONSOLE_ERROR_STATUS, ConsoleErrorFilter } from './console-error.filter.js';
import type { Kind, Values } from './support-views.js';
import { errorPage } from './views/layout.js';

/** HTTP status of the support actions' own DomainError codes (the console's filter knows the common ones). */
export const SUPPORT_ERROR_STATUS: Readonly<Record<string, number>> = {
  four_eyes: 403,
  no_changes: 422,
  change_pending: 409,
  already_decided: 409,
  stale_change: 409,
  already_enrolled: 409,
  already_closed: 409,
  awaiting_approval: 409,
  not_locked: 409,
  no_devices: 409,
  no_sessions: 409,
  already_disabled: 409,
  already_active: 409,
};

export const statusOf = (error: DomainError): number => SUPPORT_ERROR_STATUS[error.code] ?? CONSOLE_ERROR_STATUS[error.code] ?? 400;

/** A support form's refusal: the status, message and field errors to show the form again with. */
export interface Refusal {
  status: number;
  error: string;
  errors: Record<string, string> | undefined;
}

/** The refusal a support form answers itself; anything else, and the codes of `passOn`, goes on to the filter (thrown again). */
export function refusalOf(error: unknown, passOn: readonly string[]): Refusal {
  if (!(error instanceof DomainError) || passOn.includes(error.code)) throw error;
  return { status: statusOf(error), error: error.message, errors: error.details.fieldErrors as Record<string, string> | undefined };
}

/**
 * The support controllers' filter: their own codes become problem details (RFC 9457, with
 * field errors) under `/api/` or an error page; everything else goes to the console's filter.
 */
@Catch()
export class SupportErrorFilter implements ExceptionFilter {
  private readonly console = new ConsoleErrorFilter();

  catch(error: unknown, host: ArgumentsHost): void {
    if (!(error instanceof DomainError) || SUPPORT_ERROR_STATUS[error.code] === undefined) {
      this.console.catch(error, host);
      return;
    }
    const res = host.switchToHttp().getResponse<Response>();
    const req = host.switchToHttp().getRequest<Request>();
    const status = statusOf(error);
    if (isApiPath(req.path)) {
      sendProblem(
        res,
        status,
        error.code,
        error.message,
        typeof error.details.changeId === 'string' ? { change_id: error.details.changeId } : {},
      );
      return;
    }
    sendPage(res, status, errorPage(status === 403 ? 'Not allowed' : 'Please check', [error.message]));
  }
}

/** The acting staff member, as libs/support takes it (its email lets the domain refuse acting on one's own account too). */
export const actorOf = (staff: StaffPrincipal): StaffActor => ({ id: staff.id, role: staff.role, email: staff.email });

export interface Target {
  kind: Kind;
  id: string;
  /** The data on file (`valuesOf` gives its form). */
  profile: ProfileValues;
  /** A legacy account enrolled since: the user it became. */
  enrolledAs: string | null;
}

const isKind = (value: unknown): value is Kind => value === 'user' || value === 'legacy_account';

/** Whom a support action is about, loaded and checked with the console's rules (`assertCanActOn`). */
@Injectable()
export class SupportTargets {
  constructor(
    private readonly directory: Directory,
    private readonly approvals: ContactApprovalService,
    private readonly requests: CorrectionRequestService,
  ) {}

  /** A contact change, checked against its subject before and after the change (nobody decides on what is, or becomes, their own account). */
  async change(staff: StaffPrincipal, id: string): Promise<PendingChange> {
    const change = await this.approvals.get(id);
    if (!change) throw new DomainError('not_found', 'There is no such change.');
    const user = await this.directory.user(change.userId);
    assertCanActOn(staff, { type: 'user', id: change.userId, email: user?.email ?? null });
    if (change.changes.email?.after) assertCanActOn(staff, { type: 'user', id: change.userId, email: change.changes.email.after });
    return change;
  }

  /** A correction request, checked against the person it is about. */
  async request(staff: StaffPrincipal, id: string): Promise<CorrectionRequest> {
    const request = await this.requests.get(id);
    if (!request) throw new DomainError('not_found', 'There is no such correction request.');
    if (request.user) {
      const user = await this.directory.user(request.user.id);
      assertCanActOn(staff, { type: 'user', id: request.user.id, email: user?.email ?? null });
    } else {
      assertCanActOn(staff, { type: 'legacy_account', id: request.legacyAccount.id, email: request.legacyAccount.email });
    }
    return request;
  }

  /** Throws `not_found` for an unknown kind or id, `forbidden` for one's own account. */
  async load(staff: StaffPrincipal, kind: unknown, id: unknown): Promise<Target> {
    if (!isKind(kind) || typeof id !== 'string') throw new DomainError('not_found', 'There is no such person.');
    let target: Target | null = null;
    if (kind === 'user') {
      const user = await this.directory.user(id).catch(() => null);
      if (user) target = { kind, id, profile: profileOf(user), enrolledAs: null };
    } else {
      const account = await this.directory.legacyAccount(id).catch(() => null);
      if (account) target = { kind, id, profile: profileOf(account), enrolledAs: account.userId };
    }
    if (!target) throw new DomainError('not_found', 'There is no such person.');
    assertCanActOn(staff, { type: kind, id, email: target.profile.email });
    return target;
  }
}

function profileOf(p: ProfileValues): ProfileValues {
  return { firstName: p.firstName, lastName: p.lastName, email: p.email, mobile: p.mobile };
}

export function valuesOf(p: ProfileValues): Values {
  return { first_name: p.firstName, last_name: p.lastName, email: p.email, mobile: p.mobile ?? '' };
}

type Form = Record<string, unknown>;

/** The profile fields of a form or JSON body: absent ones are left out (unchanged). */
export function profileInput(body: Form | undefined): Partial<Record<keyof Values, unknown>> {
  const input: Partial<Record<keyof Values, unknown>> = {};
  for (const key of ['first_name', 'last_name', 'email', 'mobile'] as const) if (body?.[key] !== undefined) input[key] = body[key];
  return input;
}

export const text = (value: unknown, max = 1000): string => (typeof value === 'string' ? value.slice(0, max) : '');

/** What was typed into the profile fields, to show the form again with nothing lost. */
export function formValues(body: Form): Values {
  return { first_name: text(body.first_name), last_name: text(body.last_name), email: text(body.email), mobile: text(body.mobile) };
}
