import { Controller, Delete, Get, Param, Post, Query, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  ContactChangeService,
  CredentialChangeService,
  StepUpService,
  type ChangeOutcome,
  type ContactKind,
  type ContactOutcome,
  type StepUpOutcome,
} from '#libs/account';
import { DomainError } from '#libs/core';
import type { FlowHandle } from '#libs/flows';
import { Directory } from '#libs/identity';
import type { Session } from '#libs/sessions';
import type { StepError } from '#libs/otp';
import {
  CHANGES,
  contactCodePage,
  emailPage,
  mobilePage,
  passwordPage,
  securityCodePage,
  stepUpPage,
  type AccountChange,
} from './account.views.js';
import { CurrentFlow, CurrentSession, FlowToken, Input, SessionToken, SignedIn, sendPage } from './auth/index.js';
import {
  ChannelBody,
  ContactCodeForm,
  EmailChangeBody,
  FlowCodeBody,
  MobileChangeBody,
  PasswordChangeBody,
  SecurityCodeChangeBody,
  StepUpForm,
} from './bodies.js';
import { ProblemFilter } from './problem.filter.js';
import { SURFACES, endedFlowPageStatus, stepErrorJson, stepStatus } from './status.js';
import { errorPage, formFieldErrors, masked } from './views.js';
import { WebContext } from './web-context.js';

type Json = Record<string, unknown>;

/** `<flow id>.<flow token>`, as the pages carry it in their hidden `flow` field. */
function handleFromForm(value: unknown): FlowHandle {
  const text = typeof value === 'string' ? value : '';
  const dot = text.indexOf('.');
  if (dot <= 0 || text.length > 200) throw new DomainError('flow_not_found', 'This step is no longer valid. Please start again.');
  return { id: text.slice(0, dot), token: text.slice(dot + 1) };
}

const pageStatus = (error: StepError | undefined, fieldErrors?: Record<string, string>): number =>
  stepStatus(SURFACES.accountPage, error, fieldErrors);

/** Which change a step-up was asked for, from where it returns to. */
function changeOf(returnTo: string): AccountChange | null {
  const found = (Object.keys(CHANGES) as AccountChange[]).find((c) => CHANGES[c].path === returnTo);
  return found ?? null;
}

/**
 * Hosted pages for the signed-in changes: password, security code, mobile number and email.
 * Each asks for a step-up first unless the session verified an OTP within STEP_UP_MINUTES;
 * every form post needs the session's CSRF token and a same-origin Origin.
 */
@Controller('account')
@SignedIn()
export class AccountChangesController {
  constructor(
    private readonly web: WebContext,
    private readonly directory: Directory,
    private readonly stepUp: StepUpService,
    private readonly credentials: CredentialChangeService,
    private readonly contacts: ContactChangeService,
  ) {}

  @Get('step-up')
  async stepUpShow(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Query('return_to') returnTo?: string,
  ): Promise<void> {
    const outcome = await this.stepUp.options(session, returnTo);
    if (this.stepUp.isFresh(session)) return res.redirect(303, outcome.state.returnTo);
    await this.renderStepUp(req, res, session, outcome);
  }

  @Post('step-up')
  async stepUpSubmit(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(StepUpForm) body: StepUpForm,
  ): Promise<void> {
    await this.run(res, async () => {
      const meta = this.web.meta(req);
      let outcome: StepUpOutcome;
      if (body.flow === undefined || body.flow === '') {
        outcome = await this.stepUp.begin(session, { channel: body.channel, returnTo: body.return_to }, meta);
      } else {
        const handle = handleFromForm(body.flow);
        const current = await this.stepUp.current(handle, session);
        const switched = current.state.step === 'otp' && typeof body.channel === 'string' && body.channel !== current.state.channel;
        outcome =
          body.action === 'resend' || (switched && !body.code)
            ? await this.stepUp.resend(handle, session, body.channel, meta)
            : await this.stepUp.verify(handle, session, body.code, meta);
      }
      if (outcome.state.step === 'done') {
        // The step-up renewed the session's token: the old cookie no longer works.
        if (outcome.sessionToken) this.web.cookies.set(res, 'session', outcome.sessionToken);
        return res.redirect(303, outcome.state.returnTo);
      }
      await this.renderStepUp(req, res, session, outcome);
    });
  }

