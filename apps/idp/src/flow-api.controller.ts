import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AccountSessionsService } from '../../../libs/account/src/index.js';
import { EmergencyContactService } from '../../../libs/contacts/src/index.js';
import { DomainError } from '../../../libs/core/src/index.js';
import type { FlowHandle } from '../../../libs/flows/src/index.js';
import { Directory } from '../../../libs/identity/src/index.js';
import type { StepError } from '../../../libs/otp/src/index.js';
import { RememberedDeviceService, SessionService } from '../../../libs/sessions/src/index.js';
import {
  EnrollmentService,
  SignInService,
  type ClientContext,
  type DirectSignInOutcome,
  type EnrollmentOutcome,
  type SignInOutcome,
} from '../../../libs/signin/src/index.js';
import { ProblemFilter } from './problem.filter.js';
import { formFieldErrors, masked } from './views.js';
import { WebContext } from './web-context.js';

type Json = Record<string, unknown>;

function handleOf(id: string, token: string | undefined): FlowHandle {
  if (!token) throw new DomainError('flow_not_found', 'X-Flow-Token header is required.');
  return { id, token };
}

function errorJson(error: StepError | undefined): Json | undefined {
  if (!error) return undefined;
  return { code: error.code, message: error.message, retry_after: error.retryAfterSeconds, attempts_left: error.attemptsLeft };
}

function statusOf(error: StepError | undefined): number {
  if (!error) return 200;
  if (error.code === 'throttled' || error.code === 'otp_cooldown' || error.code === 'otp_rate_limited') return 429;
  if (error.code === 'invalid_credentials') return 401;
  if (error.code === 'invalid_characters') return 400;
  if (error.code === 'locked') return 423;
  if (error.code === 'delivery_failed') return 502;
  return 422;
}

/**
 * The JSON face of the sign-in and enrollment flows, for native apps: the same service
 * calls as the hosted pages. A flow is addressed by its id and the `X-Flow-Token` header
 * (returned when the flow starts); there are no cookies, so no CSRF exposure.
 */
