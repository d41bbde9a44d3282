import { Controller, Get, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { createHmac, timingSafeEqual } from 'node:crypto';
import Provider, { errors, type InteractionResults } from 'oidc-provider';
import { AuditService } from '#libs/audit';
import { SECRETS, type Secrets } from '#libs/config';
import { EmergencyContactService } from '#libs/contacts';
import { Clock } from '#libs/core';
import { OIDC_PROVIDER, decide, parseAuthRequest, type FreshLogin } from '#libs/oidc';
import { OIDC_SCOPES, USER_API_SCOPES } from '#libs/oidc-store';
import { SessionService, type Session } from '#libs/sessions';
import { InteractionForm, Public } from './auth/index.js';
import { afterContactsCheck } from './contacts.controller.js';
import { cancelPage, continuePage } from './oidc-views.js';
import { errorPage } from './views.js';
import { WebContext } from './web-context.js';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

interface LoginMarker {
  /** When the sign-in was asked for (Gatehouse clock, ms). */
  t: number;
  /** Whether it had to verify an OTP. */
  o: boolean;
  /** Which session the browser held then (keyed hash), so only a new one counts. */
  p: string;
}

/**
 * oidc-provider's `interactions.url`: decides from the Gatehouse session whether the
 * authorization request can be answered (then logs the user in to the provider and grants
 * the requested scopes: first-party SSO, no consent screen), or which sign-in to run first.
 *
 * A sign-in started here returns to `/interaction/<uid>?login=<marker>`. The marker, signed
 * with the cookie key, records when it was asked, whether an OTP was required and which
 * session the browser held, so only a session authenticated in answer to this interaction
 * satisfies `prompt=login`, `max_age` and a step-up.
 */
@Controller('interaction')
export class InteractionController {
  constructor(
    @Inject(OIDC_PROVIDER) private readonly provider: Provider,
    private readonly web: WebContext,
    private readonly sessions: SessionService,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    @Inject(SECRETS) private readonly secrets: Secrets,
    private readonly contacts: EmergencyContactService,
  ) {}

  @Get(':uid')
  @Public()
  async show(@Req() req: Request, @Res() res: Response, @Param('uid') uid: string, @Query('login') login?: string): Promise<void> {
    const interaction = await this.details(req, res, uid);
    if (!interaction) return;
    const request = parseAuthRequest(interaction.params);
    const session = await this.sessions.resolve(this.web.cookies.get(req, 'session'));
    const fresh = this.freshLogin(uid, login, session);
    const decision = decide(request, session, this.clock.now(), fresh);
    res.setHeader('Cache-Control', 'no-store');

    if (decision.action === 'login' && decision.reason === 'acr' && session) {
      // Signed in, but short of loa:2 (e.g. a remembered device), with no prompt=login or max_age to answer: only a fresh
      // OTP is missing (CONTRACT). The session's step-up adds it; back here, the session meets loa:2 and the answer goes on.
      const back = `/interaction/${uid}?after=step_up`;
      return res.redirect(303, `/account/step-up?return_to=${encodeURIComponent(back)}`);
    }
    if (decision.action === 'login') {
      const marker = this.marker(uid, { t: this.clock.now().getTime(), o: decision.requireOtp, p: this.sessionKey(session) });
      const returnTo = `/interaction/${uid}?login=${marker}`;
      return res.redirect(303, `/signin?return_to=${encodeURIComponent(returnTo)}${decision.requireOtp ? '&step_up=1' : ''}`);
    }
    if (decision.action === 'fail') {
      return await this.finish(req, res, interaction, { error: decision.error, error_description: decision.description }, fresh !== null);
    }
    const user = session!;
    // Required emergency contacts unverified, and not postponed in this session: the interstitial first. It comes back
    // here after a form post (`after=contacts`), so the answer goes on by a fresh navigation, as after the sign-in form.
    const afterContacts = req.query.after === 'contacts';
    const back = `/interaction/${uid}?${new URLSearchParams({ ...(login ? { login } : {}), after: 'contacts' }).toString()}`;
    const next = await afterContactsCheck(this.contacts, user.userId, user.id, back);
    if (next !== back) return res.redirect(303, next);
    const grantId = await this.grant(interaction, user.userId);
    await this.audit.record({
      type: 'oidc.authorized',
      actor: { type: 'user', id: user.userId },
      subject: { type: 'user', id: user.userId },
      ...this.web.meta(req),
      details: { client_id: interaction.params.client_id, session_id: user.id, acr: decision.acr, amr: decision.amr },
    });
    await this.finish(
      req,
      res,
      interaction,
      {
        // The provider's session cookie lives as long as the browser session, like Gatehouse's.
        login: {
          accountId: user.userId,
          acr: decision.acr,
          amr: decision.amr,
          ts: Math.floor(decision.authTime.getTime() / 1000),
          remember: false,
        },
        consent: { grantId },
      },
      fresh !== null || afterContacts || req.query.after === 'step_up',
    );
  }

  @Get(':uid/abort')
  @Public()
  async confirmAbort(@Req() req: Request, @Res() res: Response, @Param('uid') uid: string): Promise<void> {
    const interaction = await this.details(req, res, uid);
    if (!interaction) return;
    res.setHeader('Cache-Control', 'no-store');
    res
      .type('html')
      .send(cancelPage(await this.clientName(interaction), `/interaction/${uid}/abort`, this.web.cookies.csrf(`interaction:${uid}`)));
  }

  /** Cancels the sign-in (the guard checked the form's CSRF token, bound to this uid, and its origin). */
  @Post(':uid/abort')
  @InteractionForm()
  async abort(@Req() req: Request, @Res() res: Response, @Param('uid') uid: string): Promise<void> {
    const interaction = await this.details(req, res, uid);
    if (!interaction) return;
    await this.finish(req, res, interaction, { error: 'access_denied', error_description: 'the end-user cancelled the sign-in' }, true);
  }

  /** The interaction this browser is in (its cookie), or an error page when it expired or is another one. */
  private async details(req: Request, res: Response, uid: string): Promise<Interaction | undefined> {
    try {
      const interaction = await this.provider.interactionDetails(req, res);
      if (interaction.uid === uid) return interaction;
    } catch (error) {
      if (!(error instanceof errors.SessionNotFound)) throw error;
    }
    res
      .status(400)
      .setHeader('Cache-Control', 'no-store')
      .type('html')
      .send(
        errorPage(
          'Sign-in request expired',
          'This sign-in request has expired or was already completed. Go back to the application and start again.',
        ),
      );
    return undefined;
  }

  /**
   * Hands the result to the provider. Straight after a form post (sign-in, cancel), the
   * browser goes on by a fresh navigation rather than a redirect chain ending at the
   * client, which the form page's CSP `form-action 'self'` would block.
   */
  private async finish(
    req: Request,
    res: Response,
    interaction: Interaction,
    result: InteractionResults,
    afterForm: boolean,
  ): Promise<void> {
    if (!afterForm) return await this.provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    const target = await this.provider.interactionResult(req, res, result, { mergeWithLastSubmission: false });
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Refresh', `0;url=${target}`);
    res
      .status(200)
      .type('html')
      .send(continuePage(target, await this.clientName(interaction), 'login' in result));
  }

  /** First-party SSO: the requested OpenID scopes and claims are granted without a consent screen. */
  private async grant(interaction: Interaction, accountId: string): Promise<string> {
    const clientId = String(interaction.params.client_id);
    const existing = interaction.grantId ? await this.provider.Grant.find(interaction.grantId) : undefined;
    const grant =
      existing && existing.accountId === accountId && existing.clientId === clientId
        ? existing
        : new this.provider.Grant({ accountId, clientId });
    const scopes = (typeof interaction.params.scope === 'string' ? interaction.params.scope : '')
      .split(' ')
      .filter((s) => ([...OIDC_SCOPES, ...USER_API_SCOPES] as readonly string[]).includes(s));
    if (scopes.length) grant.addOIDCScope(scopes.join(' '));
    const claims = requestedClaims(interaction.params.claims);
    if (claims.length) grant.addOIDCClaims(claims);
    return await grant.save();
  }

  private async clientName(interaction: Interaction): Promise<string | undefined> {
    const client = await this.provider.Client.find(String(interaction.params.client_id));
    return client?.clientName;
  }

  private sign(value: string): string {
    return createHmac('sha256', this.secrets.cookie).update(`gatehouse:oidc-login\n${value}`).digest('base64url');
  }

  private sessionKey(session: Session | null): string {
    return session ? this.sign(`session\n${session.id}`).slice(0, 16) : '-';
  }

  private marker(uid: string, m: LoginMarker): string {
    const body = Buffer.from(JSON.stringify(m)).toString('base64url');
    return `${body}.${this.sign(`${uid}\n${body}`)}`;
  }

  /** A valid marker for this interaction, and a session newer than it, that the browser did not hold before. */
  private freshLogin(uid: string, marker: string | undefined, session: Session | null): FreshLogin | null {
    if (!marker || !session || marker.length > 500) return null;
    const [body, signature] = marker.split('.');
    if (!body || !signature) return null;
    const expected = Buffer.from(this.sign(`${uid}\n${body}`));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
    let m: LoginMarker;
    try {
      m = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as LoginMarker;
    } catch {
      return null;
    }
    if (typeof m.t !== 'number' || session.authTime.getTime() < m.t || this.sessionKey(session) === m.p) return null;
    return { otpRequired: m.o === true };
  }
}

/** Claim names asked in the `claims` parameter (userinfo and id_token members). */
function requestedClaims(raw: unknown): string[] {
  if (typeof raw !== 'string') return [];
  try {
    const parsed = JSON.parse(raw) as { userinfo?: Record<string, unknown>; id_token?: Record<string, unknown> };
    return [...new Set([...Object.keys(parsed.userinfo ?? {}), ...Object.keys(parsed.id_token ?? {})])];
  } catch {
    return [];
  }
}