  @Get('password')
  async passwordShow(@Req() req: Request, @Res() res: Response, @CurrentSession() session: Session): Promise<void> {
    if (!this.stepUp.isFresh(session)) return this.askStepUp(req, res, session, 'password');
    sendPage(res, 200, passwordPage(this.web.sessionCsrf(req)));
  }

  @Post('password')
  async passwordSubmit(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(PasswordChangeBody) body: PasswordChangeBody,
  ): Promise<void> {
    await this.run(res, async () => {
      const outcome = await this.credentials.changePassword(session, body, this.web.meta(req));
      if (outcome.status === 'changed') return res.redirect(303, '/account?notice=password_changed');
      if (outcome.status === 'step_up_required') return this.askStepUp(req, res, session, 'password', outcome.error);
      const fieldErrors = this.fieldErrors(outcome);
      sendPage(
        res,
        pageStatus(outcome.error, fieldErrors),
        passwordPage(this.web.sessionCsrf(req), { ...this.errorOf(outcome), fieldErrors }),
      );
    });
  }

  @Get('security-code')
  async securityCodeShow(@Req() req: Request, @Res() res: Response, @CurrentSession() session: Session): Promise<void> {
    if (!this.stepUp.isFresh(session)) return this.askStepUp(req, res, session, 'security_code');
    sendPage(res, 200, securityCodePage(this.web.sessionCsrf(req), await this.codeLength(session)));
  }

  @Post('security-code')
  async securityCodeSubmit(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(SecurityCodeChangeBody) body: SecurityCodeChangeBody,
  ): Promise<void> {
    await this.run(res, async () => {
      const outcome = await this.credentials.changeSecurityCode(session, body, this.web.meta(req));
      if (outcome.status === 'changed') return res.redirect(303, '/account?notice=security_code_changed');
      if (outcome.status === 'step_up_required') return this.askStepUp(req, res, session, 'security_code', outcome.error);
      const fieldErrors = this.fieldErrors(outcome);
      sendPage(
        res,
        pageStatus(outcome.error, fieldErrors),
        securityCodePage(this.web.sessionCsrf(req), await this.codeLength(session), { ...this.errorOf(outcome), fieldErrors }),
      );
    });
  }

  @Get('mobile')
  async mobileShow(@Req() req: Request, @Res() res: Response, @CurrentSession() session: Session): Promise<void> {
    if (!this.stepUp.isFresh(session)) return this.askStepUp(req, res, session, 'mobile');
    sendPage(res, 200, mobilePage(this.web.sessionCsrf(req), await this.mobileOf(session)));
  }

  @Post('mobile')
  async mobileSubmit(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(MobileChangeBody) body: MobileChangeBody,
  ): Promise<void> {
    await this.run(res, async () => {
      const meta = this.web.meta(req);
      if (body.action === 'remove') {
        const removed = await this.contacts.removeMobile(session, meta);
        if (removed.status === 'changed') return res.redirect(303, '/account?notice=mobile_removed');
        if (removed.status === 'step_up_required') return this.askStepUp(req, res, session, 'mobile', removed.error);
        return sendPage(res, 409, mobilePage(this.web.sessionCsrf(req), await this.mobileOf(session), this.errorOf(removed)));
      }
      const outcome = await this.contacts.startMobile(session, { mobile: body.mobile, channel: body.channel }, meta);
      await this.afterContact(req, res, session, 'mobile', outcome, { mobile: body.mobile, channel: body.channel });
    });
  }

  @Post('mobile/verify')
  async mobileVerify(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(ContactCodeForm) body: ContactCodeForm,
  ): Promise<void> {
    await this.contactVerify(req, res, session, body, 'mobile');
  }

  @Get('email')
  async emailShow(@Req() req: Request, @Res() res: Response, @CurrentSession() session: Session): Promise<void> {
    if (!this.stepUp.isFresh(session)) return this.askStepUp(req, res, session, 'email');
    const user = await this.directory.user(session.userId);
    sendPage(res, 200, emailPage(this.web.sessionCsrf(req), user?.email ?? ''));
  }

