import { Controller, Delete, Get, HttpCode, Param, Post, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AccountSessionsService } from '#libs/account';
import { EmergencyContactService } from '#libs/contacts';
import { DomainError } from '#libs/core';
import type { FlowHandle } from '#libs/flows';
import { Directory } from '#libs/identity';
import { RememberedDeviceService, type Session } from '#libs/sessions';
import {
  EnrollmentService,
  SignInService,
  type ClientContext,
  type DirectSignInOutcome,
  type EnrollmentOutcome,
  type SignInOutcome,
} from '#libs/signin';
import { CurrentFlow, CurrentSession, FlowToken, Input, Public, SessionToken } from './auth/index.js';
import { ChannelBody, EnrollmentStepBody, SignInCodeBody, SignInCredentialsBody, SignInStartBody } from './bodies.js';
import { flowAction } from './flow-steps.js';
import { ProblemFilter } from './problem.filter.js';
import { SURFACES, stepErrorJson, stepStatus } from './status.js';
import { formFieldErrors, masked } from './views.js';
import { WebContext } from './web-context.js';

type Json = Record<string, unknown>;

/**
 * The JSON face of the sign-in and enrollment flows, for native apps: the same service
 * calls as the hosted pages. A flow is addressed by its id and the `X-Flow-Token` header
 * (returned when the flow starts); there are no cookies, so no CSRF exposure.
 */
@Controller('api/v1')
@UseFilters(ProblemFilter)
@Public()
export class FlowApiController {
  constructor(
    private readonly web: WebContext,
    private readonly signin: SignInService,
    private readonly enrollment: EnrollmentService,
    private readonly directory: Directory,
    private readonly devices: RememberedDeviceService,
    private readonly contacts: EmergencyContactService,
    private readonly signedIn: AccountSessionsService,
  ) {}

  /**
   * Starts a sign-in flow (`{return_to?}`, 201 with the flow's id and token), or, with
   * `user_id` and `password` (and `device_token` when the app has one), signs in in one
   * request: answered like the credentials step, with the flow's id and token only when the
   * sign-in goes on (a code to enter or a channel to choose).
   */
  @Post('signin')
  async start(@Input(SignInStartBody) body: SignInStartBody, @Req() req: Request, @Res() res: Response): Promise<void> {
    if (body.user_id !== undefined || body.password !== undefined) {
      const outcome = await this.signin.signIn(
        { userId: body.user_id, password: body.password, returnTo: body.return_to },
        this.clientOf(req, body.device_token),
      );
      // The client learns the new flow's token here, as from a start.
      return this.reply(res, outcome, outcome.handle?.token);
    }
    const outcome = await this.signin.start({ returnTo: body.return_to });
    res.status(201).json({ ...(await this.signInJson(outcome)), flow_token: outcome.handle.token });
  }

  @Get('signin/:id')
  @FlowToken()
  async current(@CurrentFlow() handle: FlowHandle, @Res() res: Response): Promise<void> {
    await this.reply(res, await this.signin.current(handle));
  }

  @Post('signin/:id/credentials')
  @FlowToken()
  async credentials(
    @CurrentFlow() handle: FlowHandle,
    @Input(SignInCredentialsBody) body: SignInCredentialsBody,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    await this.reply(
      res,
      await this.signin.submitCredentials(handle, { userId: body.user_id, password: body.password }, this.clientOf(req, body.device_token)),
    );
  }

  @Post('signin/:id/channel')
  @FlowToken()
  async channel(@CurrentFlow() handle: FlowHandle, @Input(ChannelBody) body: ChannelBody, @Req() req: Request, @Res() res: Response) {
    await this.reply(res, await this.signin.chooseChannel(handle, body.channel, this.web.meta(req)));
  }

  @Post('signin/:id/resend')
  @FlowToken()
  async resend(@CurrentFlow() handle: FlowHandle, @Input(ChannelBody) body: ChannelBody, @Req() req: Request, @Res() res: Response) {
    await this.reply(res, await this.signin.resend(handle, body.channel, this.web.meta(req)));
  }

  @Post('signin/:id/otp')
  @FlowToken()
  async otp(@CurrentFlow() handle: FlowHandle, @Input(SignInCodeBody) body: SignInCodeBody, @Req() req: Request, @Res() res: Response) {
    await this.reply(res, await this.signin.verifyCode(handle, { code: body.code, remember: body.remember }, this.web.meta(req)));
  }

  @Get('enrollment/:id')
  @FlowToken()
  async enrollmentCurrent(@CurrentFlow() handle: FlowHandle, @Res() res: Response) {
    await this.replyEnrollment(res, await this.enrollment.current(handle));
  }

  @Post('enrollment/:id/:action')
  @FlowToken()
  async enrollmentStep(
    @CurrentFlow() handle: FlowHandle,
    @Param('action') action: string,
    @Input(EnrollmentStepBody) body: EnrollmentStepBody,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    const meta = this.web.meta(req);
    const outcome = await flowAction('enrollment', action, {
      confirm: () => this.enrollment.confirm(handle),
      report: () => this.enrollment.report(handle, body.message, meta),
      credentials: () => this.enrollment.chooseCredentials(handle, body.credentials, meta),
      'email-otp': () => this.enrollment.verifyEmail(handle, body.code, meta),
      'mobile-otp': () => this.enrollment.verifyMobile(handle, body.code, meta),
      'skip-mobile': () => this.enrollment.skipMobile(handle),
      resend: () => this.enrollment.resend(handle, body.channel, meta),
    });
    await this.replyEnrollment(res, outcome);
  }

