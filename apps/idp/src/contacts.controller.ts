import { Controller, Delete, Get, Param, Post, Put, Query, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  EmergencyContactService,
  type ContactActor,
  type ContactOutcome,
  type EmergencyContactKind,
  type EmergencyContacts,
} from '#libs/contacts';
import { DomainError } from '#libs/core';
import type { RequestMeta, Session } from '#libs/sessions';
import type { StepError } from '#libs/otp';
import { safeReturnTo } from '#libs/signin';
import { sendProblem } from '#libs/web';
import { CONTACTS_PATH, CONTACT_NOTICES, contactsPage, type ContactsPageInput } from './contacts.views.js';
import { CurrentActor, CurrentSession, Input, SessionOrBearer, SignedIn, sendPage } from './auth/index.js';
import {
  EmergencyCodeBody,
  EmergencyCodeForm,
  EmergencyContactBody,
  EmergencyEmailForm,
  EmergencyPhoneForm,
  EmergencyResendBody,
  RemindLaterForm,
} from './bodies.js';
import { pageStep, type PageStepErrors } from './flow-steps.js';
import { ProblemFilter } from './problem.filter.js';
import { SURFACES, stepStatus } from './status.js';
import { errorPage } from './views.js';
import { WebContext } from './web-context.js';

/** The scope a relying app needs to read and change a user's emergency contacts with the user's access token. */
export const CONTACTS_SCOPE = 'gatehouse.contacts';

type Json = Record<string, unknown>;
/** The fields of a page's form that the page shows again after an error. */
type ContactForm = { return_to?: unknown };

const KINDS: readonly EmergencyContactKind[] = ['email', 'phone'];
const kindOf = (value: unknown): EmergencyContactKind | null => KINDS.find((k) => k === value) ?? null;

/**
 * Where to go after a completed sign-in (or before an OIDC answer): on to `returnTo`, or
 * first to the emergency-contacts page when the organization requires verified contacts
 * that this user lacks and this session has not postponed the question.
 */
export async function afterContactsCheck(
  contacts: EmergencyContactService,
  userId: string,
  sessionId: string | null,
  returnTo: string,
): Promise<string> {
  const prompt = await contacts.prompt(userId, sessionId);
  return prompt.ask ? `${CONTACTS_PATH}?return_to=${encodeURIComponent(returnTo)}` : returnTo;
}

/** HTTP status of a refused or half-done change: cooldowns 429, undelivered 502, conflicts 409, bad input (and wrong codes) 422. */
const statusOf = (error: StepError | undefined): number => stepStatus(SURFACES.contacts, error);

/** A session that ended meanwhile goes to sign-in (and back to the account). */
const STEP_ERRORS: PageStepErrors = { signedOut: '/signin?return_to=%2Faccount', ends: () => false };

/**
 * Hosted pages of the emergency contacts. The same page is the interstitial after sign-in
 * (`?return_to=`): it asks for the required contacts, offers "Remind me later" while the
 * policy allows, and goes on to `return_to` once nothing is asked any more.
 */
@Controller('account/emergency-contacts')
@SignedIn({ home: CONTACTS_PATH, keepReturnTo: true })
export class ContactsPagesController {
  constructor(
    private readonly web: WebContext,
    private readonly contacts: EmergencyContactService,
  ) {}

  @Get()
  async show(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Query('return_to') rawReturnTo?: unknown,
  ): Promise<void> {
    const returnTo = rawReturnTo === undefined ? null : safeReturnTo(rawReturnTo);
    await pageStep(STEP_ERRORS, async () => {
      const prompt = returnTo ? await this.contacts.prompt(session.userId, session.id) : null;
      // Nothing (more) to ask: straight on.
      if (returnTo && prompt && !prompt.ask) return res.redirect(303, returnTo);
      const notice = typeof req.query.notice === 'string' ? CONTACT_NOTICES[req.query.notice] : undefined;
      await this.render(req, res, session, 200, { returnTo, notice });
    });
  }

  @Post('email')
  async email(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(EmergencyEmailForm) body: EmergencyEmailForm,
  ): Promise<void> {
    await this.change(
      req,
      res,
      session,
      body,
      'email',
      { email: typeof body.email === 'string' ? body.email.slice(0, 320) : '' },
      (actor, meta) =>
        body.action === 'remove' ? this.contacts.remove(actor, 'email', meta) : this.contacts.setEmail(actor, body.email, meta),
    );
  }

