import {
  ArgumentsHost,
  Body,
  Catch,
  Controller,
  Get,
  Headers,
  Param,
  Post,
  Req,
  Res,
  UseFilters,
  type ExceptionFilter,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '../../../libs/core/src/index.js';
import type { FlowHandle } from '../../../libs/flows/src/index.js';
import { GENERIC_CODE_SENT, RecoveryService, type RecoveryGoal, type RecoveryOutcome } from '../../../libs/recovery/src/index.js';
import { ProblemFilter } from './problem.filter.js';
import { WebContext } from './web-context.js';

type Json = Record<string, unknown>;

const GOALS: readonly RecoveryGoal[] = ['enterprise_id', 'password'];

/** Recovery's own problem codes; everything else as the shared ProblemFilter maps it. */
const RECOVERY_STATUS: Record<string, number> = { recovery_blocked: 403, recovery_superseded: 409 };

@Catch()
export class RecoveryProblemFilter implements ExceptionFilter {
  private readonly fallback = new ProblemFilter();

  catch(error: unknown, host: ArgumentsHost): void {
    const status = error instanceof DomainError ? RECOVERY_STATUS[error.code] : undefined;
    if (!status || !(error instanceof DomainError)) return this.fallback.catch(error, host);
    const res = host.switchToHttp().getResponse<Response>();
    res
      .status(status)
      .type('application/problem+json')
      .send(
        JSON.stringify({
          type: `urn:gatehouse:problem:${error.code}`,
          title: error.code.replace(/_/gu, ' '),
          status,
          detail: error.message,
          code: error.code,
        }),
      );
  }
}

function handleOf(id: string, token: string | undefined): FlowHandle {
  if (!token) throw new DomainError('flow_not_found', 'X-Flow-Token header is required.');
  return { id, token };
}

function statusOf(outcome: RecoveryOutcome): number {
  if (outcome.error?.code === 'invalid_characters') return 400;
  if (outcome.fieldErrors) return 422;
  const code = outcome.error?.code;
  if (!code) return 200;
  if (code === 'throttled' || code === 'otp_cooldown' || code === 'otp_rate_limited') return 429;
  if (code === 'delivery_failed') return 502;
  return 422;
}

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
@UseFilters(RecoveryProblemFilter)
export class RecoveryApiController {
  constructor(
    private readonly web: WebContext,
    private readonly recovery: RecoveryService,
  ) {}

  @Post()
  async start(@Body() body: Json, @Res() res: Response): Promise<void> {
    const goal = GOALS.find((g) => g === body?.goal);
    if (!goal) throw new DomainError('invalid_request', 'goal must be "enterprise_id" or "password".');
    const outcome = await this.recovery.start(goal);
    res.status(201).json({ ...this.json(outcome), flow_token: outcome.handle.token });
  }

  @Get(':id')
  async current(@Param('id') id: string, @Headers('x-flow-token') token: string | undefined, @Res() res: Response): Promise<void> {
    this.reply(res, await this.recovery.current(handleOf(id, token)));
  }

  @Post(':id/:action')
  async step(
    @Param('id') id: string,
    @Param('action') action: string,
    @Headers('x-flow-token') token: string | undefined,
    @Body() body: Json,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const handle = handleOf(id, token);
    const meta = this.web.meta(req);
    let outcome: RecoveryOutcome;
    switch (action) {
      case 'identify':
        outcome = await this.recovery.identify(
          handle,
          { email: body?.email, enterpriseId: body?.enterprise_id, securityCode: body?.security_code },
          meta,
        );
        break;
      case 'channel':
        outcome = await this.recovery.chooseChannel(handle, body?.channel, meta);
        break;
      case 'resend':
        outcome = await this.recovery.resend(handle, body?.channel, meta);
        break;
      case 'otp':
        outcome = await this.recovery.verifyCode(handle, body?.code, meta);
        break;
      case 'continue':
        outcome = await this.recovery.continueToPassword(handle);
        break;
      case 'password':
        outcome = await this.recovery.setPassword(handle, { password: body?.password, confirmPassword: body?.confirm_password }, meta);
        break;
      default:
        throw new DomainError('invalid_request', `Unknown recovery action "${action.slice(0, 40)}".`);
    }
    this.reply(res, outcome);
  }

  private reply(res: Response, outcome: RecoveryOutcome): void {
    if (outcome.error?.retryAfterSeconds) res.setHeader('Retry-After', String(outcome.error.retryAfterSeconds));
    res.setHeader('Cache-Control', 'no-store');
    res.status(statusOf(outcome)).json(this.json(outcome));
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
    if (outcome.error) {
      json.error = {
        code: outcome.error.code,
        message: outcome.error.message,
        retry_after: outcome.error.retryAfterSeconds,
        attempts_left: outcome.error.attemptsLeft,
      };
    }
    return json;
  }
}