@Controller('api/v1')
@UseFilters(ProblemFilter)
export class FlowApiController {
  constructor(
    private readonly web: WebContext,
    private readonly signin: SignInService,
    private readonly enrollment: EnrollmentService,
    private readonly directory: Directory,
    private readonly sessions: SessionService,
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
  async start(@Body() body: Json, @Req() req: Request, @Res() res: Response): Promise<void> {
    if (body?.user_id !== undefined || body?.password !== undefined) {
      const outcome = await this.signin.signIn(
        { userId: body.user_id, password: body.password, returnTo: body.return_to },
        this.clientOf(req, body),
      );
      // The client learns the new flow's token here, as from a start.
      return this.reply(res, outcome, outcome.handle?.token);
    }
    const outcome = await this.signin.start({ returnTo: body?.return_to });
    res.status(201).json({ ...(await this.signInJson(outcome)), flow_token: outcome.handle.token });
  }

  @Get('signin/:id')
  async current(@Param('id') id: string, @Headers('x-flow-token') token: string | undefined, @Res() res: Response): Promise<void> {
    await this.reply(res, await this.signin.current(handleOf(id, token)));
  }

  @Post('signin/:id/credentials')
  async credentials(
    @Param('id') id: string,
    @Headers('x-flow-token') token: string | undefined,
    @Body() body: Json,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    await this.reply(
      res,
      await this.signin.submitCredentials(
        handleOf(id, token),
        { userId: body?.user_id, password: body?.password },
        this.clientOf(req, body),
      ),
    );
  }

  @Post('signin/:id/channel')
  async channel(
    @Param('id') id: string,
    @Headers('x-flow-token') token: string | undefined,
    @Body() body: Json,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    await this.reply(res, await this.signin.chooseChannel(handleOf(id, token), body?.channel, this.web.meta(req)));
  }

  @Post('signin/:id/resend')
  async resend(
    @Param('id') id: string,
    @Headers('x-flow-token') token: string | undefined,
    @Body() body: Json,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    await this.reply(res, await this.signin.resend(handleOf(id, token), body?.channel, this.web.meta(req)));
  }

  @Post('signin/:id/otp')
  async otp(
    @Param('id') id: string,
    @Headers('x-flow-token') token: string | undefined,
    @Body() body: Json,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    await this.reply(
      res,
      await this.signin.verifyCode(handleOf(id, token), { code: body?.code, remember: body?.remember === true }, this.web.meta(req)),
    );
  }

  @Get('enrollment/:id')
  async enrollmentCurrent(@Param('id') id: string, @Headers('x-flow-token') token: string | undefined, @Res() res: Response) {
    await this.replyEnrollment(res, await this.enrollment.current(handleOf(id, token)));
  }

  @Post('enrollment/:id/:action')
  async enrollmentStep(
    @Param('id') id: string,
    @Param('action') action: string,
    @Headers('x-flow-token') token: string | undefined,
    @Body() body: Json,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    const handle = handleOf(id, token);
    const meta = this.web.meta(req);
    let outcome: EnrollmentOutcome;
    switch (action) {
      case 'confirm':
        outcome = await this.enrollment.confirm(handle);
        break;
      case 'report':
        outcome = await this.enrollment.report(handle, body?.message, meta);
        break;
      case 'credentials':
        outcome = await this.enrollment.chooseCredentials(
          handle,
          {
            enterpriseId: body?.enterprise_id,
            password: body?.password,
            confirmPassword: body?.confirm_password,
            securityCode: body?.security_code,
            confirmSecurityCode: body?.confirm_security_code,
            mobile: body?.mobile,
            locale: body?.locale,
          },
          meta,
        );
        break;
      case 'email-otp':
        outcome = await this.enrollment.verifyEmail(handle, body?.code, meta);
        break;
      case 'mobile-otp':
        outcome = await this.enrollment.verifyMobile(handle, body?.code, meta);
        break;
      case 'skip-mobile':
        outcome = await this.enrollment.skipMobile(handle);
        break;
      case 'resend':
        outcome = await this.enrollment.resend(handle, body?.channel, meta);
        break;
      default:
        throw new DomainError('invalid_request', `Unknown enrollment action "${action.slice(0, 40)}".`);
    }
    await this.replyEnrollment(res, outcome);
  }

  /** Remembered devices of the user whose session token is sent as `Authorization: Session <token>`. */
  @Get('account/devices')
  async listDevices(@Headers('authorization') authorization: string | undefined) {
    const session = await this.requireSession(authorization);
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
  async forgetDevice(
    @Param('id') id: string,
    @Headers('authorization') authorization: string | undefined,
    @Req() req: Request,
  ): Promise<void> {
    const session = await this.requireSession(authorization);
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
  async signOut(@Headers('authorization') authorization: string | undefined, @Req() req: Request): Promise<void> {
    const session = await this.requireSession(authorization);
    // False only when the session ended meanwhile: then it is signed out all the same.
    await this.signedIn.endOwn(session.userId, session.id, 'signed_out', this.web.meta(req));
  }

  private async requireSession(authorization: string | undefined) {
    const token = authorization?.startsWith('Session ') ? authorization.slice(8).trim() : undefined;
    const session = await this.sessions.resolve(token);
    if (!session) throw new DomainError('unauthorized', 'A valid session token is required (Authorization: Session <token>).');
    return session;
  }

  private clientOf(req: Request, body: Json | undefined): ClientContext {
    return { ...this.web.meta(req), deviceToken: typeof body?.device_token === 'string' ? body.device_token : undefined };
  }

  private async reply(res: Response, outcome: SignInOutcome | DirectSignInOutcome, flowToken?: string): Promise<void> {
    res.status(statusOf(outcome.error));
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
    const error = errorJson(outcome.error);
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
    const error = errorJson(outcome.error);
    if (error) json.error = error;
    res.status(outcome.fieldErrors ? 422 : statusOf(outcome.error)).json(json);
  }
}
