import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, auditMeta } from '#libs/audit';
import { Clock, DomainError, cleanText, codePointLength, hasForbiddenCharacters, type Channel } from '#libs/core';
import { FlowStore, type Flow, type FlowHandle } from '#libs/flows';
import {
  Directory,
  PasswordHasher,
  checkEnterpriseId,
  checkMobile,
  checkNewPassword,
  checkSecurityCode,
  claimLegacyAccount,
  insertCorrectionRequest,
  insertEnrolledUser,
  legacyAccountStatusForUpdate,
  setLegacyAccountLocale,
  setMobileVerified,
  verifyLegacyHash,
  type LegacyRecord,
} from '#libs/identity';
import { MESSAGE_LOCALES, OutboxService, messageLocaleFor, negotiateLocale, noticeMessage } from '#libs/notifications';
import { CodeStepService, codeVerified, type Delivery, type IssueOtp, type StepError } from '#libs/otp';
import type { LegacyPasswordRecord } from '#libs/factors';
import { SessionService, type RequestMeta, type VerificationRecord } from '#libs/sessions';
import { nextEnrollment, type ChosenCredentials, type EnrollmentState } from './machines.js';

export const CORRECTION_MAX = 1000;

export interface EnrollmentOutcome {
  handle: FlowHandle;
  state: EnrollmentState;
  /** The prefilled data to confirm (fresh from the database, so support's corrections show). */
  prefill?: { firstName: string; lastName: string; email: string; mobile: string | null };
  securityCodeLength?: { min: number; max: number };
  error?: StepError;
  fieldErrors?: Record<string, string>;
  delivery?: Delivery;
  signedIn?: { userId: string; organizationId: string; sessionToken: string; returnTo: string };
}

export interface CredentialsInput {
  enterpriseId: unknown;
  password: unknown;
  confirmPassword: unknown;
  securityCode: unknown;
  confirmSecurityCode: unknown;
  mobile: unknown;
  /** JSON API only: the language of this person's messages (a BCP 47 tag such as `it` or `it-IT`); the browser's otherwise. */
  locale?: unknown;
}

function alreadyEnrolled(): DomainError {
  return new DomainError('already_enrolled', 'This account has already been set up. Sign in with your Enterprise ID.');
}

const str = (value: unknown, max: number) => (typeof value === 'string' ? value.slice(0, max) : '');

/**
 * Enrollment from legacy credentials: confirm the prefilled data (or report it wrong),
 * choose an Enterprise ID, password and security code, prove the email with an OTP, and
 * then, atomically, the user is created, the legacy credential retired and the user
 * signed in. A mobile number given here is verified by its own OTP (or later).
 */
