import { Body, Controller, Get, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '../../../libs/core/src/index.js';
import type { FlowHandle } from '../../../libs/flows/src/index.js';
import { RecoveryService, type RecoveryGoal, type RecoveryOutcome, type UnstartedRecovery } from '../../../libs/recovery/src/index.js';
import { CookieJar } from '../../../libs/web/src/index.js';
import { errorPage } from './views.js';
import { recoveryPage } from './recovery.views.js';
import { WebContext } from './web-context.js';

type Form = Record<string, unknown>;

/** The purpose of a recovery start page's form token (it carries the goal, `g`). */
const RECOVERY_FORM = 'recover';

/** Flow errors that end the flow: the page says why and offers to start again. */
const ENDING = new Set(['flow_not_found', 'flow_expired', 'recovery_blocked', 'recovery_superseded']);

/**
 * Hosted recovery pages: forgot Enterprise ID (`/recover/enterprise-id`), forgot password
 * (`/recover/password`), and both in one flow. Plain HTML forms, no script; every post is
 * checked for its Origin and a CSRF token bound to the flow cookie.
 */
@Controller('recover')
export class RecoveryPagesController {
  constructor(
    private readonly web: WebContext,
    private readonly recovery: RecoveryService,
  ) {}

  @Get('enterprise-id')
  startEnterpriseId(@Req() req: Request, @Res() res: Response): void {
    this.showStart(req, res, 'enterprise_id');
  }

  @Get('password')
  startPassword(@Req() req: Request, @Res() res: Response): void {
    this.showStart(req, res, 'password');
  }

  /** The current step of this browser's recovery flow. */
  @Get()
  async current(@Req() req: Request, @Res() res: Response): Promise<void> {
    const handle = this.web.cookies.flow(req, 'recover');
    if (!handle) return res.redirect(303, '/recover/password');
    const outcome = await this.run(res, () => this.recovery.current(handle));
    if (outcome) this.render(res, outcome);
  }

  @Post('enterprise-id')
  async identifyByEmail(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    await this.identify(req, res, body, 'enterprise_id');
  }

  @Post('password')
  async identifyByEnterpriseId(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    await this.identify(req, res, body, 'password');
  }

  @Post('otp')
  async otp(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const handle = this.guard(req, res, body);
    if (!handle) return;
    const meta = this.web.meta(req);
    const outcome = await this.run(res, async () => {
      const current = await this.recovery.current(handle);
      // No code sent yet: the button sends one by the chosen channel.
      if (current.step === 'choose_channel') return this.recovery.chooseChannel(handle, body.channel, meta);
      if (body.action === 'resend') return this.recovery.resend(handle, body.channel, meta);
      // Another channel picked and no code typed: send by that channel.
      if (current.step === 'otp' && body.channel && body.channel !== current.channel && !body.code) {
        return this.recovery.chooseChannel(handle, body.channel, meta);
      }
      return this.recovery.verifyCode(handle, body.code, meta);
    });
    if (outcome) this.render(res, outcome);
  }

  @Post('continue')
  async continueToPassword(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const handle = this.guard(req, res, body);
    if (!handle) return;
    const outcome = await this.run(res, () => this.recovery.continueToPassword(handle));
    if (outcome) this.render(res, outcome);
  }

  @Post('new-password')
  async newPassword(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const handle = this.guard(req, res, body);
    if (!handle) return;
    const outcome = await this.run(res, () =>
      this.recovery.setPassword(handle, { password: body.password, confirmPassword: body.confirm_password }, this.web.meta(req)),
    );
    if (outcome) this.render(res, outcome);
  }

  /** A start page stores nothing: its form's token (bound to this browser's cookie) names the goal; the flow starts on submit. */
  private showStart(req: Request, res: Response, goal: RecoveryGoal): void {
    const token = this.web.cookies.sealForm(this.web.cookies.formBinding(req, res, 'recover'), RECOVERY_FORM, { g: goal });
    this.render(res, { goal, step: 'identify' }, token);
  }

  private async identify(req: Request, res: Response, body: Form, goal: RecoveryGoal): Promise<void> {
    if (CookieJar.isFormToken(body.csrf)) {
      // A start page's form: the flow starts now (well-formed details only).
      const form = this.web.cookies.openForm(this.web.cookies.binding(req, 'recover'), RECOVERY_FORM, body.csrf);
      if (!form || form.g !== goal || !this.web.sameOrigin(req)) return this.refuse(res);
      const outcome = await this.run(res, () =>
        this.recovery.begin(
          goal,
          { email: body.email, enterpriseId: body.enterprise_id, securityCode: body.security_code },
          this.web.meta(req),
        ),
      );
      if (!outcome) return;
      if (!('handle' in outcome)) return this.render(res, outcome, body.csrf as string);
      this.web.cookies.setFlow(res, 'recover', outcome.handle);
      return this.render(res, outcome);
    }
    const handle = this.guard(req, res, body);
    if (!handle) return;
    const outcome = await this.run(res, () =>
      this.recovery.identify(
        handle,
        { email: body.email, enterpriseId: body.enterprise_id, securityCode: body.security_code },
        this.web.meta(req),
      ),
    );
    if (outcome) this.render(res, outcome);
  }

  /** Checks origin and CSRF for a form post; answers and returns undefined when they fail. */
  private guard(req: Request, res: Response, body: Form): FlowHandle | undefined {
    const handle = this.web.cookies.flow(req, 'recover');
    if (!handle || !this.web.sameOrigin(req) || !this.web.cookies.checkCsrf(handle.token, body.csrf)) {
      this.refuse(res);
      return undefined;
    }
    return handle;
  }

  private refuse(res: Response): void {
    res.setHeader('Cache-Control', 'no-store');
    res
      .status(403)
      .type('html')
      .send(errorPage('Please start again', 'This form has expired or was not sent from this site. Please start again.'));
  }

  /** Runs a step; flow errors (expired, unknown, changed, blocked, superseded) become a page that starts again. */
  private async run<T>(res: Response, step: () => Promise<T>): Promise<T | undefined> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof DomainError && error.code === 'flow_changed') {
        res.redirect(303, '/recover');
        return undefined;
      }
      if (error instanceof DomainError && ENDING.has(error.code)) {
        this.web.cookies.clear(res, 'recover');
        res.setHeader('Cache-Control', 'no-store');
        res
          .status(error.code === 'recovery_blocked' ? 403 : error.code === 'recovery_superseded' ? 409 : 410)
          .type('html')
          .send(errorPage('Please start again', error.message));
        return undefined;
      }
      throw error;
    }
  }

  /** A step's page; `formToken` for the start page's form (no flow yet), else the CSRF token of the flow. */
  private render(res: Response, outcome: RecoveryOutcome | UnstartedRecovery, formToken?: string): void {
    res.setHeader('Cache-Control', 'no-store');
    if (outcome.step === 'done') this.web.cookies.clear(res, 'recover');
    const status =
      outcome.error?.code === 'invalid_characters' ? 400 : outcome.fieldErrors ? 422 : outcome.error?.code === 'throttled' ? 429 : 200;
    if (status === 429 && outcome.error?.retryAfterSeconds) res.setHeader('Retry-After', String(outcome.error.retryAfterSeconds));
    const csrf = formToken ?? ('handle' in outcome ? this.web.cookies.csrf(outcome.handle.token) : '');
    res.status(status).type('html').send(recoveryPage(outcome, csrf));
  }
}
