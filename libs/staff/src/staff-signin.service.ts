import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, auditMeta } from '#libs/audit';
import { Clock, DomainError, foldKey } from '#libs/core';
import { FlowStore, type Flow, type FlowHandle } from '#libs/flows';
import { PasswordHasher, checkEmail } from '#libs/identity';
import { CodeStepService, maskEmail, type Delivery, type SentCode, type StepError } from '#libs/otp';
import type { RequestMeta } from '#libs/sessions';
import { safeReturnTo } from '#libs/signin';
import { ACCOUNT_RULE, IP_RULE, ThrottleService, refusalError } from '#libs/throttle';
import { refusedAttempt, type StaffPrincipal, type StaffRole } from './roles.js';
import { StaffSessionService } from './staff-session.service.js';
import { rehashStaffPassword, staffByEmailKey, staffSignInRowById } from './staff.queries.js';

/** The staff sign-in flow between password and code (the `staff_signin` kind of auth_flows): the code sub-step, by email only. */
export type StaffSignInState = { step: 'otp'; staffId: string; returnTo: string } & Pick<SentCode, 'challengeId' | 'messageId'>;

export type StaffSignInOutcome =
  /** Back to Email and Password, with why. */
  | { step: 'credentials'; error: StepError }
  /** A code went (or is going) to the staff member's email. */
  | { step: 'otp'; handle: FlowHandle; delivery: Delivery; destination: string; error?: StepError }
  | { step: 'signed_in'; token: string; sessionId: string; staff: StaffPrincipal; returnTo: string };

/** The one answer for an unknown email, a wrong password, and an account not (or no longer) active. */
export const STAFF_SIGNIN_FAILURE = 'The email or password is not correct.';

export interface StaffLoginRow {
  id: string;
  email: string;
  name: string;
  role: StaffRole;
  status: string;
  password_hash: string | null;
}

/**
 * Staff sign-in: email and password, then a one-time code by email (libs/otp: purpose
 * `login` bound to subject type `staff`, so an end user's code never signs staff in and
 * back; 6 digits, 10 minutes, 5 attempts, single use). Failures are throttled per account
 * and per IP and answered alike whether or not the account exists. No remembered devices.
 */
