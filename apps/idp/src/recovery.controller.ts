import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { FlowHandle } from '#libs/flows';
import { RecoveryService, type RecoveryGoal, type RecoveryOutcome, type UnstartedRecovery } from '#libs/recovery';
import { CurrentFlow, FlowForm, FlowIfAny, Input, PageAnswer, Public, StartForm } from './auth/index.js';
import { NewPasswordForm, RecoveryCodeForm, RecoveryIdentifyForm } from './bodies.js';
import { codeFormAction, pageStep, type PageStepErrors } from './flow-steps.js';
import { recoveryPage } from './recovery.views.js';
import { SURFACES, stepStatus } from './status.js';
import { WebContext } from './web-context.js';

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

  /** Flow errors that end the flow (expired, unknown, blocked, superseded) become a page that starts again; a changed flow shows its current step. */
  private readonly stepErrors: PageStepErrors = {
    changed: '/recover',
    ends: (code) => ENDING.has(code),
    onEnd: (res) => this.web.cookies.clear(res, 'recover'),
  };

  @Get('enterprise-id')
  @Public()
  startEnterpriseId(@Req() req: Request, @Res() res: Response): void {
    this.showStart(req, res, 'enterprise_id');
  }

  @Get('password')
  @Public()
  startPassword(@Req() req: Request, @Res() res: Response): void {
    this.showStart(req, res, 'password');
  }

  /** The current step of this browser's recovery flow. */
  @Get()
  @Public()
  async current(@Req() req: Request, @Res() res: Response): Promise<void> {
    const handle = this.web.cookies.flow(req, 'recover');
    if (!handle) return res.redirect(303, '/recover/password');
    this.render(res, await pageStep(this.stepErrors, () => this.recovery.current(handle)));
  }

  /** The identify step: a start page's form (`/recover/enterprise-id` by email, `/recover/password` by Enterprise ID), or a flow's. */
  @Post(['enterprise-id', 'password'])
  @FlowForm('recover', { startForm: RECOVERY_FORM })
  async identify(
    @Req() req: Request,
    @Res() res: Response,
    @Input(RecoveryIdentifyForm) body: RecoveryIdentifyForm,
    @FlowIfAny() handle: FlowHandle | undefined,
    @StartForm() sealed: Record<string, unknown> | undefined,
  ): Promise<void> {
    const goal: RecoveryGoal = /\/password\/?$/u.test(req.path) ? 'password' : 'enterprise_id';
    if (sealed) {
      // A start page's form (opened by the guard): the flow starts now (well-formed details only).
      if (sealed.g !== goal) throw PageAnswer.flowFormRefused();
      const outcome = await pageStep(this.stepErrors, () => this.recovery.begin(goal, body.details, this.web.meta(req)));
      if (!('handle' in outcome)) return this.render(res, outcome, body.csrf);
      this.web.cookies.setFlow(res, 'recover', outcome.handle);
      return this.render(res, outcome);
    }
    const flow = handle!;
    this.render(res, await pageStep(this.stepErrors, () => this.recovery.identify(flow, body.details, this.web.meta(req))));
  }

  @Post('otp')
  @FlowForm('recover')
  async otp(
    @Req() req: Request,
    @Res() res: Response,
    @Input(RecoveryCodeForm) body: RecoveryCodeForm,
    @CurrentFlow() handle: FlowHandle,
  ): Promise<void> {
    const meta = this.web.meta(req);
    const outcome = await pageStep(this.stepErrors, async () => {
      const action = codeFormAction(await this.recovery.current(handle), body);
      if (action === 'send') return this.recovery.chooseChannel(handle, body.channel, meta);
      if (action === 'resend') return this.recovery.resend(handle, body.channel, meta);
      return this.recovery.verifyCode(handle, body.code, meta);
    });
    this.render(res, outcome);
  }

  @Post('continue')
  @FlowForm('recover')
  async continueToPassword(@Res() res: Response, @CurrentFlow() handle: FlowHandle): Promise<void> {
    this.render(res, await pageStep(this.stepErrors, () => this.recovery.continueToPassword(handle)));
  }

  @Post('new-password')
  @FlowForm('recover')
  async newPassword(
    @Req() req: Request,
    @Res() res: Response,
    @Input(NewPasswordForm) body: NewPasswordForm,
    @CurrentFlow() handle: FlowHandle,
  ): Promise<void> {
    const passwords = { password: body.password, confirmPassword: body.confirm_password };
    this.render(res, await pageStep(this.stepErrors, () => this.recovery.setPassword(handle, passwords, this.web.meta(req))));
  }

  /** A start page stores nothing: its form's token (bound to this browser's cookie) names the goal; the flow starts on submit. */
  private showStart(req: Request, res: Response, goal: RecoveryGoal): void {
    const token = this.web.cookies.sealForm(this.web.cookies.formBinding(req, res, 'recover'), RECOVERY_FORM, { g: goal });
    this.render(res, { goal, step: 'identify' }, token);
  }

  /** A step's page; `formToken` for the start page's form (no flow yet), else the CSRF token of the flow. */
  private render(res: Response, outcome: RecoveryOutcome | UnstartedRecovery, formToken?: string): void {
    res.setHeader('Cache-Control', 'no-store');
    if (outcome.step === 'done') this.web.cookies.clear(res, 'recover');
    const status = stepStatus(SURFACES.recoveryPage, outcome.error, outcome.fieldErrors);
    if (status === 429 && outcome.error?.retryAfterSeconds) res.setHeader('Retry-After', String(outcome.error.retryAfterSeconds));
    const csrf = formToken ?? ('handle' in outcome ? this.web.cookies.csrf(outcome.handle.token) : '');
    res.status(status).type('html').send(recoveryPage(outcome, csrf));
  }
}
