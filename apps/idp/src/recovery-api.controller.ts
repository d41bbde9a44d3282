import { Controller, Get, Param, Post, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { FlowHandle } from '#libs/flows';
import { GENERIC_CODE_SENT, RecoveryService, type RecoveryOutcome } from '#libs/recovery';
import { CurrentFlow, FlowToken, Input, Public } from './auth/index.js';
import { RecoveryStartBody, RecoveryStepBody } from './bodies.js';
import { flowAction } from './flow-steps.js';
import { ProblemFilter } from './problem.filter.js';
import { SURFACES, stepErrorJson, stepStatus } from './status.js';
import { WebContext } from './web-context.js';

type Json = Record<string, unknown>;

/**
 * The JSON face of recovery, for native apps: the same RecoveryService calls as the hosted
 * pages. A flow is addressed by its id and the `X-Flow-Token` header returned when it
 * starts (no cookies, so no CSRF exposure); another client's flow id is `404`.
 *
 * - `POST /api/v1/recovery` `{"goal": "enterprise_id" | "password"}` -> 201 with `flow_id`, `flow_token`
 * - `GET  /api/v1/recovery/:id`
 * - `POST /api/v1/recovery/:id/identify` `{"email"|"enterprise_id", "security_code"}`
 * - `POST /api/v1/recovery/:id/channel` `{"channel"}`, `…/resend` `{"channel"?}`, `…/otp` `{"code"}`
 * - `POST /api/v1/recovery/:id/continue` (forgot both), `…/password` `{"password", "confirm_password"}`
 */
@Controller('api/v1/recovery')
@UseFilters(ProblemFilter)
@Public()
export class RecoveryApiController {
  constructor(
    private readonly web: WebContext,
    private readonly recovery: RecoveryService,
  ) {}

  @Post()
  async start(@Input(RecoveryStartBody) body: RecoveryStartBody, @Res() res: Response): Promise<void> {
    const outcome = await this.recovery.start(body.goal);
    res.status(201).json({ ...this.json(outcome), flow_token: outcome.handle.token });
  }

  @Get(':id')
  @FlowToken()
  async current(@CurrentFlow() handle: FlowHandle, @Res() res: Response): Promise<void> {
    this.reply(res, await this.recovery.current(handle));
  }

  @Post(':id/:action')
  @FlowToken()
  async step(
    @CurrentFlow() handle: FlowHandle,
    @Param('action') action: string,
    @Input(RecoveryStepBody) body: RecoveryStepBody,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const meta = this.web.meta(req);
    const outcome = await flowAction('recovery', action, {
      identify: () => this.recovery.identify(handle, body.details, meta),
      channel: () => this.recovery.chooseChannel(handle, body.channel, meta),
      resend: () => this.recovery.resend(handle, body.channel, meta),
      otp: () => this.recovery.verifyCode(handle, body.code, meta),
      continue: () => this.recovery.continueToPassword(handle),
      password: () => this.recovery.setPassword(handle, { password: body.password, confirmPassword: body.confirm_password }, meta),
    });
    this.reply(res, outcome);
  }

  private reply(res: Response, outcome: RecoveryOutcome): void {
    if (outcome.error?.retryAfterSeconds) res.setHeader('Retry-After', String(outcome.error.retryAfterSeconds));
    res.setHeader('Cache-Control', 'no-store');
    res.status(stepStatus(SURFACES.recoveryApi, outcome.error, outcome.fieldErrors)).json(this.json(outcome));
  }

  private json(outcome: RecoveryOutcome): Json {
    const json: Json = { flow_id: outcome.handle.id, goal: outcome.goal, step: outcome.step };
    if (outcome.step === 'code_sent') json.message = GENERIC_CODE_SENT;
    if (outcome.channels) json.channels = outcome.channels;
    if (outcome.preferred) json.preferred = outcome.preferred;
    if (outcome.channel) json.channel = outcome.channel;
    if (outcome.delivery) json.delivery = outcome.delivery;
    if (outcome.enterpriseId) json.enterprise_id = outcome.enterpriseId;
    if (outcome.fieldErrors) json.field_errors = outcome.fieldErrors;
    if (outcome.error) json.error = stepErrorJson(outcome.error);
    return json;
  }
}
