import { Controller, Get, Header, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AccountSessionsService, MessageLanguageService } from '#libs/account';
import { EmergencyContactService } from '#libs/contacts';
import { DomainError } from '#libs/core';
import { Directory } from '#libs/identity';
import { RememberedDeviceService, SessionService, type Session } from '#libs/sessions';
import { TransactionCodeService } from '#libs/transaction-codes';
import { STYLESHEET, html } from '#libs/web';
import { CHANGE_NOTICES, accountChangesSection } from './account.views.js';
import { CurrentSession, Input, Public, SignedIn } from './auth/index.js';
import { ForgetDeviceForm, LanguageForm, SessionSignOutForm } from './bodies.js';
import { emergencyContactsSection } from './contacts.views.js';
import { languageSection } from './language.views.js';
import { sessionsSection } from './sessions.views.js';
import { transactionCodesSection } from './transaction-codes.views.js';
import { accountPage, errorPage } from './views.js';
import { WebContext } from './web-context.js';

@Controller()
export class AccountPagesController {
  constructor(
    private readonly web: WebContext,
    private readonly sessions: SessionService,
    private readonly devices: RememberedDeviceService,
    private readonly directory: Directory,
    private readonly transactionCodes: TransactionCodeService,
    private readonly emergencyContacts: EmergencyContactService,
    private readonly language: MessageLanguageService,
    private readonly signedIn: AccountSessionsService,
  ) {}

  @Get('assets/gatehouse.css')
  @Public()
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('Cache-Control', 'public, max-age=3600')
  stylesheet(): string {
    return STYLESHEET;
  }

  @Get()
  @Public()
  root(@Res() res: Response): void {
    res.redirect(302, '/account');
  }

  /** The signed-in user's account page; signed out, it leads to sign-in and back here. */
  @Get('account')
  @SignedIn()
  async account(@Req() req: Request, @Res() res: Response, @CurrentSession() session: Session): Promise<void> {
    const user = await this.directory.user(session.userId);
    if (!user) return res.redirect(303, '/signin?return_to=%2Faccount');
    const devices = await this.devices.list(user.id);
    const currentDevice = await this.devices.currentId(this.web.cookies.get(req, 'device'), user.id);
    const transactionCodes = await this.transactionCodes.openCodesOf(user.id, this.web.meta(req));
    const sessions = await this.signedIn.list(user.id, session.id);
    const csrf = this.web.sessionCsrf(req);
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(
      accountPage(
        {
          enterpriseId: user.enterpriseId,
          firstName: user.firstName,
          lastName: user.lastName,
          email: user.email,
          emailVerified: user.emailVerifiedAt !== null,
          mobile: user.mobile,
          mobileVerified: user.mobileVerifiedAt !== null,
        },
        devices,
        currentDevice,
        csrf,
        typeof req.query.notice === 'string' ? NOTICES[req.query.notice] : undefined,
        html`${sessionsSection(sessions, csrf)}${accountChangesSection(user)}${emergencyContactsSection(await this.emergencyContacts.view(user.id))}${transactionCodesSection(transactionCodes)}${languageSection(await this.language.current(user.id), csrf)}`,
      ),
    );
  }

  @Post('account/devices/forget')
  @SignedIn()
  async forget(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(ForgetDeviceForm) body: ForgetDeviceForm,
  ): Promise<void> {
    const target =
      body.device_id === 'all' ? 'all' : body.device_id !== undefined && /^[0-9a-f-]{36}$/u.test(body.device_id) ? body.device_id : null;
    if (!target)
      return void res
        .status(400)
        .type('html')
        .send(errorPage('Not found', 'That device is not on your account.', '/account'));
    await this.devices.revoke(session.userId, target, { type: 'user', id: session.userId }, 'forgotten by user', this.web.meta(req));
    res.redirect(303, `/account?notice=${target === 'all' ? 'devices_forgotten' : 'device_forgotten'}`);
  }

  /** The language of the user's messages (not of the pages). */
  @Post('account/language')
  @SignedIn()
  async setLanguage(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(LanguageForm) body: LanguageForm,
  ): Promise<void> {
    try {
      await this.language.set(session.userId, body.locale, this.web.meta(req));
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== 'invalid_locale') throw error;
      return void res
        .status(400)
        .type('html')
        .send(errorPage('Language not changed', error.message, '/account'));
    }
    res.redirect(303, '/account?notice=language_changed');
  }

  /**
   * Signs one of the person's own sessions out (and its OIDC grants); this browser's own
   * session too, which then leads to sign-in like "Sign out". Another person's session, or one
   * already ended, is answered as not found, and nothing changes.
   */
  @Post('account/sessions/sign-out')
  @SignedIn()
  async signOutSession(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(SessionSignOutForm) body: SessionSignOutForm,
  ): Promise<void> {
    const target = body.session_id ?? '';
    const current = target === session.id;
    const ended = await this.signedIn.endOwn(session.userId, target, current ? 'signed_out' : 'ended_by_user', this.web.meta(req));
    if (!ended) {
      return void res
        .status(404)
        .type('html')
        .send(errorPage('Not found', 'That session is not signed in on your account (any more).', '/account'));
    }
    if (current) {
      this.web.cookies.clear(res, 'session');
      return res.redirect(303, '/signin?notice=signed_out');
    }
    res.redirect(303, '/account?notice=session_ended');
  }

  /** Signs every session of the person out, this one included, and revokes every OIDC grant they hold. */
  @Post('account/sessions/sign-out-everywhere')
  @SignedIn()
  async signOutEverywhere(@Req() req: Request, @Res() res: Response, @CurrentSession() session: Session): Promise<void> {
    await this.signedIn.endAll(session.userId, this.web.meta(req));
    this.web.cookies.clear(res, 'session');
    res.redirect(303, '/signin?notice=signed_out');
  }

  @Post('signout')
  // Without a session or a valid CSRF token the guard answers: nothing changes.
  @SignedIn()
  async signOut(@Req() req: Request, @Res() res: Response, @CurrentSession() session: Session): Promise<void> {
    await this.sessions.end(session.id, 'signed_out', this.web.meta(req));
    this.web.cookies.clear(res, 'session');
    res.redirect(303, '/signin?notice=signed_out');
  }
}

const NOTICES: Record<string, string> = {
  ...CHANGE_NOTICES,
  device_forgotten: 'The device was forgotten. It will need a one-time code at the next sign-in.',
  devices_forgotten: 'All devices were forgotten. Each will need a one-time code at the next sign-in.',
  language_changed: 'Saved: the codes and notices we send you are now in the language you chose.',
  session_ended: 'The session was signed out, and so were the applications it had signed in to.',
};
