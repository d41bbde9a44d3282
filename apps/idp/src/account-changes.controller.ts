import { Controller, Get, Post, Query, Req, Res } from '@nestjs/common';
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
import { CurrentSession, Input, SignedIn, sendPage } from './auth/index.js';
import { ContactCodeForm, EmailChangeBody, MobileChangeBody, PasswordChangeBody, SecurityCodeChangeBody, StepUpForm } from './bodies.js';
import { FLOW_ERRORS, pageStep, type PageStepErrors } from './flow-steps.js';
import { SURFACES, stepStatus } from './status.js';
import { formFieldErrors } from './views.js';
import { WebContext } from './web-context.js';

// The JSON API of the same changes has its own file; IdpModule imports both controllers from here.
export { AccountChangesApiController } from './account-changes-api.controller.js';

/** `<flow id>.<flow token>`, as the pages carry it in their hidden `flow` field. */
function handleFromForm(value: unknown): FlowHandle {
  const text = typeof value === 'string' ? value : '';
  const dot = text.indexOf('.');
  if (dot <= 0 || text.length > 200) throw new DomainError('flow_not_found', 'This step is no longer valid. Please start again.');
  return { id: text.slice(0, dot), token: text.slice(dot + 1) };
}

const pageStatus = (error: StepError | undefined, fieldErrors?: Record<string, string>): number =>
  stepStatus(SURFACES.accountPage, error, fieldErrors);

/** A session that ended meanwhile goes to sign-in; a flow that is gone becomes a page (back to the account), not an error. */
const STEP_ERRORS: PageStepErrors = { signedOut: '/signin?return_to=%2Faccount', ends: FLOW_ERRORS, back: '/account' };

