import { Body, Controller, Get, Header, Inject, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AuditService } from '#libs/audit';
import { Clock } from '#libs/core';
import { AuthorizationDenied, CallbackRejected, GatehouseClient, GatehouseUnavailable } from './gatehouse-client.js';
import { validatePaymentDetails } from './iban.js';
import { PaymentDetailsStore } from './payment-details.js';
import { PortalSessions, type Identity, type PendingAuthorization, type PortalSession } from './portal-sessions.js';
import { PortalWeb } from './portal-web.js';
import { methodsOf, stepUpStatus } from './step-up.js';
import { PORTAL_STYLESHEET, homePage, paymentDetailsPage, problemPage, signedOutPage, welcomePage } from './views.js';

type Form = Record<string, unknown>;
type SignedIn = PortalSession & {
  sub: string;
  claims: NonNullable<PortalSession['claims']>;
  profile: NonNullable<PortalSession['profile']>;
};

/** Local pages a sign-in may return to (never a URL from outside). */
const RETURN_PATHS = new Set(['/', '/payment-details']);

const isSignedIn = (s: PortalSession | null): s is SignedIn => s !== null && s.sub !== null && s.claims !== null && s.profile !== null;

/**
 * The reconciliation portal: a relying app of Gatehouse. Server-rendered pages, no script,
 * CSRF on every form; its session is its own (PostgreSQL), the person's identity comes only
 * from ID tokens and userinfo that openid-client validated after a code exchange.
 */
@Controller()
export class PortalController {
  constructor(
    private readonly sessions: PortalSessions,
    private readonly payments: PaymentDetailsStore,
    private readonly gatehouse: GatehouseClient,
    private readonly web: PortalWeb,
    private readonly clock: Clock,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  @Get('assets/portal.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('Cache-Control', 'public, max-age=3600')
  stylesheet(): string {
    return PORTAL_STYLESHEET;
  }

  @Get()
  async home(@Req() req: Request, @Res() res: Response): Promise<void> {
    const session = await this.sessions.resolve(this.web.session(req));
    res.setHeader('Cache-Control', 'no-store');
    if (!isSignedIn(session)) return void res.type('html').send(welcomePage());
    res.type('html').send(homePage(session.profile, session.claims, this.web.csrf(session.token)));
  }

  /** Starts a sign-in at Gatehouse. */
  @Get('login')
  async login(@Req() req: Request, @Res() res: Response, @Query('return_to') returnTo?: string): Promise<void> {
    const target = typeof returnTo === 'string' && RETURN_PATHS.has(returnTo) ? returnTo : '/';
    // The callback comes back to the registered host name: the session cookie must live there.
    if (this.web.otherHost(req)) return res.redirect(303, `${this.web.origin}/login?return_to=${encodeURIComponent(target)}`);
    const session = await this.sessions.resolve(this.web.session(req));
    if (isSignedIn(session)) return res.redirect(303, target);
    await this.redirectToGatehouse(res, session?.token, 'signin', target);
  }

  @Get('callback')
  async callback(@Req() req: Request, @Res() res: Response): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    const token = this.web.session(req);
    const session = await this.sessions.resolve(token);
    const pending = session ? await this.sessions.takePending(session.token) : null;
    if (!session || !pending) {
      return this.problem(
        res,
        400,
        'No sign-in in progress',
        'This answer from Gatehouse does not belong to a sign-in started here, or it was already used.',
        {
          href: '/login',
          label: 'Sign in with Gatehouse',
        },
      );
    }
    const query = req.originalUrl.slice(req.originalUrl.indexOf('?') >= 0 ? req.originalUrl.indexOf('?') : req.originalUrl.length);
    let identity: Identity;
    try {
      identity = await this.gatehouse.complete(query, pending);
    } catch (error) {
      return await this.failed(req, res, session, pending, error);
    }
    if (pending.purpose === 'signin') return await this.signedIn(req, res, session, pending, identity);
    await this.steppedUp(req, res, session, pending, identity);
  }

  @Get('payment-details')
  async paymentDetails(@Req() req: Request, @Res() res: Response, @Query('saved') saved?: string): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    const session = await this.sessions.resolve(this.web.session(req));
    if (!isSignedIn(session)) return res.redirect(303, '/login?return_to=%2Fpayment-details');
    const status = stepUpStatus(session.claims, this.clock.now());
    if (!status.fresh) return await this.redirectToGatehouse(res, session.token, 'step_up', '/payment-details');
    const [details, draft] = await Promise.all([this.payments.find(session.sub), this.sessions.takeDraft(session.token)]);
    res.type('html').send(
      paymentDetailsPage({
        details,
        status,
        csrf: this.web.csrf(session.token),
        name: this.displayName(session),
        ...(draft ? { form: draft, notice: 'Your changes are not saved yet: check them and select Save.' } : {}),
        ...(!draft && saved === '1' ? { notice: 'Payment details saved.' } : {}),
      }),
    );
  }

