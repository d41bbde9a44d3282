import { Controller, Get, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { EmergencyContactService } from '#libs/contacts';
import { DomainError } from '#libs/core';
import type { FlowHandle } from '#libs/flows';
import { Directory } from '#libs/identity';
import { SessionService } from '#libs/sessions';
import {
  EnrollmentService,
  SignInService,
  safeReturnTo,
  type DirectSignInOutcome,
  type EnrollmentOutcome,
  type SignInOutcome,
} from '#libs/signin';
import { CurrentFlow, FlowForm, FlowIfAny, Input, PageAnswer, Public, StartForm } from './auth/index.js';
import {
  EnrollCodeForm,
  EnrollConfirmForm,
  EnrollCredentialsForm,
  EnrollMobileForm,
  SignInCodeForm,
  SignInCredentialsForm,
} from './bodies.js';
import { afterContactsCheck } from './contacts.controller.js';
import { FLOW_ERRORS, codeFormAction, pageStep, type PageStepErrors } from './flow-steps.js';
import { SURFACES, stepStatus } from './status.js';
import { enrollmentPage, signInOtpPage, signInPage } from './views.js';
import { WebContext } from './web-context.js';

/** What a sign-in form's token carries: where to go afterwards (`r`), and whether a code is required even on a remembered device (`o`). */
interface SignInForm {
  r: string;
  o: boolean;
}
const SIGNIN_FORM = 'signin';

/** Flow errors (expired, unknown) become a page that starts again; a flow changed under the page goes back to sign-in. */
const STEP_ERRORS: PageStepErrors = { changed: '/signin', ends: FLOW_ERRORS };

/** The context sealed in a sign-in form's token (opened by the guard); a token of another shape is refused. */
function signInFormOf(context: Record<string, unknown>): SignInForm {
  if (typeof context.r !== 'string' || typeof context.o !== 'boolean') throw PageAnswer.flowFormRefused();
  return { r: context.r, o: context.o };
}

/** Hosted sign-in and enrollment pages: plain HTML forms, no script, CSRF on every post. */
@Controller()
export class SignInPagesController {
  constructor(
    private readonly web: WebContext,
    private readonly signin: SignInService,
    private readonly enrollment: EnrollmentService,
    private readonly directory: Directory,
    private readonly sessions: SessionService,
    private readonly contacts: EmergencyContactService,
  ) {}

  @Get('signin')
  @Public()
  async show(
    @Req() req: Request,
    @Res() res: Response,
    @Query('return_to') returnTo?: string,
    // `step_up=1` (from an OIDC interaction asking loa:2, max_age or prompt=login): an OTP even on a remembered device.
    @Query('step_up') stepUp?: string,
  ): Promise<void> {
    const existing = this.web.cookies.flow(req, 'signin');
    if (existing && returnTo === undefined) {
      try {
        return await this.renderSignIn(res, await this.signin.current(existing));
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
      }
    }
    // Nothing is stored for a page view: where to go afterwards (and whether a code is required) travels
    // in the form's token, sealed to this browser's cookie. The flow starts when the form is submitted.
    const form: SignInForm = { r: safeReturnTo(returnTo), o: stepUp === '1' };
    const token = this.web.cookies.sealForm(this.web.cookies.formBinding(req, res, 'signin'), SIGNIN_FORM, { ...form });
    this.renderForm(res, { state: { step: 'credentials', returnTo: form.r, requireOtp: form.o } }, token);
  }

  @Post('signin')
  @FlowForm('signin', { startForm: SIGNIN_FORM })
  async credentials(
    @Req() req: Request,
    @Res() res: Response,
    @Input(SignInCredentialsForm) body: SignInCredentialsForm,
    @FlowIfAny() handle: FlowHandle | undefined,
    @StartForm() sealed: Record<string, unknown> | undefined,
  ): Promise<void> {
    const ctx = { ...this.web.meta(req), deviceToken: this.web.cookies.get(req, 'device') };
    if (sealed) {
      // The form of a page view (no flow yet): the one-request sign-in, which creates a flow only when a code is needed.
      const form = signInFormOf(sealed);
      const outcome = await this.signin.signIn(
        { userId: body.user_id, password: body.password, returnTo: form.r, requireOtp: form.o },
        ctx,
      );
      if (outcome.handle) return await this.afterSignIn(req, res, { ...outcome, handle: outcome.handle });
      if (outcome.signedIn || outcome.enrollment) return await this.afterSignIn(req, res, outcome);
      return this.renderForm(res, outcome, body.csrf!);
    }
    // A flow at its credentials step (started by an earlier version of this page).
    const flow = handle!;
    const credentials = { userId: body.user_id, password: body.password };
    await this.afterSignIn(req, res, await pageStep(STEP_ERRORS, () => this.signin.submitCredentials(flow, credentials, ctx)));
  }

  @Post('signin/otp')
  @FlowForm('signin')
  async otp(
    @Req() req: Request,
    @Res() res: Response,
    @Input(SignInCodeForm) body: SignInCodeForm,
    @CurrentFlow() handle: FlowHandle,
  ): Promise<void> {
    const meta = { ...this.web.meta(req), deviceToken: this.web.cookies.get(req, 'device') };
    if (body.action === 'restart') {
      // Back to User ID and Password (another account, or a typo): this flow ends, its code can no longer be used.
      const returnTo = await this.signin.cancel(handle);
      this.web.cookies.clear(res, 'signin');
      return res.redirect(303, returnTo ? `/signin?return_to=${encodeURIComponent(returnTo)}` : '/signin');
    }
    const outcome = await pageStep(STEP_ERRORS, async () => {
      const action = codeFormAction((await this.signin.current(handle)).state, body);
      if (action === 'send') return this.signin.chooseChannel(handle, body.channel, meta);
      if (action === 'resend') return this.signin.resend(handle, body.channel, meta);
      return this.signin.verifyCode(handle, { code: body.code, remember: body.remember }, meta);
    });
    await this.afterSignIn(req, res, outcome);
  }

  @Get('enroll')
  @Public()
  async enrollShow(@Req() req: Request, @Res() res: Response): Promise<void> {
    const handle = this.web.cookies.flow(req, 'enroll');
    if (!handle) return res.redirect(303, '/signin');
    this.renderEnrollment(res, await pageStep(STEP_ERRORS, () => this.enrollment.current(handle)));
  }

  @Post('enroll/confirm')
  @FlowForm('enroll')
  async enrollConfirm(
    @Req() req: Request,
    @Res() res: Response,
    @Input(EnrollConfirmForm) body: EnrollConfirmForm,
    @CurrentFlow() handle: FlowHandle,
  ): Promise<void> {
    await this.enrollmentStep(req, res, () =>
      body.action === 'report' ? this.enrollment.report(handle, body.message, this.web.meta(req)) : this.enrollment.confirm(handle),
    );
  }

  @Post('enroll/credentials')
  @FlowForm('enroll')
  async enrollCredentials(
    @Req() req: Request,
    @Res() res: Response,
    @Input(EnrollCredentialsForm) body: EnrollCredentialsForm,
    @CurrentFlow() handle: FlowHandle,
  ): Promise<void> {
    await this.enrollmentStep(req, res, () => this.enrollment.chooseCredentials(handle, body, this.web.meta(req)));
  }

  @Post('enroll/otp')
  @FlowForm('enroll')
  async enrollOtp(
    @Req() req: Request,
    @Res() res: Response,
    @Input(EnrollCodeForm) body: EnrollCodeForm,
    @CurrentFlow() handle: FlowHandle,
  ): Promise<void> {
    await this.enrollmentStep(req, res, () =>
      body.action === 'resend'
        ? this.enrollment.resend(handle, 'email', this.web.meta(req))
        : this.enrollment.verifyEmail(handle, body.code, this.web.meta(req)),
    );
  }

  @Post('enroll/mobile')
  @FlowForm('enroll')
  async enrollMobile(
    @Req() req: Request,
    @Res() res: Response,
    @Input(EnrollMobileForm) body: EnrollMobileForm,
    @CurrentFlow() handle: FlowHandle,
  ): Promise<void> {
    await this.enrollmentStep(req, res, () => {
      if (body.action === 'skip') return this.enrollment.skipMobile(handle);
      if (body.action === 'resend') return this.enrollment.resend(handle, body.channel, this.web.meta(req));
      return this.enrollment.verifyMobile(handle, body.code, this.web.meta(req));
    });
  }

  /** Runs an enrollment step (flow errors answered as STEP_ERRORS says), then goes on from its outcome. */
  private async enrollmentStep(req: Request, res: Response, step: () => Promise<EnrollmentOutcome>): Promise<void> {
    await this.afterEnrollment(req, res, await pageStep(STEP_ERRORS, step));
  }

  private async afterSignIn(req: Request, res: Response, outcome: SignInOutcome | DirectSignInOutcome): Promise<void> {
    if (outcome.enrollment) {
      this.web.cookies.clear(res, 'signin');
      this.web.cookies.setFlow(res, 'enroll', outcome.enrollment);
      return res.redirect(303, '/enroll');
    }
    if (outcome.signedIn) {
      this.web.cookies.clear(res, 'signin');
      await this.startSession(req, res, outcome.signedIn.sessionToken, outcome.signedIn.userId);
      if (outcome.signedIn.deviceToken) this.web.cookies.set(res, 'device', outcome.signedIn.deviceToken, 365 * 86_400_000);
      // Required emergency contacts unverified: asked first (interstitial), then on to returnTo.
      return res.redirect(303, await afterContactsCheck(this.contacts, outcome.signedIn.userId, null, outcome.signedIn.returnTo));
    }
    if (!outcome.handle) throw new Error('a sign-in step without a flow');
    if (this.web.cookies.flow(req, 'signin')?.id !== outcome.handle.id) this.web.cookies.setFlow(res, 'signin', outcome.handle);
    await this.renderSignIn(res, { ...outcome, handle: outcome.handle });
  }

  /**
   * Sets the new session's cookie and ends the session this browser held before, if any (rotation: no old id lives on).
   * Another person's session ends as `replaced_by_other_user`, which logs the relying apps it signed in to out (back-channel).
   */
  private async startSession(req: Request, res: Response, token: string, userId: string): Promise<void> {
    const previous = this.web.cookies.get(req, 'session');
    if (previous && previous !== token) {
      const session = await this.sessions.resolve(previous);
      if (session)
        await this.sessions.end(session.id, session.userId === userId ? 'replaced' : 'replaced_by_other_user', this.web.meta(req));
    }
    this.web.cookies.set(res, 'session', token);
  }

  /** The User ID and password form, its token sealing where the sign-in goes (no flow behind it). */
  private renderForm(res: Response, outcome: DirectSignInOutcome, token: string): void {
    const status = this.status(res, outcome);
    res.status(status).type('html').send(signInPage(outcome, token));
  }

  private status(res: Response, outcome: DirectSignInOutcome): number {
    const status = stepStatus(SURFACES.signInPage, outcome.error);
    if (outcome.error?.retryAfterSeconds && status === 429) res.setHeader('Retry-After', String(outcome.error.retryAfterSeconds));
    res.setHeader('Cache-Control', 'no-store');
    return status;
  }

  private async renderSignIn(res: Response, outcome: SignInOutcome): Promise<void> {
    const handle = outcome.handle;
    const csrf = this.web.cookies.csrf(handle.token);
    const status = this.status(res, outcome);
    const state = outcome.state;
    if (state.step === 'choose_channel' || state.step === 'otp') {
      const user = await this.directory.user(state.userId);
      const policy = user ? await this.directory.policy(user.organizationId) : null;
      res
        .status(status)
        .type('html')
        .send(
          signInOtpPage(outcome, csrf, { email: user?.email ?? '', mobile: user?.mobile ?? null }, policy?.rememberDeviceEnabled ?? false),
        );
      return;
    }
    res.status(status).type('html').send(signInPage(outcome, csrf));
  }

  private async afterEnrollment(req: Request, res: Response, outcome: EnrollmentOutcome): Promise<void> {
    if (outcome.signedIn) await this.startSession(req, res, outcome.signedIn.sessionToken, outcome.signedIn.userId);
    if (outcome.state.step === 'done') {
      this.web.cookies.clear(res, 'enroll');
      return res.redirect(303, await afterContactsCheck(this.contacts, outcome.state.userId, null, outcome.state.returnTo));
    }
    if (outcome.state.step === 'reported') this.web.cookies.clear(res, 'enroll');
    this.renderEnrollment(res, outcome);
  }

  private renderEnrollment(res: Response, outcome: EnrollmentOutcome): void {
    res.setHeader('Cache-Control', 'no-store');
    const status = stepStatus(SURFACES.enrollmentPage, outcome.error, outcome.fieldErrors);
    res
      .status(status)
      .type('html')
      .send(enrollmentPage(outcome, this.web.cookies.csrf(outcome.handle.token)));
  }
}