  @Post('email')
  async emailSubmit(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(EmailChangeBody) body: EmailChangeBody,
  ): Promise<void> {
    await this.run(res, async () => {
      const outcome = await this.contacts.startEmail(session, { email: body.email }, this.web.meta(req));
      await this.afterContact(req, res, session, 'email', outcome, { email: body.email });
    });
  }

  @Post('email/verify')
  async emailVerify(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(ContactCodeForm) body: ContactCodeForm,
  ): Promise<void> {
    await this.contactVerify(req, res, session, body, 'email');
  }

  private async contactVerify(req: Request, res: Response, session: Session, body: ContactCodeForm, kind: ContactKind): Promise<void> {
    await this.run(res, async () => {
      const meta = this.web.meta(req);
      const handle = handleFromForm(body.flow);
      const current = await this.contacts.current(kind, handle, session);
      const state = current.state;
      const switched = state?.step === 'otp' && typeof body.channel === 'string' && body.channel !== state.channel;
      const outcome =
        body.action === 'resend' || (switched && !body.code)
          ? await this.contacts.resend(kind, handle, session, body.channel, meta)
          : await this.contacts.verify(kind, handle, session, body.code, meta);
      await this.afterContact(req, res, session, kind, outcome, {});
    });
  }

  private async afterContact(
    req: Request,
    res: Response,
    session: Session,
    kind: ContactKind,
    outcome: ContactOutcome,
    values: { mobile?: unknown; channel?: unknown; email?: unknown },
  ): Promise<void> {
    if (outcome.status === 'changed') return res.redirect(303, `/account?notice=${kind}_changed`);
    if (outcome.status === 'step_up_required') return this.askStepUp(req, res, session, kind, outcome.error);
    if (outcome.status === 'pending' && outcome.state?.step === 'otp') {
      return sendPage(res, pageStatus(outcome.error), contactCodePage(outcome, this.web.sessionCsrf(req)));
    }
    const fieldErrors = formFieldErrors(outcome.fieldErrors);
    const status = pageStatus(outcome.error, fieldErrors);
    if (kind === 'mobile') {
      const channel = values.channel === 'voice' ? 'voice' : 'sms';
      const mobile = typeof values.mobile === 'string' ? values.mobile.slice(0, 64) : '';
      return sendPage(
        res,
        status,
        mobilePage(this.web.sessionCsrf(req), await this.mobileOf(session), { ...this.errorOf(outcome), fieldErrors }, { mobile, channel }),
      );
    }
    const user = await this.directory.user(session.userId);
    const email = typeof values.email === 'string' ? values.email.slice(0, 320) : '';
    sendPage(res, status, emailPage(this.web.sessionCsrf(req), user?.email ?? '', { ...this.errorOf(outcome), fieldErrors }, email));
  }

  private async askStepUp(req: Request, res: Response, session: Session, change: AccountChange, error?: StepError): Promise<void> {
    const outcome = await this.stepUp.options(session, CHANGES[change].path);
    if (error) outcome.error = error;
    await this.renderStepUp(req, res, session, outcome, change);
  }

  private async renderStepUp(
    req: Request,
    res: Response,
    session: Session,
    outcome: StepUpOutcome,
    change: AccountChange | null = changeOf(outcome.state.returnTo),
  ): Promise<void> {
    const user = await this.directory.user(session.userId);
    sendPage(
      res,
      pageStatus(outcome.error),
      stepUpPage(outcome, { email: user?.email ?? '', mobile: user?.mobile ?? null }, change, this.web.sessionCsrf(req)),
    );
  }

  private async mobileOf(session: Session): Promise<{ mobile: string | null; verified: boolean }> {
    const user = await this.directory.user(session.userId);
    return { mobile: user?.mobile ?? null, verified: user?.mobileVerifiedAt != null };
  }

  private async codeLength(session: Session): Promise<{ min: number; max: number }> {
    const user = await this.directory.user(session.userId);
    if (!user) return { min: 6, max: 9 };
    const policy = await this.directory.policy(user.organizationId);
    return { min: policy.securityCodeMinLength, max: policy.securityCodeMaxLength };
  }