/** Whether a code page's post asks for a new code (again, or by the other channel with no code typed) rather than checking one. */
function wantsNewCode(
  state: { step: string; channel?: unknown } | null | undefined,
  body: { action?: string; channel?: unknown; code?: unknown },
): boolean {
  const switched = state?.step === 'otp' && typeof body.channel === 'string' && body.channel !== state.channel;
  return body.action === 'resend' || (switched && !body.code);
}

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
    await pageStep(STEP_ERRORS, async () => {
      const meta = this.web.meta(req);
      let outcome: StepUpOutcome;
      if (body.flow === undefined || body.flow === '') {
        outcome = await this.stepUp.begin(session, { channel: body.channel, returnTo: body.return_to }, meta);
      } else {
        const handle = handleFromForm(body.flow);
        outcome = wantsNewCode((await this.stepUp.current(handle, session)).state, body)
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
    await this.showFresh(req, res, session, 'password', async () => passwordPage(this.web.sessionCsrf(req)));
  }

  @Post('password')
  async passwordSubmit(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(PasswordChangeBody) body: PasswordChangeBody,
  ): Promise<void> {
    await this.credentialChange(
      req,
      res,
      session,
      'password',
      async (shown) => passwordPage(this.web.sessionCsrf(req), shown),
      () => this.credentials.changePassword(session, body, this.web.meta(req)),
    );
  }

  @Get('security-code')
  async securityCodeShow(@Req() req: Request, @Res() res: Response, @CurrentSession() session: Session): Promise<void> {
    await this.showFresh(req, res, session, 'security_code', async () =>
      securityCodePage(this.web.sessionCsrf(req), await this.codeLength(session)),
    );
  }

  @Post('security-code')
  async securityCodeSubmit(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(SecurityCodeChangeBody) body: SecurityCodeChangeBody,
  ): Promise<void> {
    await this.credentialChange(
      req,
      res,
      session,
      'security_code',
      async (shown) => securityCodePage(this.web.sessionCsrf(req), await this.codeLength(session), shown),
      () => this.credentials.changeSecurityCode(session, body, this.web.meta(req)),
    );
  }

  @Get('mobile')
  async mobileShow(@Req() req: Request, @Res() res: Response, @CurrentSession() session: Session): Promise<void> {
    await this.showFresh(req, res, session, 'mobile', async () => mobilePage(this.web.sessionCsrf(req), await this.mobileOf(session)));
  }

  @Post('mobile')
  async mobileSubmit(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(MobileChangeBody) body: MobileChangeBody,
  ): Promise<void> {
    await pageStep(STEP_ERRORS, async () => {
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

  @Get('email')
  async emailShow(@Req() req: Request, @Res() res: Response, @CurrentSession() session: Session): Promise<void> {
    await this.showFresh(req, res, session, 'email', async () => emailPage(this.web.sessionCsrf(req), await this.emailOf(session)));
  }

  @Post('email')
  async emailSubmit(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(EmailChangeBody) body: EmailChangeBody,
  ): Promise<void> {
    await pageStep(STEP_ERRORS, async () => {
      const outcome = await this.contacts.startEmail(session, { email: body.email }, this.web.meta(req));
      await this.afterContact(req, res, session, 'email', outcome, { email: body.email });
    });
  }

  /** The code step of a new mobile number (`/account/mobile/verify`) or email address (`/account/email/verify`). */
  @Post(['mobile/verify', 'email/verify'])
  async contactVerify(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(ContactCodeForm) body: ContactCodeForm,
  ): Promise<void> {
    // As the router matches it: a trailing slash and any case.
    const kind: ContactKind = /\/mobile\/verify\/?$/iu.test(req.path) ? 'mobile' : 'email';
    await pageStep(STEP_ERRORS, async () => {
      const meta = this.web.meta(req);
      const handle = handleFromForm(body.flow);
      const outcome = wantsNewCode((await this.contacts.current(kind, handle, session)).state, body)
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
    const email = typeof values.email === 'string' ? values.email.slice(0, 320) : '';
    sendPage(
      res,
      status,
      emailPage(this.web.sessionCsrf(req), await this.emailOf(session), { ...this.errorOf(outcome), fieldErrors }, email),
    );
  }

  /** A change's form, once the session is fresh; else the step-up first. */
  private async showFresh(
    req: Request,
    res: Response,
    session: Session,
    change: AccountChange,
    form: () => Promise<string>,
  ): Promise<void> {
    if (!this.stepUp.isFresh(session)) return this.askStepUp(req, res, session, change);
    sendPage(res, 200, await form());
  }

  /** A password or security code change: done (to the account, with a notice), a step-up first, or the form again with its errors. */
  private async credentialChange(
    req: Request,
    res: Response,
    session: Session,
    change: 'password' | 'security_code',
    form: (shown: { error?: StepError; fieldErrors?: Record<string, string> }) => Promise<string>,
    act: () => Promise<ChangeOutcome>,
  ): Promise<void> {
    await pageStep(STEP_ERRORS, async () => {
      const outcome = await act();
      if (outcome.status === 'changed') return res.redirect(303, `/account?notice=${change}_changed`);
      if (outcome.status === 'step_up_required') return this.askStepUp(req, res, session, change, outcome.error);
      const fieldErrors = formFieldErrors(outcome.fieldErrors);
      sendPage(res, pageStatus(outcome.error, fieldErrors), await form({ ...this.errorOf(outcome), fieldErrors }));
    });
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

  private async emailOf(session: Session): Promise<string> {
    return (await this.directory.user(session.userId))?.email ?? '';
  }

  private async codeLength(session: Session): Promise<{ min: number; max: number }> {
    const user = await this.directory.user(session.userId);
    if (!user) return { min: 6, max: 9 };
    const policy = await this.directory.policy(user.organizationId);
    return { min: policy.securityCodeMinLength, max: policy.securityCodeMaxLength };
  }

  private errorOf(outcome: { error?: StepError }): { error?: StepError } {
    return outcome.error ? { error: outcome.error } : {};
  }
}