@Injectable()
export class EnrollmentService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly flows: FlowStore,
    private readonly directory: Directory,
    private readonly hasher: PasswordHasher,
    private readonly codes: CodeStepService,
    private readonly outbox: OutboxService,
    private readonly sessions: SessionService,
    private readonly audit: AuditService,
  ) {}

  /** Called by sign-in once the legacy password matched the imported hash. */
  async start(
    account: LegacyRecord,
    legacyPassword: string,
    /** The legacy password factor's record of the password just verified. */
    verified: LegacyPasswordRecord,
    returnTo: string,
    meta: RequestMeta & { acceptLanguage?: string | null },
  ): Promise<FlowHandle> {
    // The language of this person's messages, from the browser (or the API's `locale`): kept
    // on the legacy account now, and on the user at enrollment. Unsupported: the organization's default.
    const locale = negotiateLocale(meta.acceptLanguage);
    if (locale) await setLegacyAccountLocale(this.dataSource, account.id, locale);
    // Kept only to tell a later sign-in with the old password to use the Enterprise ID.
    const retiredPasswordHash = await this.hasher.hash(legacyPassword);
    const verifications: VerificationRecord[] = [verified];
    const { handle } = await this.flows.create<EnrollmentState>('enrollment', {
      step: 'confirm',
      returnTo,
      legacyAccountId: account.id,
      retiredPasswordHash,
      verifications,
    });
    await this.audit.record({
      type: 'enrollment.started',
      actor: { type: 'anonymous' },
      subject: { type: 'legacy_account', id: account.id },
      organizationId: account.organizationId,
      ...auditMeta(meta),
    });
    return handle;
  }

  async current(handle: FlowHandle): Promise<EnrollmentOutcome> {
    const flow = await this.flows.load<EnrollmentState>('enrollment', handle);
    return this.describe(handle, flow.state);
  }

  async confirm(handle: FlowHandle): Promise<EnrollmentOutcome> {
    const flow = await this.flows.load<EnrollmentState>('enrollment', handle);
    if (flow.state.step !== 'confirm') return this.describe(handle, flow.state);
    const next = nextEnrollment(flow.state, { type: 'confirmed' }, this.clock.now());
    await this.flows.save(flow, next);
    return this.describe(handle, next);
  }

  /** "Report incorrect data": a correction request for support; the account stays pending. */
  async report(handle: FlowHandle, message: unknown, meta: RequestMeta): Promise<EnrollmentOutcome> {
    const flow = await this.flows.load<EnrollmentState>('enrollment', handle);
    if (flow.state.step !== 'confirm') return this.describe(handle, flow.state);
    const raw = typeof message === 'string' ? message : '';
    const text = cleanText(raw.replace(/[\r\n\t]+/gu, ' '));
    if (text === '' || codePointLength(text) > CORRECTION_MAX || hasForbiddenCharacters(text)) {
      return {
        ...(await this.describe(handle, flow.state)),
        fieldErrors: { message: `Tell us what is wrong, in at most ${CORRECTION_MAX} characters.` },
      };
    }
    const account = await this.requireAccount(flow.state.legacyAccountId);
    const next = nextEnrollment(flow.state, { type: 'reported' }, this.clock.now());
    await this.dataSource.transaction(async (manager) => {
      const rows = await insertCorrectionRequest(manager, [account.id, account.organizationId, text, this.clock.now()]);
      await this.audit.record(
        {
          type: 'enrollment.correction_requested',
          actor: { type: 'anonymous' },
          subject: { type: 'legacy_account', id: account.id },
          organizationId: account.organizationId,
          ...auditMeta(meta),
          details: { correction_request_id: rows[0]!.id },
        },
        manager,
      );
      const locale = await messageLocaleFor(manager, { type: 'legacy_account', id: account.id });
      const notice = noticeMessage('correction_received', { firstName: account.firstName, locale });
      await this.outbox.enqueue(manager, {
        channel: 'email',
        locale,
        to: account.email,
        purpose: 'notice.correction_received',
        subject: notice.subject,
        text: notice.text,
      });
      await this.flows.save(flow, next, manager);
    });
    return { handle, state: next };
  }

  async chooseCredentials(handle: FlowHandle, input: CredentialsInput, meta: RequestMeta): Promise<EnrollmentOutcome> {
    const flow = await this.flows.load<EnrollmentState>('enrollment', handle);
    if (flow.state.step !== 'credentials') return this.describe(handle, flow.state);
    const state = flow.state;
    const account = await this.requireAccount(state.legacyAccountId);
    if (account.status !== 'pending') {
      const error = alreadyEnrolled();
      return { ...(await this.describe(handle, state)), error: { code: error.code, message: error.message } };
    }
    const policy = await this.directory.policy(account.organizationId);
    const errors: Record<string, string> = {};

    const id = checkEnterpriseId(str(input.enterpriseId, 256));
    if (!id.ok) errors.enterpriseId = id.reason;
    else if (await this.directory.enterpriseIdTaken(id.value.key, id.value.skeleton, account.id)) {
      errors.enterpriseId = 'That Enterprise ID is taken or too similar to an existing one. Choose another.';
    }

    const password = str(input.password, 1024);
    const pw = checkNewPassword(password, {
      ...(await this.directory.passwordContext(account)),
      enterpriseId: id.ok ? id.value.display : str(input.enterpriseId, 256),
    });
    if (!pw.ok) errors.password = pw.reason;
    else if (password !== str(input.confirmPassword, 1024)) errors.confirmPassword = 'The passwords do not match.';
    else if (account.passwordHash && (await verifyLegacyHash(account.passwordHash, password))) {
      errors.password = 'The new password must differ from your old one.';
    }

    const code = checkSecurityCode(str(input.securityCode, 64), { min: policy.securityCodeMinLength, max: policy.securityCodeMaxLength });
    if (!code.ok) errors.securityCode = code.reason;
    else if (code.value !== str(input.confirmSecurityCode, 64).normalize('NFKC').trim())
      errors.confirmSecurityCode = 'The security codes do not match.';

    let mobile: string | null = null;
    const rawMobile = str(input.mobile, 64).trim();
    if (rawMobile !== '') {
      const m = checkMobile(rawMobile);
      if (!m.ok) errors.mobile = m.reason.replace(/^mobile/u, 'The mobile number');
      else mobile = m.value;
    }

    let locale: string | undefined;
    if (input.locale !== undefined && input.locale !== null) {
      const tag = typeof input.locale === 'string' && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$/u.test(input.locale) ? input.locale : '';
      locale = negotiateLocale(tag);
      if (!locale) errors.locale = `Choose a language messages can be written in: ${MESSAGE_LOCALES.join(' or ')}.`;
    }

    if (Object.keys(errors).length > 0 || !id.ok || !code.ok) {
      return {
        ...(await this.describe(handle, state)),
        fieldErrors: errors,
        error: { code: 'invalid_input', message: 'Please correct the fields marked below.' },
      };
    }
    const chosen: ChosenCredentials = {
      enterpriseId: id.value.display,
      enterpriseIdKey: id.value.key,
      enterpriseIdSkeleton: id.value.skeleton,
      passwordHash: await this.hasher.hash(password),
      securityCodeHash: await this.hasher.hash(code.value),
      mobile,
    };
    if (locale) await setLegacyAccountLocale(this.dataSource, account.id, locale);
    const next = nextEnrollment(state, { type: 'credentials_chosen', chosen }, this.clock.now());
    const saved = await this.flows.save(flow, next);
    return this.sendEmailCode(handle, saved, account, meta);
  }

  async resend(handle: FlowHandle, channel: unknown, meta: RequestMeta): Promise<EnrollmentOutcome> {
    const flow = await this.flows.load<EnrollmentState>('enrollment', handle);
    if (flow.state.step === 'email_otp')
      return this.sendEmailCode(handle, flow, await this.requireAccount(flow.state.legacyAccountId), meta);
    if (flow.state.step === 'mobile_otp') return this.sendMobileCode(handle, flow, channel === 'voice' ? 'voice' : 'sms');
    return this.describe(handle, flow.state);
  }

  async verifyEmail(handle: FlowHandle, codeInput: unknown, meta: RequestMeta): Promise<EnrollmentOutcome> {
    const flow = await this.flows.load<EnrollmentState>('enrollment', handle);
    if (flow.state.step !== 'email_otp') return this.describe(handle, flow.state);
    const state = flow.state;
    const result = await this.codes.verify({
      challengeId: state.challengeId,
      purpose: 'enrollment',
      subject: { type: 'legacy_account', id: state.legacyAccountId },
      flowId: flow.id,
      code: typeof codeInput === 'string' ? codeInput.slice(0, 32) : '',
    });
    if (!result.ok) {
      return {
        ...(await this.describe(handle, state)),
        delivery: await this.codes.status(state.messageId),
        error: result.error,
      };
    }
    const account = await this.requireAccount(state.legacyAccountId);
    const now = this.clock.now();
    const verifications: VerificationRecord[] = [...state.verifications, codeVerified({ channels: ['email'], ...state }, now)];
    let userId: string;
    let sessionToken: string;
    let next: EnrollmentState;
    try {
      ({ userId, sessionToken, next } = await this.dataSource.transaction(async (manager) => {
        // Exactly one enrollment of a legacy account can win: a racing one waits here for the
        // row lock and then finds it enrolled (also when both chose the same Enterprise ID).
        const [legacy] = await legacyAccountStatusForUpdate(manager, account.id);
        if (legacy?.status !== 'pending') throw alreadyEnrolled();
        const users = await insertEnrolledUser(manager, [
          account.organizationId,
          state.chosen.enterpriseId,
          state.chosen.enterpriseIdKey,
          state.chosen.enterpriseIdSkeleton,
          account.firstName,
          account.lastName,
          account.email,
          account.emailKey,
          now,
          state.chosen.mobile,
          state.chosen.passwordHash,
          state.chosen.securityCodeHash,
          account.id,
        ]);
        const id = users[0]!.id;
        // Exactly one enrollment of a legacy account can win: the other rolls back its user.
        const [claimed] = await claimLegacyAccount(manager, [account.id, id, now, state.retiredPasswordHash]);
        if (claimed.length === 0) throw alreadyEnrolled();
        await this.audit.record(
          {
            type: 'enrollment.completed',
            actor: { type: 'user', id },
            subject: { type: 'user', id },
            organizationId: account.organizationId,
            ...auditMeta(meta),
            details: {
              legacy_account_id: account.id,
              enterprise_id: state.chosen.enterpriseId,
              mobile_given: state.chosen.mobile !== null,
            },
          },
          manager,
        );
        const session = await this.sessions.create(id, 1, verifications, meta, manager);
        const after = nextEnrollment(state, { type: 'email_verified', userId: id }, now);
        await this.flows.save(flow, after, manager);
        return { userId: id, sessionToken: session.token, next: after };
      }));
    } catch (error) {
      if (error instanceof DomainError) return { handle, state, error: { code: error.code, message: error.message } };
      if ((error as { code?: string }).code === '23505') {
        // The Enterprise ID was taken between choosing and completing: choose again.
        const back: EnrollmentState = {
          step: 'credentials',
          returnTo: state.returnTo,
          legacyAccountId: state.legacyAccountId,
          retiredPasswordHash: state.retiredPasswordHash,
          verifications: state.verifications,
        };
        const reloaded = await this.flows.load<EnrollmentState>('enrollment', handle);
        await this.flows.save(reloaded, back);
        return {
          ...(await this.describe(handle, back)),
          fieldErrors: { enterpriseId: 'That Enterprise ID was just taken. Choose another.' },
        };
      }
      throw error;
    }
    const outcome: EnrollmentOutcome = {
      handle,
      state: next,
      signedIn: { userId, organizationId: account.organizationId, sessionToken, returnTo: state.returnTo },
    };
    if (next.step === 'mobile_otp') {
      const reloaded = await this.flows.load<EnrollmentState>('enrollment', handle);
      const sent = await this.sendMobileCode(handle, reloaded, 'sms');
      return { ...sent, signedIn: outcome.signedIn! };
    }
    await this.flows.end(flow.id);
    return outcome;
  }

  async verifyMobile(handle: FlowHandle, codeInput: unknown, meta: RequestMeta): Promise<EnrollmentOutcome> {
    const flow = await this.flows.load<EnrollmentState>('enrollment', handle);
    if (flow.state.step !== 'mobile_otp' || !flow.state.challengeId) return this.describe(handle, flow.state);
    const state = flow.state;
    const result = await this.codes.verify({
      challengeId: state.challengeId!,
      purpose: 'verification',
      subject: { type: 'user', id: state.userId },
      flowId: flow.id,
      code: typeof codeInput === 'string' ? codeInput.slice(0, 32) : '',
    });
    if (!result.ok) return { handle, state, delivery: await this.codes.status(state.messageId!), error: result.error };
    const now = this.clock.now();
    await this.dataSource.transaction(async (manager) => {
      await setMobileVerified(manager, state.userId, now, state.mobile);
      await this.audit.record(
        {
          type: 'contact.mobile_verified',
          actor: { type: 'user', id: state.userId },
          subject: { type: 'user', id: state.userId },
          ip: meta.ip ?? null,
          requestId: meta.requestId ?? null,
        },
        manager,
      );
    });
    const next = nextEnrollment(state, { type: 'mobile_verified' }, now);
    await this.flows.end(flow.id);
    return { handle, state: next };
  }

  /** The mobile stays on file, unverified, and is not an OTP channel until verified. */
  async skipMobile(handle: FlowHandle): Promise<EnrollmentOutcome> {
    const flow = await this.flows.load<EnrollmentState>('enrollment', handle);
    if (flow.state.step !== 'mobile_otp') return this.describe(handle, flow.state);
    const next = nextEnrollment(flow.state, { type: 'mobile_skipped' }, this.clock.now());
    await this.flows.end(flow.id);
    return { handle, state: next };
  }

  private async sendEmailCode(
    handle: FlowHandle,
    flow: Flow<EnrollmentState>,
    account: LegacyRecord,
    _meta: RequestMeta,
  ): Promise<EnrollmentOutcome> {
    if (flow.state.step !== 'email_otp') return this.describe(handle, flow.state);
    return this.send(handle, flow, {
      purpose: 'enrollment',
      subject: { type: 'legacy_account', id: account.id },
      channel: 'email',
      destination: account.email,
    });
  }

  private async sendMobileCode(handle: FlowHandle, flow: Flow<EnrollmentState>, channel: Channel): Promise<EnrollmentOutcome> {
    if (flow.state.step !== 'mobile_otp') return this.describe(handle, flow.state);
    return this.send(handle, flow, {
      purpose: 'verification',
      subject: { type: 'user', id: flow.state.userId },
      channel,
      destination: flow.state.mobile,
    });
  }

  private async send(
    handle: FlowHandle,
    flow: Flow<EnrollmentState>,
    target: Pick<IssueOtp, 'channel' | 'destination'> & {
      purpose: 'enrollment' | 'verification';
      subject: { type: 'legacy_account' | 'user'; id: string };
    },
  ): Promise<EnrollmentOutcome> {
    const sent = await this.codes.send(
      { ...target, flowId: flow.id },
      async ({ challengeId, messageId }) => {
        const next = nextEnrollment(flow.state, { type: 'code_sent', channel: target.channel, challengeId, messageId }, this.clock.now());
        await this.flows.save(flow, next);
        return next;
      },
      { next: 'resend', nameChannel: false },
    );
    if (!sent.ok) return { ...(await this.describe(handle, flow.state)), error: sent.error };
    return { ...(await this.describe(handle, sent.recorded)), ...sent.delivered };
  }

  private async describe(handle: FlowHandle, state: EnrollmentState): Promise<EnrollmentOutcome> {
    const outcome: EnrollmentOutcome = { handle, state };
    if (state.step === 'confirm' || state.step === 'credentials' || state.step === 'email_otp') {
      const account = await this.requireAccount(state.legacyAccountId);
      outcome.prefill = { firstName: account.firstName, lastName: account.lastName, email: account.email, mobile: account.mobile };
      const policy = await this.directory.policy(account.organizationId);
      outcome.securityCodeLength = { min: policy.securityCodeMinLength, max: policy.securityCodeMaxLength };
    }
    if ((state.step === 'email_otp' || state.step === 'mobile_otp') && state.messageId) {
      outcome.delivery = await this.codes.status(state.messageId);
    }
    return outcome;
  }

  private async requireAccount(id: string): Promise<LegacyRecord> {
    const account = await this.directory.legacyAccount(id);
    if (!account) throw new DomainError('flow_not_found', 'This step is no longer valid. Please start again.');
    return account;
  }
}