@Injectable()
export class StaffSignInService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly flows: FlowStore,
    private readonly hasher: PasswordHasher,
    private readonly throttle: ThrottleService,
    private readonly codes: CodeStepService,
    private readonly audit: AuditService,
    private readonly sessions: StaffSessionService,
  ) {}

  async submitCredentials(
    input: { email: unknown; password: unknown; returnTo?: unknown },
    meta: RequestMeta,
  ): Promise<StaffSignInOutcome> {
    const rawEmail = typeof input.email === 'string' ? input.email.slice(0, 320) : '';
    const password = typeof input.password === 'string' ? input.password.slice(0, 1024) : '';
    const email = checkEmail(rawEmail);
    const accountKey = `staff_signin:acct:${email.ok ? email.value.key : foldKey(rawEmail.trim())}`;
    const ipKey = `staff_signin:ip:${meta.ip ?? 'unknown'}`;

    // Counted before it is evaluated: parallel attempts never exceed the rules.
    const reserved = await this.throttle.reserve([
      [accountKey, ACCOUNT_RULE],
      [ipKey, IP_RULE],
    ]);
    if (!reserved.ok) return { step: 'credentials', error: refusalError(reserved) };
    const fail = async (reason: string, staffId: string | null): Promise<StaffSignInOutcome> => {
      await this.audit.record(refusedAttempt('staff_signin.failed', staffId, meta, reason));
      return { step: 'credentials', error: { code: 'invalid_credentials', message: STAFF_SIGNIN_FAILURE } };
    };

    if (!email.ok || password === '') {
      await this.hasher.verifyDummy(password);
      return fail('missing_or_malformed_input', null);
    }
    const rows = await staffByEmailKey(this.dataSource, [email.value.key]);
    const staff = rows[0];
    if (!staff?.password_hash) {
      await this.hasher.verifyDummy(password);
      return fail(staff ? 'not_set_up' : 'unknown_staff', staff?.id ?? null);
    }
    const verified = await this.hasher.verify(staff.password_hash, password);
    if (!verified.ok) return fail('wrong_password', staff.id);
    if (staff.status !== 'active') return fail('staff_disabled', staff.id);
    if (verified.rehashed) {
      await rehashStaffPassword(this.dataSource, [staff.id, verified.rehashed, staff.password_hash]);
    }
    await this.throttle.succeeded(reserved, [accountKey]);

    const { handle, flow } = await this.flows.create<StaffSignInState | null>('staff_signin', null);
    return await this.sendCode(handle, flow, staff, safeReturnTo(input.returnTo, '/search'), meta);
  }

  async current(handle: FlowHandle): Promise<StaffSignInOutcome> {
    const flow = await this.load(handle);
    const staff = await this.staff(flow.state.staffId);
    return { step: 'otp', handle, delivery: await this.codes.status(flow.state.messageId), destination: maskEmail(staff.email) };
  }

  /** "Send a new code": the previous code stops working (cooldown and hourly caps apply). */
  async resend(handle: FlowHandle, meta: RequestMeta): Promise<StaffSignInOutcome> {
    const flow = await this.load(handle);
    const staff = await this.staff(flow.state.staffId);
    return await this.sendCode(handle, flow, staff, flow.state.returnTo, meta);
  }

  async verifyCode(handle: FlowHandle, rawCode: unknown, meta: RequestMeta): Promise<StaffSignInOutcome> {
    const flow = await this.load(handle);
    const state = flow.state;
    const result = await this.codes.verify({
      challengeId: state.challengeId,
      purpose: 'login',
      subject: { type: 'staff', id: state.staffId },
      flowId: flow.id,
      code: typeof rawCode === 'string' ? rawCode.slice(0, 32) : '',
      context: { actor: { type: 'anonymous' }, ...auditMeta(meta) },
    });
    const staff = await this.staff(state.staffId);
    if (!result.ok) {
      return {
        step: 'otp',
        handle,
        delivery: await this.codes.status(state.messageId),
        destination: maskEmail(staff.email),
        error: result.error,
      };
    }
    if (staff.status !== 'active') throw new DomainError('flow_not_found', STAFF_SIGNIN_FAILURE);
    const session = await this.dataSource.transaction(async (m) => {
      const created = await this.sessions.create(staff.id, meta, m);
      await this.flows.end(flow.id, m);
      return created;
    });
    return {
      step: 'signed_in',
      token: session.token,
      sessionId: session.id,
      staff: { id: staff.id, email: staff.email, name: staff.name, role: staff.role },
      returnTo: state.returnTo,
    };
  }

  /** "Start again": the flow ends and its code can no longer be used. */
  async cancel(handle: FlowHandle): Promise<void> {
    try {
      const flow = await this.load(handle);
      await this.flows.end(flow.id);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
    }
  }

  private async load(handle: FlowHandle): Promise<Flow<StaffSignInState>> {
    const flow = await this.flows.load<StaffSignInState | null>('staff_signin', handle);
    if (!flow.state) throw new DomainError('flow_not_found', 'This sign-in step is no longer valid. Please start again.');
    return flow as Flow<StaffSignInState>;
  }

  private async staff(id: string): Promise<StaffLoginRow> {
    const rows = await staffSignInRowById(this.dataSource, [id]);
    if (!rows[0]) throw new DomainError('flow_not_found', 'This sign-in step is no longer valid. Please start again.');
    return rows[0];
  }

  private async sendCode(
    handle: FlowHandle,
    flow: Flow<StaffSignInState | null>,
    staff: StaffLoginRow,
    returnTo: string,
    meta: RequestMeta,
  ): Promise<StaffSignInOutcome> {
    const destination = maskEmail(staff.email);
    const sent = await this.codes.send(
      {
        purpose: 'login',
        subject: { type: 'staff', id: staff.id },
        flowId: flow.id,
        channel: 'email',
        destination: staff.email,
        context: { actor: { type: 'staff', id: staff.id }, ...auditMeta(meta) },
      },
      ({ challengeId, messageId }) => this.flows.save(flow, { step: 'otp', staffId: staff.id, challengeId, messageId, returnTo }),
      { next: 'resend' },
    );
    if (!sent.ok) {
      if (!flow.state) {
        await this.flows.end(flow.id);
        return { step: 'credentials', error: sent.error };
      }
      return { step: 'otp', handle, delivery: await this.codes.status(flow.state.messageId), destination, error: sent.error };
    }
    return { step: 'otp', handle, destination, ...sent.delivered };
  }
}