  /** Remembered devices of the user whose session token is sent as `Authorization: Session <token>`. */
  @Get('account/devices')
  @SessionToken()
  async listDevices(@CurrentSession() session: Session) {
    const devices = await this.devices.list(session.userId);
    return {
      devices: devices.map((d) => ({
        id: d.id,
        name: d.name,
        first_used_at: d.createdAt,
        last_used_at: d.lastUsedAt,
        expires_at: d.expiresAt,
      })),
    };
  }

  @Delete('account/devices/:id')
  @HttpCode(204)
  @SessionToken()
  async forgetDevice(@Param('id') id: string, @CurrentSession() session: Session, @Req() req: Request): Promise<void> {
    if (id !== 'all' && !/^[0-9a-f-]{36}$/u.test(id)) throw new DomainError('flow_not_found', 'No such device.');
    await this.devices.revoke(
      session.userId,
      id === 'all' ? 'all' : id,
      { type: 'user', id: session.userId },
      'forgotten by user',
      this.web.meta(req),
    );
  }

  /**
   * Signs out: ends the session whose token is sent as `Authorization: Session <token>` and
   * revokes its OIDC grants, in one transaction (audited as `session.ended`). 204; the token
   * no longer works after it.
   */
  @Delete('session')
  @HttpCode(204)
  @SessionToken()
  async signOut(@CurrentSession() session: Session, @Req() req: Request): Promise<void> {
    // False only when the session ended meanwhile: then it is signed out all the same.
    await this.signedIn.endOwn(session.userId, session.id, 'signed_out', this.web.meta(req));
  }

  private clientOf(req: Request, deviceToken: string | undefined): ClientContext {
    return { ...this.web.meta(req), deviceToken };
  }

  private async reply(res: Response, outcome: SignInOutcome | DirectSignInOutcome, flowToken?: string): Promise<void> {
    res.status(stepStatus(SURFACES.signInApi, outcome.error));
    if (outcome.error?.retryAfterSeconds) res.setHeader('Retry-After', String(outcome.error.retryAfterSeconds));
    const json = await this.signInJson(outcome);
    if (flowToken) json.flow_token = flowToken;
    res.json(json);
  }

  private async signInJson(outcome: SignInOutcome | DirectSignInOutcome): Promise<Json> {
    const s = outcome.state;
    // A one-request sign-in that ends at once (or fails) has no flow.
    const json: Json = outcome.handle ? { flow_id: outcome.handle.id, step: s.step } : { step: s.step };
    if (outcome.enrollment) {
      json.step = 'enrollment';
      json.enrollment = { flow_id: outcome.enrollment.id, flow_token: outcome.enrollment.token };
    }
    if (outcome.signedIn) {
      json.step = 'done';
      json.session_token = outcome.signedIn.sessionToken;
      if (outcome.signedIn.deviceToken) json.device_token = outcome.signedIn.deviceToken;
      await this.addActionRequired(json, outcome.signedIn);
    } else if (s.step === 'choose_channel' || s.step === 'otp') {
      const user = await this.directory.user(s.userId);
      json.channels = s.channels.map((c) => ({
        channel: c,
        destination: masked(c, c === 'email' ? (user?.email ?? '') : (user?.mobile ?? '')),
      }));
      json.preferred = s.preferred;
      if (s.step === 'otp') {
        json.channel = s.channel;
        json.delivery = outcome.delivery;
      }
    }
    const error = stepErrorJson(outcome.error);
    if (error) json.error = error;
    return json;
  }

  /**
   * What the hosted pages ask right after a sign-in, told to the app: the organization requires
   * verified emergency contacts that this user has not verified. The app asks the user, then
   * verifies them or postpones the question (while reminders are left) through the account API.
   */
  private async addActionRequired(json: Json, signedIn: { userId: string; organizationId: string }): Promise<void> {
    const prompt = await this.contacts.promptAfterSignIn(signedIn.userId, signedIn.organizationId);
    if (!prompt.ask) return;
    json.action_required = {
      emergency_contacts: prompt.missing,
      reminders_left: prompt.remindersLeft,
      href: '/api/v1/account/emergency-contacts',
    };
  }

  private async replyEnrollment(res: Response, outcome: EnrollmentOutcome): Promise<void> {
    const s = outcome.state;
    const json: Json = { flow_id: outcome.handle.id, step: s.step };
    if (outcome.prefill)
      json.prefill = { first_name: outcome.prefill.firstName, last_name: outcome.prefill.lastName, email: outcome.prefill.email };
    if (outcome.securityCodeLength) json.security_code_length = outcome.securityCodeLength;
    if (outcome.delivery) json.delivery = outcome.delivery;
    if (outcome.signedIn) {
      json.session_token = outcome.signedIn.sessionToken;
      await this.addActionRequired(json, outcome.signedIn);
    }
    // Keyed like the request's fields (`enterprise_id`), not like the service's (`enterpriseId`).
    if (outcome.fieldErrors) json.field_errors = formFieldErrors(outcome.fieldErrors);
    const error = stepErrorJson(outcome.error);
    if (error) json.error = error;
    res.status(stepStatus(SURFACES.signInApi, outcome.error, outcome.fieldErrors)).json(json);
  }
}