  @Post('phone')
  async phone(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(EmergencyPhoneForm) body: EmergencyPhoneForm,
  ): Promise<void> {
    const values = {
      phone: typeof body.phone === 'string' ? body.phone.slice(0, 64) : '',
      channel: body.channel === 'voice' ? 'voice' : 'sms',
    } as const;
    await this.change(req, res, session, body, 'phone', values, (actor, meta) =>
      body.action === 'remove' ? this.contacts.remove(actor, 'phone', meta) : this.contacts.setPhone(actor, body.phone, body.channel, meta),
    );
  }

  @Post('verify')
  async verify(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(EmergencyCodeForm) body: EmergencyCodeForm,
  ): Promise<void> {
    const kind = body.kind;
    if (!kind) return sendPage(res, 400, errorPage('Please try again', 'This form is not valid.', CONTACTS_PATH));
    await this.change(req, res, session, body, kind, {}, (actor, meta) =>
      body.action === 'resend' ? this.contacts.resend(actor, kind, body.channel, meta) : this.contacts.verify(actor, kind, body.code, meta),
    );
  }

  @Post('remind-later')
  async remindLater(
    @Req() req: Request,
    @Res() res: Response,
    @CurrentSession() session: Session,
    @Input(RemindLaterForm) body: RemindLaterForm,
  ): Promise<void> {
    const returnTo = safeReturnTo(body.return_to);
    await pageStep(STEP_ERRORS, async () => {
      const outcome = await this.contacts.remindLater({ userId: session.userId, sessionId: session.id }, this.web.meta(req));
      if (outcome.ok) return res.redirect(303, returnTo);
      await this.render(req, res, session, statusOf(outcome.error), { returnTo, error: outcome.error });
    });
  }

  /** One form post that changes a contact (the guard checked session, CSRF and origin): the change, then `after`. */
  private async change(
    req: Request,
    res: Response,
    session: Session,
    body: ContactForm,
    kind: EmergencyContactKind,
    values: ContactsPageInput['values'],
    act: (actor: ContactActor, meta: RequestMeta) => Promise<ContactOutcome>,
  ): Promise<void> {
    await pageStep(STEP_ERRORS, async () => {
      const outcome = await act({ userId: session.userId, sessionId: session.id }, this.web.meta(req));
      await this.after(req, res, session, body, kind, outcome, values);
    });
  }

  /** Success: on to `return_to` when nothing is asked any more, else back to the page with a notice. Failure: the page with the error. */
  private async after(
    req: Request,
    res: Response,
    session: Session,
    body: ContactForm,
    kind: EmergencyContactKind,
    outcome: ContactOutcome,
    values: ContactsPageInput['values'],
  ): Promise<void> {
    const returnTo = body.return_to === undefined || body.return_to === '' ? null : safeReturnTo(body.return_to);
    if (outcome.ok && !outcome.error) {
      if (returnTo && !(await this.contacts.prompt(session.userId, session.id)).ask) return res.redirect(303, returnTo);
      const query = new URLSearchParams({ notice: `${kind}_${outcome.status ?? 'saved'}` });
      if (returnTo) query.set('return_to', returnTo);
      return res.redirect(303, `${CONTACTS_PATH}?${query.toString()}`);
    }
    await this.render(req, res, session, statusOf(outcome.error), {
      returnTo,
      error: outcome.error,
      errorKind: kind,
      field: outcome.field ?? 'general',
      // Saved but not sent (cooldown, cap, delivery): the form need not be typed again.
      values: outcome.ok ? {} : values,
      notice:
        outcome.ok && outcome.status === 'saved'
          ? `Your ${kind === 'email' ? 'emergency email' : 'emergency phone'} was saved.`
          : undefined,
    });
  }

  private async render(
    req: Request,
    res: Response,
    session: Session,
    status: number,
    input: Omit<ContactsPageInput, 'contacts' | 'csrf' | 'prompt'>,
  ): Promise<void> {
    const contacts = await this.contacts.view(session.userId);
    const prompt = input.returnTo ? await this.contacts.prompt(session.userId, session.id) : null;
    if (input.error?.retryAfterSeconds && status === 429) res.setHeader('Retry-After', String(input.error.retryAfterSeconds));
    sendPage(res, status, contactsPage({ ...input, contacts, prompt, csrf: this.web.sessionCsrf(req) }));
  }
}

function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

