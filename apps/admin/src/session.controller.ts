import { Body, Controller, Get, Header, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '#libs/core';
import { StaffService, StaffSessionService, StaffSignInService, type StaffSignInOutcome } from '#libs/staff';
import { sendPage } from '#libs/web';
import { AdminWeb } from './admin-web.js';
import { Public, Roles, type StaffRequest } from './auth/index.js';
import { CONSOLE_STYLESHEET, noticeOf } from './views/layout.js';
import { otpPage, setupPage, signInPage } from './views/session.views.js';

type Form = Record<string, unknown>;

const NOTICES: Record<string, string> = {
  signed_out: 'You are signed out.',
  setup_done: 'Your account is set up. Sign in with your email and new password.',
  expired: 'Your session has ended. Please sign in again.',
};

/** Sign-in (email, password, one-time code), sign-out and account setup. */
@Controller()
export class SessionController {
  constructor(
    private readonly web: AdminWeb,
    private readonly signin: StaffSignInService,
    private readonly sessions: StaffSessionService,
    private readonly staff: StaffService,
  ) {}

  @Get('assets/gatehouse.css')
  @Public()
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('Cache-Control', 'public, max-age=3600')
  stylesheet(): string {
    return CONSOLE_STYLESHEET;
  }

  @Get()
  @Public()
  root(@Res() res: Response): void {
    res.redirect(302, '/search');
  }

  @Get('signin')
  @Public()
  async show(@Req() req: Request, @Res() res: Response, @Query('return_to') returnTo?: string): Promise<void> {
    sendPage(res, 200, signInPage({ csrf: this.web.csrf(req, res), notice: noticeOf(req, NOTICES), returnTo }));
  }

  @Post('signin')
  @Public()
  async credentials(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const outcome = await this.signin.submitCredentials(
      { email: body.email, password: body.password, returnTo: body.return_to },
      this.web.meta(req),
    );
    if (outcome.step === 'otp') {
      this.web.cookies.setFlow(res, 'admin_signin', outcome.handle);
      return res.redirect(303, '/signin/otp');
    }
    if (outcome.step !== 'credentials') throw new Error('sign-in finished without a code');
    const status = outcome.error.code === 'throttled' ? 429 : outcome.error.code === 'invalid_credentials' ? 401 : 400;
    if (outcome.error.retryAfterSeconds) res.setHeader('Retry-After', String(outcome.error.retryAfterSeconds));
    const email = typeof body.email === 'string' ? body.email.slice(0, 254) : '';
    const returnTo = typeof body.return_to === 'string' ? body.return_to.slice(0, 500) : undefined;
    sendPage(res, status, signInPage({ csrf: this.web.csrf(req, res), error: outcome.error.message, email, returnTo }));
  }

  @Get('signin/otp')
  @Public()
  async otpShow(@Req() req: Request, @Res() res: Response): Promise<void> {
    const handle = this.web.cookies.flow(req, 'admin_signin');
    if (!handle) return res.redirect(303, '/signin');
    await this.step(req, res, () => this.signin.current(handle));
  }

  @Post('signin/otp')
  @Public()
  async otp(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const handle = this.web.cookies.flow(req, 'admin_signin');
    if (!handle) return res.redirect(303, '/signin');
    if (body.action === 'restart') {
      await this.signin.cancel(handle);
      this.web.cookies.clear(res, 'admin_signin');
      return res.redirect(303, '/signin');
    }
    const meta = this.web.meta(req);
    await this.step(req, res, () =>
      body.action === 'resend' ? this.signin.resend(handle, meta) : this.signin.verifyCode(handle, body.code, meta),
    );
  }

  @Post('signout')
  @Roles('support')
  async signOut(@Req() req: StaffRequest, @Res() res: Response): Promise<void> {
    await this.sessions.end(req.staffSession!.id, 'signed_out', this.web.meta(req));
    this.web.cookies.clear(res, 'admin_session');
    res.redirect(303, '/signin?notice=signed_out');
  }

  @Get('setup')
  @Public()
  setupShow(@Req() req: Request, @Res() res: Response): void {
    sendPage(res, 200, setupPage({ csrf: this.web.csrf(req, res) }));
  }

  @Post('setup')
  @Public()
  async setup(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const result = await this.staff.completeSetup(
      { code: body.code, password: body.password, confirmPassword: body.confirm_password },
      this.web.meta(req),
    );
    if (result.ok) return res.redirect(303, '/signin?notice=setup_done');
    const status = result.code === 'throttled' ? 429 : 422;
    sendPage(res, status, setupPage({ csrf: this.web.csrf(req, res), error: result.message, fieldErrors: result.fieldErrors }));
  }

  /** Runs an OTP step; a finished sign-in sets the session cookie (a new token; any previous session of this browser ends). */
  private async step(req: Request, res: Response, run: () => Promise<StaffSignInOutcome>): Promise<void> {
    let outcome: StaffSignInOutcome;
    try {
      outcome = await run();
    } catch (error) {
      if (error instanceof DomainError && error.code.startsWith('flow_')) {
        this.web.cookies.clear(res, 'admin_signin');
        return sendPage(
          res,
          410,
          signInPage({ csrf: this.web.csrf(req, res), error: 'This sign-in step has expired. Please sign in again.' }),
        );
      }
      throw error;
    }
    if (outcome.step === 'signed_in') {
      const previous = await this.sessions.resolve(this.web.sessionToken(req));
      if (previous) await this.sessions.end(previous.id, 'replaced', this.web.meta(req));
      this.web.cookies.clear(res, 'admin_signin');
      this.web.cookies.set(res, 'admin_session', outcome.token);
      return res.redirect(303, outcome.returnTo);
    }
    if (outcome.step === 'credentials') {
      this.web.cookies.clear(res, 'admin_signin');
      return sendPage(res, 429, signInPage({ csrf: this.web.csrf(req, res), error: outcome.error.message }));
    }
    const status = !outcome.error
      ? 200
      : outcome.error.code.startsWith('otp_') && outcome.error.code !== 'otp_cooldown' && outcome.error.code !== 'otp_rate_limited'
        ? 401
        : outcome.error.code === 'delivery_failed'
          ? 502
          : 429;
    sendPage(
      res,
      status,
      otpPage({
        csrf: this.web.csrf(req, res),
        destination: outcome.destination,
        delivery: outcome.delivery,
        error: outcome.error?.message,
      }),
    );
  }
}

/** JSON: who is signed in, and the CSRF token the API's state-changing calls send as `X-CSRF-Token`. */
@Controller('api/v1')
@Roles('support')
export class SessionApiController {
  constructor(private readonly web: AdminWeb) {}

  @Get('session')
  session(@Req() req: StaffRequest): Record<string, unknown> {
    const current = req.staffSession!;
    return {
      staff: req.staff,
      csrf_token: this.web.cookies.csrf(current.token),
      idle_expires_at: current.session.idleExpiresAt,
      absolute_expires_at: current.session.absoluteExpiresAt,
    };
  }
}