  private fieldErrors(outcome: ChangeOutcome): Record<string, string> | undefined {
    return formFieldErrors(outcome.fieldErrors);
  }

  private errorOf(outcome: { error?: StepError }): { error?: StepError } {
    return outcome.error ? { error: outcome.error } : {};
  }

  /** Runs a step; a flow that is gone or a session that ended becomes a page, not an error. */
  private async run(res: Response, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      if (error instanceof DomainError && error.code === 'unauthorized') return res.redirect(303, '/signin?return_to=%2Faccount');
      if (error instanceof DomainError && error.code.startsWith('flow_')) {
        return sendPage(res, endedFlowPageStatus(error.code), errorPage('Please start again', error.message, '/account'));
      }
      throw error;
    }
  }
}

const apiStatus = (error: StepError | undefined): number => stepStatus(SURFACES.accountApi, error);

/**
 * The JSON face of the same changes, for native apps, authenticated by the session token
 * (`Authorization: Session <token>`; no cookies, so no CSRF exposure). A change that needs
 * a step-up answers 403 `step_up_required`; `POST /api/v1/account/step-up` starts one. A
 * completed step-up answers the session's new `session_token`: the old one stops working.
 */
@Controller('api/v1/account')
@UseFilters(ProblemFilter)
@SessionToken()
export class AccountChangesApiController {
  constructor(
    private readonly web: WebContext,
    private readonly directory: Directory,
    private readonly stepUp: StepUpService,
    private readonly credentials: CredentialChangeService,
    private readonly contacts: ContactChangeService,
  ) {}

  /** Whether the session is fresh, until when, and the channels a step-up may use. */
  @Get('step-up')
  async stepUpStatus(@CurrentSession() session: Session): Promise<Json> {
    const options = await this.stepUp.options(session);
    const until = this.stepUp.freshUntil(session);
    return {
      fresh: until !== null,
      fresh_until: until?.toISOString() ?? null,
      ...(await this.channelsJson(session, options)),
    };
  }

  @Post('step-up')
  async stepUpBegin(
    @CurrentSession() session: Session,
    @Input(ChannelBody) body: ChannelBody,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const outcome = await this.stepUp.begin(session, { channel: body.channel }, this.web.meta(req));
    await this.replyStepUp(res, session, outcome, 201);
  }

  @Post('step-up/:id/:action')
  @FlowToken()
  async stepUpStep(
    @Param('action') action: string,
    @CurrentSession() session: Session,
    @CurrentFlow() handle: FlowHandle,
    @Input(FlowCodeBody) body: FlowCodeBody,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const meta = this.web.meta(req);
    let outcome: StepUpOutcome;
    if (action === 'resend') outcome = await this.stepUp.resend(handle, session, body.channel, meta);
    else if (action === 'otp') outcome = await this.stepUp.verify(handle, session, body.code, meta);
    else throw new DomainError('invalid_request', `Unknown step-up action "${action.slice(0, 40)}".`);
    await this.replyStepUp(res, session, outcome);
  }

  @Post('password')
  async password(
    @CurrentSession() session: Session,
    @Input(PasswordChangeBody) body: PasswordChangeBody,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const outcome = await this.credentials.changePassword(session, body, this.web.meta(req));
    this.replyChange(res, outcome);
  }

  @Post('security-code')
  async securityCode(
    @CurrentSession() session: Session,
    @Input(SecurityCodeChangeBody) body: SecurityCodeChangeBody,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const outcome = await this.credentials.changeSecurityCode(session, body, this.web.meta(req));
    this.replyChange(res, outcome);
  }

  @Post('mobile')
  async mobileStart(
    @CurrentSession() session: Session,
    @Input(MobileChangeBody) body: MobileChangeBody,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    this.replyContact(
      res,
      await this.contacts.startMobile(session, { mobile: body.mobile, channel: body.channel }, this.web.meta(req)),
      201,
    );
  }

  @Delete('mobile')
  async mobileRemove(@CurrentSession() session: Session, @Req() req: Request, @Res() res: Response): Promise<void> {
    const outcome = await this.contacts.removeMobile(session, this.web.meta(req));
    if (outcome.status === 'changed') return void res.status(204).end();
    this.replyChange(res, outcome);
  }

