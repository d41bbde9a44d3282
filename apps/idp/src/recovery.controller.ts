import { Body, Controller, Get, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '../../../libs/core/src/index.js';
import type { FlowHandle } from '../../../libs/flows/src/index.js';
import { RecoveryService, type RecoveryGoal, type RecoveryOutcome } from '../../../libs/recovery/src/index.js';
import { errorPage } from './views.js';
import { recoveryPage } from './recovery.views.js';
import { WebContext } from './web-context.js';

type Form = Record<string, unknown>;

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
  async startEnterpriseId(@Res() res: Response): Promise<void> {
    await this.begin(res, 'enterprise_id');
  }

  @Get('password')
  async startPassword(@Res() res: Response): Promise<void> {
    await this.begin(res, 'password');
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
    await this.identify(req, res, body);
  }

  @Post('password')
  async identifyByEnterpriseId(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    await this.identify(req, res, body);
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

  private async begin(res: Response, goal: RecoveryGoal): Promise<void> {
    const outcome = await this.recovery.start(goal);
    this.web.cookies.setFlow(res, 'recover', outcome.handle);
    this.render(res, outcome);
  }

  private async identify(req: Request, res: Response, body: Form): Promise<void> {
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
      res.setHeader('Cache-Control', 'no-store');
      res
        .status(403)
        .type('html')
        .send(errorPage('Please start again', 'This form has expired or was not sent from this site. Please start again.'));
      return undefined;
    }
    return handle;
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

  private render(res: Response, outcome: RecoveryOutcome): void {
    res.setHeader('Cache-Control', 'no-store');
    if (outcome.step === 'done') this.web.cookies.clear(res, 'recover');
    const status = outcome.fieldErrors ? 422 : outcome.error?.code === 'throttled' ? 429 : 200;
    if (status === 429 && outcome.error?.retryAfterSeconds) res.setHeader('Retry-After', String(outcome.error.retryAfterSeconds));
    res
      .status(status)
      .type('html')
      .send(recoveryPage(outcome, this.web.cookies.csrf(outcome.handle.token)));
  }
}
