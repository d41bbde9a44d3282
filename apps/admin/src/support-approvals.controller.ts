import { Body, Controller, Get, Param, Post, Query, Res, UseFilters } from '@nestjs/common';
import type { Response } from 'express';
import { ContactApprovalService } from '#libs/support';
import { AdminWeb } from './admin-web.js';
import { Roles, SignedIn, type SignedInRequest } from './auth/index.js';
import { SupportErrorFilter, SupportTargets, actorOf, refusalOf } from './support-common.js';
import { approvalsBody, personLink } from './support-views.js';
import { noticeOf, sendConsolePage } from './views/layout.js';

type Form = Record<string, unknown>;

const NOTICES: Record<string, string> = {
  approved: 'The change was approved and took effect. The new contact is unverified until the person confirms it with a code.',
  rejected: 'The change was rejected; nothing changed for the person.',
};

const PAGE_SIZE = 50;

/**
 * Four-eyes: the email and mobile changes of enrolled users waiting for a supervisor.
 * Supervisors approve or reject (never their own request, never about their own account);
 * the staff member who asked may cancel.
 */
@Controller('approvals')
@Roles('supervisor')
@UseFilters(SupportErrorFilter)
export class SupportApprovalsController {
  constructor(
    private readonly web: AdminWeb,
    private readonly approvals: ContactApprovalService,
    private readonly targets: SupportTargets,
  ) {}

  @Get()
  async list(@SignedIn() req: SignedInRequest, @Res() res: Response, @Query('page') page?: unknown): Promise<void> {
    await this.render(req, res, 200, { notice: noticeOf(req, NOTICES), page });
  }

  @Post(':id/approve')
  async approve(@SignedIn() req: SignedInRequest, @Res() res: Response, @Param('id') id: string): Promise<void> {
    try {
      const change = await this.targets.change(req.staff, id);
      await this.approvals.approve(actorOf(req.staff), change.id, this.web.meta(req));
      res.redirect(303, '/approvals?notice=approved');
    } catch (error) {
      await this.refused(req, res, error, id);
    }
  }

  @Post(':id/reject')
  async reject(@SignedIn() req: SignedInRequest, @Res() res: Response, @Param('id') id: string, @Body() body: Form): Promise<void> {
    try {
      const change = await this.targets.change(req.staff, id);
      await this.approvals.reject(actorOf(req.staff), change.id, body.reason, this.web.meta(req));
      res.redirect(303, '/approvals?notice=rejected');
    } catch (error) {
      await this.refused(req, res, error, id);
    }
  }

  /** The requester withdraws their own request (support or supervisor). */
  @Post(':id/cancel')
  @Roles('support')
  async cancel(@SignedIn() req: SignedInRequest, @Res() res: Response, @Param('id') id: string, @Body() body: Form): Promise<void> {
    const change = await this.targets.change(req.staff, id);
    await this.approvals.cancel(actorOf(req.staff), change.id, body.reason, this.web.meta(req));
    res.redirect(303, `${personLink('user', change.userId)}?notice=${encodeURIComponent('The contact change was cancelled.')}`);
  }

  private async refused(req: SignedInRequest, res: Response, error: unknown, id: string): Promise<void> {
    const refusal = refusalOf(error, ['not_found']);
    await this.render(req, res, refusal.status, { error: refusal.error, errorFor: id, errors: refusal.errors });
  }

  private async render(
    req: SignedInRequest,
    res: Response,
    status: number,
    o: { notice?: string | undefined; error?: string; errorFor?: string; errors?: Record<string, string> | undefined; page?: unknown },
  ): Promise<void> {
    const page = Math.max(1, Number.parseInt(typeof o.page === 'string' ? o.page : '1', 10) || 1);
    const { items, total } = await this.approvals.pending({ limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE });
    const csrf = this.web.csrf(req, res);
    const body = approvalsBody({ items, total, me: req.staff.id, csrf, error: o.error, errorFor: o.errorFor, errors: o.errors });
    sendConsolePage(res, status, 'Approvals', { staff: req.staff, csrf, notice: o.notice }, body);
  }
}