/** The JSON form of a user's emergency contacts. Never a code: only where one went and until when it is valid. */
export function contactsJson(c: EmergencyContacts): Json {
  const pending = (p: EmergencyContacts['email']['pending']) =>
    p ? { channel: p.channel, expires_at: p.expiresAt.toISOString(), delivery: p.delivery } : null;
  return {
    email: {
      address: c.email.address,
      verified: c.email.verifiedAt !== null,
      verified_at: iso(c.email.verifiedAt),
      pending_code: pending(c.email.pending),
    },
    phone: {
      number: c.phone.number,
      type: c.phone.kind,
      channels: c.phone.channels,
      verified: c.phone.verifiedAt !== null,
      verified_at: iso(c.phone.verifiedAt),
      verified_by: c.phone.verifiedBy,
      pending_code: pending(c.phone.pending),
    },
    policy: {
      require_verified_email: c.policy.requireEmail,
      require_verified_phone: c.policy.requirePhone,
      reminder_limit: c.policy.reminderLimit,
      reminders_used: c.policy.remindersUsed,
      reminders_left: c.policy.remindersLeft,
    },
    action_required: c.missing,
  };
}

/**
 * `/api/v1/account/emergency-contacts`: the same service for native apps and relying apps.
 * Accepted credentials: `Authorization: Session <token>` (a session from the JSON sign-in
 * flow); `Authorization: Bearer <access token>` of a user, with scope `gatehouse.contacts`;
 * or the browser's session cookie, where every change also needs the session's CSRF token
 * in `X-CSRF-Token` and a same-origin request. Errors are RFC 9457 problem details.
 */
@Controller('api/v1/account/emergency-contacts')
@UseFilters(ProblemFilter)
@SessionOrBearer(CONTACTS_SCOPE)
export class ContactsApiController {
  constructor(
    private readonly web: WebContext,
    private readonly contacts: EmergencyContactService,
  ) {}

  @Get()
  async get(@CurrentActor() actor: ContactActor, @Res() res: Response): Promise<void> {
    this.json(res, 200, contactsJson(await this.contacts.view(actor.userId)));
  }

  @Put(':kind')
  async put(
    @Param('kind') rawKind: string,
    @CurrentActor() actor: ContactActor,
    @Input(EmergencyContactBody) body: EmergencyContactBody,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const kind = this.kind(rawKind);
    const value = kind === 'email' ? body.email : body.phone;
    const meta = this.web.meta(req);
    const outcome =
      value === null
        ? await this.contacts.remove(actor, kind, meta)
        : kind === 'email'
          ? await this.contacts.setEmail(actor, value, meta)
          : await this.contacts.setPhone(actor, value, body.channel, meta);
    await this.reply(res, actor, outcome);
  }

  @Delete(':kind')
  async remove(
    @Param('kind') rawKind: string,
    @CurrentActor() actor: ContactActor,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const kind = this.kind(rawKind);
    await this.reply(res, actor, await this.contacts.remove(actor, kind, this.web.meta(req)));
  }

  @Post('verify')
  async verify(
    @CurrentActor() actor: ContactActor,
    @Input(EmergencyCodeBody) body: EmergencyCodeBody,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.reply(res, actor, await this.contacts.verify(actor, body.contact, body.code, this.web.meta(req)));
  }

  @Post('resend')
  async resend(
    @CurrentActor() actor: ContactActor,
    @Input(EmergencyResendBody) body: EmergencyResendBody,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.reply(res, actor, await this.contacts.resend(actor, body.contact, body.channel, this.web.meta(req)));
  }

  @Post('remind-later')
  async remindLater(@CurrentActor() actor: ContactActor, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.reply(res, actor, await this.contacts.remindLater(actor, this.web.meta(req)));
  }

  private kind(value: string): EmergencyContactKind {
    const kind = kindOf(value);
    if (!kind) throw new DomainError('invalid_request', 'The contact must be "email" or "phone".');
    return kind;
  }

  private async reply(res: Response, actor: ContactActor, outcome: ContactOutcome): Promise<void> {
    if (outcome.error) {
      const status = statusOf(outcome.error);
      const extra: Json = {};
      if (outcome.field) extra.field = outcome.field;
      if (outcome.error.attemptsLeft !== undefined) extra.attempts_left = outcome.error.attemptsLeft;
      if (outcome.error.retryAfterSeconds !== undefined) extra.retry_after = outcome.error.retryAfterSeconds;
      // Saved, but the code could not be sent: say both.
      if (outcome.ok) extra.contact_saved = true;
      if (status === 429 && outcome.error.retryAfterSeconds) res.setHeader('Retry-After', String(outcome.error.retryAfterSeconds));
      return sendProblem(res, status, outcome.error.code, outcome.error.message, extra);
    }
    const json: Json = { status: outcome.status };
    if (outcome.delivery) json.delivery = outcome.delivery;
    json.emergency_contacts = contactsJson(await this.contacts.view(actor.userId));
    this.json(res, 200, json);
  }

  private json(res: Response, status: number, body: Json): void {
    res.setHeader('Cache-Control', 'no-store');
    res.status(status).json(body);
  }
}