  @Post('payment-details')
  async savePaymentDetails(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    const session = await this.sessions.resolve(this.web.session(req));
    if (!isSignedIn(session) || !this.web.formAllowed(req, session.token, body)) return this.expiredForm(res);
    const form = {
      iban: typeof body.iban === 'string' ? body.iban.slice(0, 200) : '',
      account_holder: typeof body.account_holder === 'string' ? body.account_holder.slice(0, 400) : '',
    };
    const status = stepUpStatus(session.claims, this.clock.now());
    // The step-up lapsed while the form was open: verify again, then show the form as it was sent (nothing lost, nothing saved unseen).
    if (!status.fresh) return await this.redirectToGatehouse(res, session.token, 'step_up', '/payment-details', form);
    const checked = validatePaymentDetails(form);
    if (!checked.ok) {
      const details = await this.payments.find(session.sub);
      return void res
        .status(422)
        .type('html')
        .send(
          paymentDetailsPage({
            details,
            status,
            csrf: this.web.csrf(session.token),
            name: this.displayName(session),
            form,
            errors: checked.errors,
          }),
        );
    }
    await this.payments.save(session.sub, checked.value, { ...this.web.meta(req), acr: session.claims.acr, authTime: status.authTime });
    res.redirect(303, '/payment-details?saved=1');
  }

  /** RP-initiated logout: ends the portal session, then asks Gatehouse to end its own. */
  @Post('logout')
  async logout(@Req() req: Request, @Res() res: Response, @Body() body: Form): Promise<void> {
    const session = await this.sessions.resolve(this.web.session(req));
    if (!session) {
      this.web.clearSession(res);
      return res.redirect(303, '/');
    }
    if (!this.web.formAllowed(req, session.token, body)) return this.expiredForm(res);
    await this.sessions.end(session.token);
    this.web.clearSession(res);
    if (session.sub) {
      await this.audit.record({
        type: 'demo_portal.signed_out',
        actor: { type: 'user', id: session.sub },
        subject: { type: 'user', id: session.sub },
        ...this.web.meta(req),
      });
    }
    try {
      res.redirect(303, (await this.gatehouse.endSessionUrl(session.idToken)).href);
    } catch (error) {
      if (!(error instanceof GatehouseUnavailable)) throw error;
      res.status(503).type('html').send(signedOutPage('Gatehouse could not be reached: you may still be signed in there.'));
    }
  }

  @Get('signed-out')
  signedOut(@Res() res: Response): void {
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(signedOutPage());
  }

  private async redirectToGatehouse(
    res: Response,
    token: string | undefined,
    purpose: PendingAuthorization['purpose'],
    returnTo: string,
    draft?: PendingAuthorization['draft'],
  ): Promise<void> {
    let sessionToken = token;
    if (!sessionToken) {
      sessionToken = await this.sessions.start();
      this.web.setSession(res, sessionToken);
    }
    let started: Awaited<ReturnType<GatehouseClient['authorize']>>;
    try {
      started = await this.gatehouse.authorize(purpose, returnTo, draft);
    } catch (error) {
      if (!(error instanceof GatehouseUnavailable)) throw error;
      return this.unavailable(res);
    }
    await this.sessions.setPending(sessionToken, started.pending);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(303, started.url.href);
  }

  private async signedIn(
    req: Request,
    res: Response,
    session: PortalSession,
    pending: PendingAuthorization,
    identity: Identity,
  ): Promise<void> {
    const token = await this.sessions.signIn(session.token, identity);
    this.web.setSession(res, token);
    await this.audit.record({
      type: 'demo_portal.signed_in',
      actor: { type: 'user', id: identity.claims.sub },
      subject: { type: 'user', id: identity.claims.sub },
      ...this.web.meta(req),
      details: { acr: identity.claims.acr ?? null, amr: methodsOf(identity.claims), auth_time: identity.claims.auth_time ?? null },
    });
    res.redirect(303, pending.returnTo);
  }

