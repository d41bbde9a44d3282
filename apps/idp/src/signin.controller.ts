import { Body, Controller, Get, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { EmergencyContactService } from '../../../libs/contacts/src/index.js';
import { DomainError } from '../../../libs/core/src/index.js';
import { Directory } from '../../../libs/identity/src/index.js';
import { SessionService } from '../../../libs/sessions/src/index.js';
import {
  EnrollmentService,
  SignInService,
  safeReturnTo,
  type DirectSignInOutcome,
  type EnrollmentOutcome,
  type SignInOutcome,
} from '../../../libs/signin/src/index.js';
import { CookieJar } from '../../../libs/web/src/index.js';
import { afterContactsCheck } from './contacts.controller.js';
import { enrollmentPage, errorPage, signInOtpPage, signInPage } from './views.js';
import { WebContext } from './web-context.js';

type Form = Record<string, unknown>;

/** What a sign-in form's token carries: where to go afterwards (`r`), and whether a code is required even on a remembered device (`o`). */
interface SignInForm {
  r: string;
  o: boolean;
}
const SIGNIN_FORM = 'signin';

/** HTTP statuses of the sign-in form's errors (others are answered 200 with the form and its message). */
const SIGNIN_STATUS: Readonly<Record<string, number>> = { throttled: 429, locked: 423, invalid_credentials: 401, invalid_characters: 400 };

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
  async credentials(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const ctx = { ...this.web.meta(req), deviceToken: this.web.cookies.get(req, 'device') };
    if (CookieJar.isFormToken(body.csrf)) {
      // The form of a page view (no flow yet): the one-request sign-in, which creates a flow only when a code is needed.
      const form = this.openForm(req, body.csrf);
      if (!form || !this.web.sameOrigin(req)) return this.refuse(res);
      const outcome = await this.signin.signIn(
        { userId: body.user_id, password: body.password, returnTo: form.r, requireOtp: form.o },
        ctx,
      );
      if (outcome.handle) return await this.afterSignIn(req, res, { ...outcome, handle: outcome.handle });
      if (outcome.signedIn || outcome.enrollment) return await this.afterSignIn(req, res, outcome);
      return this.renderForm(res, outcome, body.csrf as string);
    }
    // A flow at its credentials step (started by an earlier version of this page).
    const handle = this.guard(req, res, 'signin', body);
    if (!handle) return;
    const outcome = await this.run(res, () =>
      this.signin.submitCredentials(handle, { userId: body.user_id, password: body.password }, ctx),
    );
    if (outcome) await this.afterSignIn(req, res, outcome);
  }

  /** The context sealed in a sign-in form's token, if it opens with this browser's cookie. */
  private openForm(req: Request, token: unknown): SignInForm | undefined {
    const context = this.web.cookies.openForm(this.web.cookies.binding(req, 'signin'), SIGNIN_FORM, token);
    if (!context || typeof context.r !== 'string' || typeof context.o !== 'boolean') return undefined;
    return { r: context.r, o: context.o };
  }

  @Post('signin/otp')
  async otp(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const handle = this.guard(req, res, 'signin', body);
    if (!handle) return;
    const meta = { ...this.web.meta(req), deviceToken: this.web.cookies.get(req, 'device') };
    if (body.action === 'restart') {
      // Back to User ID and Password (another account, or a typo): this flow ends, its code can no longer be used.
      const returnTo = await this.signin.cancel(handle);
      this.web.cookies.clear(res, 'signin');
      return res.redirect(303, returnTo ? `/signin?return_to=${encodeURIComponent(returnTo)}` : '/signin');
    }
    const outcome = await this.run(res, async () => {
      const current = await this.signin.current(handle);
      // No code sent yet: the button sends one by the chosen channel.
      if (current.state.step === 'choose_channel') return this.signin.chooseChannel(handle, body.channel, meta);
      if (body.action === 'resend') return this.signin.resend(handle, body.channel, meta);
      // Another channel picked and no code typed: send by that channel.
      if (current.state.step === 'otp' && body.channel && body.channel !== current.state.channel && !body.code) {
        return this.signin.chooseChannel(handle, body.channel, meta);
      }
      return this.signin.verifyCode(handle, { code: body.code, remember: body.remember }, meta);
    });
    if (outcome) await this.afterSignIn(req, res, outcome);
  }

  @Get('enroll')
  async enrollShow(@Req() req: Request, @Res() res: Response): Promise<void> {
    const handle = this.web.cookies.flow(req, 'enroll');
    if (!handle) return res.redirect(303, '/signin');
    const outcome = await this.run(res, () => this.enrollment.current(handle));
    if (outcome) this.renderEnrollment(res, outcome);
  }

  @Post('enroll/confirm')
  async enrollConfirm(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const handle = this.guard(req, res, 'enroll', body);
    if (!handle) return;
    const outcome = await this.run(res, () =>
      body.action === 'report' ? this.enrollment.report(handle, body.message, this.web.meta(req)) : this.enrollment.confirm(handle),
    );
    if (outcome) await this.afterEnrollment(req, res, outcome);
  }

  @Post('enroll/credentials')
  async enrollCredentials(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const handle = this.guard(req, res, 'enroll', body);
    if (!handle) return;
    const outcome = await this.run(res, () =>
      this.enrollment.chooseCredentials(
        handle,
        {
          enterpriseId: body.enterprise_id,
          password: body.password,
          confirmPassword: body.confirm_password,
          securityCode: body.security_code,
          confirmSecurityCode: body.confirm_security_code,
          mobile: body.mobile,
        },
        this.web.meta(req),
      ),
    );
    if (outcome) await this.afterEnrollment(req, res, outcome);
  }

  @Post('enroll/otp')
  async enrollOtp(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const handle = this.guard(req, res, 'enroll', body);
    if (!handle) return;
    const outcome = await this.run(res, () =>
      body.action === 'resend'
        ? this.enrollment.resend(handle, 'email', this.web.meta(req))
        : this.enrollment.verifyEmail(handle, body.code, this.web.meta(req)),
    );
    if (outcome) await this.afterEnrollment(req, res, outcome);
  }

  @Post('enroll/mobile')
  async enrollMobile(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const handle = this.guard(req, res, 'enroll', body);
    if (!handle) return;
    const outcome = await this.run(res, () => {
      if (body.action === 'skip') return this.enrollment.skipMobile(handle);
      if (body.action === 'resend') return this.enrollment.resend(handle, body.channel, this.web.meta(req));
      return this.enrollment.verifyMobile(handle, body.code, this.web.meta(req));
    });
    if (outcome) await this.afterEnrollment(req, res, outcome);
  }

  /** Checks origin and CSRF for a form post on a flow; answers and returns undefined when they fail. */
  private guard(req: Request, res: Response, cookie: 'signin' | 'enroll', body: Form) {
    const handle = this.web.cookies.flow(req, cookie);
    if (!handle || !this.web.sameOrigin(req) || !this.web.cookies.checkCsrf(handle.token, body.csrf)) {
      this.refuse(res);
      return undefined;
    }
    return handle;
  }

  private refuse(res: Response): void {
    res
      .status(403)
      .type('html')
      .send(errorPage('Please start again', 'This form has expired or was not sent from this site. Please start again.'));
  }

  /** Runs a step; flow errors (expired, unknown, changed) become a page that starts again. */
  private async run<T>(res: Response, step: () => Promise<T>): Promise<T | undefined> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof DomainError && error.code.startsWith('flow_')) {
        if (error.code === 'flow_changed') {
          res.redirect(303, '/signin');
          return undefined;
        }
        res.status(410).type('html').send(errorPage('Please start again', error.message));
        return undefined;
      }
      throw error;
    }
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
    const status = SIGNIN_STATUS[outcome.error?.code ?? ''] ?? 200;
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
    const status = outcome.fieldErrors ? 422 : 200;
    res
      .status(status)
      .type('html')
      .send(enrollmentPage(outcome, this.web.cookies.csrf(outcome.handle.token)));
  }
}