  @Post('email')
  async emailStart(
    @CurrentSession() session: Session,
    @Input(EmailChangeBody) body: EmailChangeBody,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    this.replyContact(res, await this.contacts.startEmail(session, { email: body.email }, this.web.meta(req)), 201);
  }

  @Post(':kind/:id/:action')
  @FlowToken()
  async contactStep(
    @Param('kind') kind: string,
    @Param('action') action: string,
    @CurrentSession() session: Session,
    @CurrentFlow() handle: FlowHandle,
    @Input(FlowCodeBody) body: FlowCodeBody,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    if (kind !== 'mobile' && kind !== 'email') throw new DomainError('invalid_request', 'Unknown account resource.');
    const meta = this.web.meta(req);
    let outcome: ContactOutcome;
    if (action === 'resend') outcome = await this.contacts.resend(kind, handle, session, body.channel, meta);
    else if (action === 'otp') outcome = await this.contacts.verify(kind, handle, session, body.code, meta);
    else throw new DomainError('invalid_request', `Unknown ${kind} action "${action.slice(0, 40)}".`);
    this.replyContact(res, outcome);
  }

  private async channelsJson(session: Session, outcome: StepUpOutcome): Promise<Json> {
    const s = outcome.state;
    if (s.step === 'done') return {};
    const user = await this.directory.user(session.userId);
    return {
      channels: s.channels.map((c) => ({ channel: c, destination: masked(c, c === 'email' ? (user?.email ?? '') : (user?.mobile ?? '')) })),
      preferred: s.preferred,
    };
  }

  private async replyStepUp(res: Response, session: Session, outcome: StepUpOutcome, created = 200): Promise<void> {
    const s = outcome.state;
    const json: Json = { step: s.step };
    if (outcome.handle) json.flow_id = outcome.handle.id;
    if (created === 201 && outcome.handle) json.flow_token = outcome.handle.token;
    if (s.step === 'done') {
      json.fresh_until = outcome.freshUntil?.toISOString();
      // The step-up renewed the session's token: the one this request came with no longer works.
      json.session_token = outcome.sessionToken;
    } else Object.assign(json, await this.channelsJson(session, outcome));
    if (s.step === 'otp') {
      json.channel = s.channel;
      json.delivery = outcome.delivery;
    }
    const error = stepErrorJson(outcome.error);
    if (error) json.error = error;
    this.send(res, outcome.error ? apiStatus(outcome.error) : s.step === 'otp' && created === 201 ? 201 : 200, json, outcome.error);
  }

  private replyChange(res: Response, outcome: ChangeOutcome): void {
    const json: Json = { status: outcome.status };
    const fieldErrors = formFieldErrors(outcome.fieldErrors);
    if (fieldErrors) json.field_errors = fieldErrors;
    const error = stepErrorJson(outcome.error);
    if (error) json.error = error;
    this.send(res, apiStatus(outcome.error), json, outcome.error);
  }

  private replyContact(res: Response, outcome: ContactOutcome, created = 200): void {
    const s = outcome.state;
    const json: Json = { status: outcome.status };
    if (s) {
      json.step = s.step;
      if (outcome.handle) json.flow_id = outcome.handle.id;
      if (created === 201 && outcome.handle) json.flow_token = outcome.handle.token;
      json.destination = masked(s.kind === 'email' ? 'email' : 'sms', s.destination);
      if (s.step === 'otp') {
        json.channel = s.channel;
        json.channels = s.channels;
        json.delivery = outcome.delivery;
      }
    }
    const fieldErrors = formFieldErrors(outcome.fieldErrors);
    if (fieldErrors) json.field_errors = fieldErrors;
    const error = stepErrorJson(outcome.error);
    if (error) json.error = error;
    const ok = outcome.status === 'pending' && created === 201 ? 201 : 200;
    this.send(res, outcome.error ? apiStatus(outcome.error) : ok, json, outcome.error);
  }

  private send(res: Response, status: number, json: Json, error?: StepError): void {
    if (error?.retryAfterSeconds && status === 429) res.setHeader('Retry-After', String(error.retryAfterSeconds));
    res.setHeader('Cache-Control', 'no-store');
    res.status(status).json(json);
  }
}
