import { Body, Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError } from '#libs/core';
import { OutboxService } from '#libs/notifications';
import { StaffService, type StaffRecord } from '#libs/staff';
import { AdminWeb } from '../admin-web.js';
import { Roles, SignedIn, type SignedInRequest } from '../auth/index.js';
import { noticeOf, sendConsolePage } from '../views/layout.js';
import { staffBody } from './staff.views.js';

type Form = Record<string, unknown>;

/** How long a request waits for the setup email to be handed to the mail server before answering. */
const SETUP_MAIL_WAIT_MS = 8000;

const NOTICES: Record<string, string> = {
  created: 'The staff member was created and a setup code was emailed.',
  created_pending: 'The staff member was created; the setup email is still being sent.',
  disabled: 'The staff member was disabled and signed out everywhere.',
  enabled: 'The staff member was enabled.',
  setup_code: 'A new setup code was emailed; the previous one no longer works.',
};

/** Staff management: supervisors only, never on their own account. */
@Controller('staff')
@Roles('supervisor')
export class StaffPagesController {
  constructor(
    private readonly web: AdminWeb,
    private readonly staff: StaffService,
    private readonly outbox: OutboxService,
  ) {}

  @Get()
  async list(@SignedIn() req: SignedInRequest, @Res() res: Response): Promise<void> {
    await this.render(req, res, 200, { notice: noticeOf(req, NOTICES) });
  }

  @Post()
  async create(@SignedIn() req: SignedInRequest, @Res() res: Response, @Body() body: Form): Promise<void> {
    try {
      const created = await this.staff.create(
        { email: body.email, name: body.name, role: body.role },
        { type: 'staff', principal: req.staff },
        this.web.meta(req),
      );
      const delivery = await this.outbox.deliverNow(created.messageId, SETUP_MAIL_WAIT_MS);
      res.redirect(303, `/staff?notice=${delivery === 'sent' ? 'created' : 'created_pending'}`);
    } catch (error) {
      if (!(error instanceof DomainError) || (error.code !== 'invalid_input' && error.code !== 'staff_exists')) throw error;
      const values = { email: str(body.email), name: str(body.name), role: str(body.role) };
      const fieldErrors = (error.details.fieldErrors as Record<string, string> | undefined) ?? { email: error.message };
      await this.render(req, res, error.code === 'staff_exists' ? 409 : 422, { error: error.message, fieldErrors, values });
    }
  }

  @Post(':id/disable')
  async disable(@SignedIn() req: SignedInRequest, @Res() res: Response, @Param('id') id: string): Promise<void> {
    await this.staff.setEnabled(id, false, { type: 'staff', principal: req.staff }, this.web.meta(req));
    res.redirect(303, '/staff?notice=disabled');
  }

  @Post(':id/enable')
  async enable(@SignedIn() req: SignedInRequest, @Res() res: Response, @Param('id') id: string): Promise<void> {
    await this.staff.setEnabled(id, true, { type: 'staff', principal: req.staff }, this.web.meta(req));
    res.redirect(303, '/staff?notice=enabled');
  }

  @Post(':id/setup-code')
  async setupCode(@SignedIn() req: SignedInRequest, @Res() res: Response, @Param('id') id: string): Promise<void> {
    const issued = await this.staff.reissueSetupCode(id, { type: 'staff', principal: req.staff }, this.web.meta(req));
    await this.outbox.deliverNow(issued.messageId, SETUP_MAIL_WAIT_MS);
    res.redirect(303, '/staff?notice=setup_code');
  }

  private async render(
    req: SignedInRequest,
    res: Response,
    status: number,
    o: {
      notice?: string | undefined;
      error?: string;
      fieldErrors?: Record<string, string>;
      values?: { email?: string; name?: string; role?: string };
    },
  ): Promise<void> {
    const csrf = this.web.csrf(req, res);
    const staff = await this.staff.list();
    const body = staffBody({ me: req.staff, staff, csrf, error: o.error, fieldErrors: o.fieldErrors, values: o.values ?? {} });
    sendConsolePage(res, status, 'Staff', { staff: req.staff, csrf, notice: o.notice }, body);
  }
}

/** JSON staff management: the same rules. */
@Controller('api/v1/staff')
@Roles('supervisor')
export class StaffApiController {
  constructor(
    private readonly web: AdminWeb,
    private readonly staff: StaffService,
    private readonly outbox: OutboxService,
  ) {}

  @Get()
  async list(): Promise<Record<string, unknown>> {
    return { items: (await this.staff.list()).map(staffJson) };
  }

  @Post()
  @HttpCode(201)
  async create(@SignedIn() req: SignedInRequest, @Body() body: Form): Promise<Record<string, unknown>> {
    const created = await this.staff.create(
      { email: body?.email, name: body?.name, role: body?.role },
      { type: 'staff', principal: req.staff },
      this.web.meta(req),
    );
    const delivery = await this.outbox.deliverNow(created.messageId, SETUP_MAIL_WAIT_MS);
    return { ...staffJson(created.staff), setup_email: delivery };
  }

  @Post(':id/disable')
  @HttpCode(200)
  async disable(@SignedIn() req: SignedInRequest, @Param('id') id: string): Promise<Record<string, unknown>> {
    return staffJson(await this.staff.setEnabled(id, false, { type: 'staff', principal: req.staff }, this.web.meta(req)));
  }

  @Post(':id/enable')
  @HttpCode(200)
  async enable(@SignedIn() req: SignedInRequest, @Param('id') id: string): Promise<Record<string, unknown>> {
    return staffJson(await this.staff.setEnabled(id, true, { type: 'staff', principal: req.staff }, this.web.meta(req)));
  }

  @Post(':id/setup-code')
  @HttpCode(200)
  async setupCode(@SignedIn() req: SignedInRequest, @Param('id') id: string): Promise<Record<string, unknown>> {
    const issued = await this.staff.reissueSetupCode(id, { type: 'staff', principal: req.staff }, this.web.meta(req));
    const delivery = await this.outbox.deliverNow(issued.messageId, SETUP_MAIL_WAIT_MS);
    return { ...staffJson(issued.staff), setup_email: delivery };
  }
}

function staffJson(s: StaffRecord): Record<string, unknown> {
  return {
    id: s.id,
    email: s.email,
    name: s.name,
    role: s.role,
    status: s.status,
    email_verified_at: s.emailVerifiedAt,
    setup_expires_at: s.setupExpiresAt,
    created_at: s.createdAt,
  };
}

const str = (v: unknown): string => (typeof v === 'string' ? v.slice(0, 254) : '');