  /** Never trusts the request: only the new ID token's own acr and auth_time unlock the payment details. */
  private async steppedUp(
    req: Request,
    res: Response,
    session: PortalSession,
    pending: PendingAuthorization,
    identity: Identity,
  ): Promise<void> {
    const sub = identity.claims.sub;
    const audit = (type: string, details: Record<string, unknown>) =>
      this.audit.record({
        type,
        actor: { type: 'user', id: sub },
        subject: { type: 'user', id: session.sub ?? sub },
        ...this.web.meta(req),
        details,
      });
    if (!isSignedIn(session) || session.sub !== sub) {
      // Someone else (or no one) is signed in here now: start over rather than mix two people.
      await this.sessions.end(session.token);
      this.web.clearSession(res);
      await audit('demo_portal.step_up_refused', { reason: 'other_subject' });
      return this.problem(
        res,
        403,
        'Signed out',
        'Gatehouse verified a different person than the one signed in here, so you were signed out of the portal.',
        {
          href: '/login',
          label: 'Sign in with Gatehouse',
        },
      );
    }
    const status = stepUpStatus(identity.claims, this.clock.now());
    const seen = { acr: identity.claims.acr ?? null, amr: methodsOf(identity.claims), auth_time: identity.claims.auth_time ?? null };
    if (!status.fresh) {
      await audit('demo_portal.step_up_refused', { reason: status.reason, ...seen });
      return this.problem(
        res,
        403,
        'Payment details stay locked',
        'Gatehouse did not confirm a password and a one-time code from the last 10 minutes, which payment details need.',
        { href: '/payment-details', label: 'Verify again' },
        session,
      );
    }
    await this.sessions.stepUp(session.token, identity, pending.draft);
    await audit('demo_portal.step_up_completed', seen);
    res.redirect(303, pending.returnTo);
  }

  private async failed(req: Request, res: Response, session: PortalSession, pending: PendingAuthorization, error: unknown): Promise<void> {
    if (error instanceof GatehouseUnavailable) return this.unavailable(res);
    const stepUp = pending.purpose === 'step_up';
    const signedIn = isSignedIn(session) ? session : undefined;
    const back = stepUp ? { href: '/payment-details', label: 'Verify again' } : { href: '/login', label: 'Sign in with Gatehouse' };
    let code = 'invalid_response';
    let status = 400;
    let title = stepUp ? 'Payment details stay locked' : 'Sign-in not accepted';
    let message = 'The answer from Gatehouse failed the portal’s checks, so it was not used. Please try again.';
    if (error instanceof AuthorizationDenied) {
      code = /^[a-z_]{1,64}$/u.test(error.error) ? error.error : 'unknown_error';
      status = 403;
      if (code === 'access_denied') {
        title = stepUp ? 'Verification cancelled' : 'Sign-in cancelled';
        message = stepUp
          ? 'The extra verification at Gatehouse was cancelled, so the payment details stay locked.'
          : 'The sign-in at Gatehouse was cancelled, so you are not signed in to the portal.';
      } else if (code === 'unmet_authentication_requirements') {
        title = stepUp ? 'Verification not completed' : 'Sign-in not completed';
        message = stepUp
          ? 'Gatehouse could not confirm the level of verification that payment details need (a password and a one-time code), so they stay locked.'
          : 'Gatehouse could not verify you at the level this sign-in asked for, so you are not signed in to the portal.';
      } else {
        title = stepUp ? 'Verification not completed' : 'Sign-in not completed';
        message = `Gatehouse did not complete the ${stepUp ? 'verification' : 'sign-in'} (error: ${code}).`;
      }
    } else if (!(error instanceof CallbackRejected)) {
      throw error;
    }
    await this.audit.record({
      type: 'demo_portal.authorization_failed',
      actor: session.sub ? { type: 'user', id: session.sub } : { type: 'anonymous' },
      ...this.web.meta(req),
      details: { purpose: pending.purpose, error: code },
    });
    this.problem(res, status, title, message, back, signedIn);
  }

  private problem(
    res: Response,
    status: number,
    title: string,
    message: string,
    link: { href: string; label: string },
    signedIn?: SignedIn,
  ): void {
    res
      .status(status)
      .type('html')
      .send(
        problemPage(title, message, link, signedIn ? { name: this.displayName(signedIn), csrf: this.web.csrf(signedIn.token) } : undefined),
      );
  }

  private unavailable(res: Response): void {
    this.problem(res, 503, 'Gatehouse is not reachable', 'The portal cannot reach Gatehouse right now. Please try again in a moment.', {
      href: '/',
      label: 'Back to the portal',
    });
  }

  private expiredForm(res: Response): void {
    this.problem(res, 403, 'Please try again', 'This form has expired or was not sent from this portal.', {
      href: '/',
      label: 'Back to the portal',
    });
  }

  private displayName(session: SignedIn): string {
    return session.profile.name ?? session.profile.enterpriseId ?? session.sub;
  }
}
