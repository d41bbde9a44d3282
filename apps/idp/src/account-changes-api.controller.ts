import { Controller, Delete, Get, Param, Post, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  ContactChangeService,
  CredentialChangeService,
  StepUpService,
  type ChangeOutcome,
  type ContactOutcome,
  type StepUpOutcome,
} from '#libs/account';
import { DomainError } from '#libs/core';
import type { FlowHandle } from '#libs/flows';
import { Directory } from '#libs/identity';
import type { Session } from '#libs/sessions';
import type { StepError } from '#libs/otp';
import { CurrentFlow, CurrentSession, FlowToken, Input, SessionToken } from './auth/index.js';
import { ChannelBody, EmailChangeBody, FlowCodeBody, MobileChangeBody, PasswordChangeBody, SecurityCodeChangeBody } from './bodies.js';
import { flowAction } from './flow-steps.js';
import { ProblemFilter } from './problem.filter.js';
import { SURFACES, stepErrorJson, stepStatus } from './status.js';
import { formFieldErrors, masked } from './views.js';
import { WebContext } from './web-context.js';

type Json = Record<string, unknown>;

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
    const outcome = await flowAction('step-up', action, {
      resend: () => this.stepUp.resend(handle, session, body.channel, meta),
      otp: () => this.stepUp.verify(handle, session, body.code, meta),
    });
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
    const outcome = await flowAction(kind, action, {
      resend: () => this.contacts.resend(kind, handle, session, body.channel, meta),
      otp: () => this.contacts.verify(kind, handle, session, body.code, meta),
    });
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
    this.send(res, outcome.error ? apiStatus(outcome.error) : s.step === 'otp' && created === 201 ? 201 : 200, json, outcome);
  }

  private replyChange(res: Response, outcome: ChangeOutcome): void {
    this.send(res, apiStatus(outcome.error), { status: outcome.status }, outcome);
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
    const ok = outcome.status === 'pending' && created === 201 ? 201 : 200;
    this.send(res, outcome.error ? apiStatus(outcome.error) : ok, json, outcome);
  }

  /** Answers `json` with the outcome's field errors (keyed like the request's fields) and error, not cached. */
  private send(res: Response, status: number, json: Json, outcome: { error?: StepError; fieldErrors?: Record<string, string> }): void {
    const fieldErrors = formFieldErrors(outcome.fieldErrors);
    if (fieldErrors) json.field_errors = fieldErrors;
    const error = stepErrorJson(outcome.error);
    if (error) json.error = error;
    if (outcome.error?.retryAfterSeconds && status === 429) res.setHeader('Retry-After', String(outcome.error.retryAfterSeconds));
    res.setHeader('Cache-Control', 'no-store');
    res.status(status).json(json);
  }
}
