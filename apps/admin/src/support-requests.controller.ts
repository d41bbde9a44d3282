import { Body, Controller, Get, Param, Post, Query, Res, UseFilters } from '@nestjs/common';
import type { Response } from 'express';
import { Directory } from '#libs/identity';
import { CORRECTION_STATUSES, CorrectionRequestService, type CorrectionRequest, type CorrectionStatus } from '#libs/support';
import { AdminWeb } from './admin-web.js';
import { Roles, SignedIn, type SignedInRequest } from './auth/index.js';
import { SupportErrorFilter, SupportTargets, actorOf, formValues, profileInput, refusalOf, valuesOf } from './support-common.js';
import { requestBody, requestsBody, savedBody, type Values } from './support-views.js';
import { noticeOf, sendConsolePage } from './views/layout.js';

type Form = Record<string, unknown>;

export const REQUESTS_PAGE_SIZE = 25;

export function pageOf(value: unknown): number {
  return Math.min(10_000, Math.max(1, Number.parseInt(typeof value === 'string' ? value : '1', 10) || 1));
}

function statusParam(value: unknown): CorrectionStatus {
  return CORRECTION_STATUSES.find((s) => s === value) ?? 'open';
}

/** The page of the correction request queue that `?status=&page=` ask for (the queue page and the API). */
export async function requestQueue(requests: CorrectionRequestService, query: Record<string, unknown>) {
  const status = statusParam(query.status);
  const page = pageOf(query.page);
  const { items, total } = await requests.list({ status, limit: REQUESTS_PAGE_SIZE, offset: (page - 1) * REQUESTS_PAGE_SIZE });
  return { status, page, pageSize: REQUESTS_PAGE_SIZE, items, total };
}

/**
 * The queue of correction requests raised in enrollment: open, resolved, rejected. Resolving
 * applies the corrected data with the rules of "Edit"; rejecting needs a reason.
 */
@Controller('correction-requests')
@Roles('support')
@UseFilters(SupportErrorFilter)
export class SupportRequestsController {
  constructor(
    private readonly web: AdminWeb,
    private readonly requests: CorrectionRequestService,
    private readonly directory: Directory,
    private readonly targets: SupportTargets,
  ) {}

  @Get()
  async queue(@SignedIn() req: SignedInRequest, @Res() res: Response, @Query() query: Record<string, unknown>): Promise<void> {
    const body = requestsBody(await requestQueue(this.requests, query));
    sendConsolePage(res, 200, 'Correction requests', { staff: req.staff, csrf: this.web.csrf(req, res), notice: noticeOf(req) }, body);
  }

  @Get(':id')
  async show(@SignedIn() req: SignedInRequest, @Res() res: Response, @Param('id') id: string): Promise<void> {
    const request = await this.targets.request(req.staff, id);
    await this.render(req, res, request, 200, {});
  }

  @Post(':id/resolve')
  async resolve(@SignedIn() req: SignedInRequest, @Res() res: Response, @Param('id') id: string, @Body() body: Form): Promise<void> {
    const request = await this.targets.request(req.staff, id);
    try {
      const outcome = await this.requests.resolve(actorOf(req.staff), request.id, profileInput(body), body.reason, this.web.meta(req));
      const kind = outcome.request.user ? 'user' : 'legacy_account';
      const subject = outcome.request.user?.id ?? outcome.request.legacyAccount.id;
      const resolved = outcome.status === 'resolved';
      const saved = savedBody({
        kind,
        id: subject,
        applied: outcome.correction.applied,
        pending: outcome.correction.pending,
        heading: resolved
          ? 'The request is resolved and the person was told by email.'
          : 'The email or mobile change waits for a supervisor; the request is resolved when it is approved.',
      });
      const title = resolved ? 'Correction request resolved' : 'Waiting for approval';
      sendConsolePage(res, 200, title, { staff: req.staff, csrf: this.web.csrf(req, res) }, saved);
    } catch (error) {
      const { status, ...refusal } = refusalOf(error, ['forbidden', 'not_found']);
      await this.render(req, res, (await this.requests.get(id)) ?? request, status, { values: formValues(body), ...refusal });
    }
  }

  @Post(':id/reject')
  async reject(@SignedIn() req: SignedInRequest, @Res() res: Response, @Param('id') id: string, @Body() body: Form): Promise<void> {
    const request = await this.targets.request(req.staff, id);
    try {
      await this.requests.reject(actorOf(req.staff), request.id, body.reason, this.web.meta(req));
      res.redirect(303, `/correction-requests?notice=${encodeURIComponent('The request was rejected; the person was told by email.')}`);
    } catch (error) {
      const refusal = refusalOf(error, ['forbidden', 'not_found']);
      await this.render(req, res, request, refusal.status, { rejectErrors: refusal.errors, error: refusal.error });
    }
  }

  private async render(
    req: SignedInRequest,
    res: Response,
    request: CorrectionRequest,
    status: number,
    o: { values?: Values; errors?: Record<string, string> | undefined; rejectErrors?: Record<string, string> | undefined; error?: string },
  ): Promise<void> {
    const user = request.user ? await this.directory.user(request.user.id) : null;
    const current = valuesOf(user ?? request.legacyAccount);
    const csrf = this.web.csrf(req, res);
    const title = `Correction request · ${request.legacyAccount.firstName} ${request.legacyAccount.lastName}`;
    const body = requestBody({ request, current, csrf, values: o.values, error: o.error, errors: o.errors, rejectErrors: o.rejectErrors });
    sendConsolePage(res, status, title, { staff: req.staff, csrf }, body);
  }
}
