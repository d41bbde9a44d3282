import { Body, Controller, Get, HttpCode, Param, Post, Query, UseFilters } from '@nestjs/common';
import {
  AccountActionsService,
  ContactApprovalService,
  CorrectionRequestService,
  ProfileCorrectionService,
  type CorrectionRequest,
  type CorrectionResult,
  type PendingChange,
} from '#libs/support';
import { AdminWeb } from './admin-web.js';
import { CurrentStaff, Roles, SignedIn, type SignedInRequest, type StaffPrincipal } from './auth/index.js';
import { SupportErrorFilter, SupportTargets, actorOf, profileInput } from './support-common.js';
import { pageOf, requestQueue } from './support-requests.controller.js';
import { USER_ACTIONS, userActionOf } from './support-user-actions.js';

type Json = Record<string, unknown>;

export function changeJson(c: PendingChange): Json {
  return {
    id: c.id,
    user_id: c.userId,
    status: c.status,
    changes: c.changes,
    reason: c.reason,
    correction_request_id: c.correctionRequestId,
    requested_by: c.requestedBy,
    requested_at: c.requestedAt,
    decided_by: c.decidedBy,
    decided_at: c.decidedAt,
    decision_reason: c.decisionReason,
  };
}

function correctionJson(r: CorrectionResult): Json {
  return {
    subject: r.subject,
    diff: r.diff,
    applied: r.applied,
    pending_change: r.pending ? changeJson(r.pending) : null,
  };
}

function requestJson(r: CorrectionRequest): Json {
  return {
    id: r.id,
    status: r.status,
    message: r.message,
    created_at: r.createdAt,
    resolved_at: r.resolvedAt,
    resolved_by: r.resolvedBy,
    resolution: r.resolution,
    legacy_account: {
      id: r.legacyAccount.id,
      legacy_user_id: r.legacyAccount.legacyUserId,
      status: r.legacyAccount.status,
      first_name: r.legacyAccount.firstName,
      last_name: r.legacyAccount.lastName,
      email: r.legacyAccount.email,
      mobile: r.legacyAccount.mobile,
    },
    user: r.user ? { id: r.user.id, enterprise_id: r.user.enterpriseId } : null,
    pending_change_id: r.pendingChangeId,
  };
}

/**
 * The support actions as JSON, behind the same authorization as the pages (session cookie,
 * `X-CSRF-Token` on every POST, roles, `assertCanActOn`). Errors are RFC 9457 problem
 * details; bad input answers 422 with `errors` by field.
 *
 * ```
 * POST /api/v1/people/{user|legacy_account}/{id}/profile  { first_name?, last_name?, email?, mobile?, reason }
 * POST /api/v1/people/user/{id}/recovery/unlock           { reason }
 * POST /api/v1/people/user/{id}/devices/revoke            { device: "<id>" | "all", reason }
 * POST /api/v1/people/user/{id}/sessions/end              { reason }
 * POST /api/v1/people/user/{id}/disable | enable          { reason }
 * GET  /api/v1/contact-changes                            (supervisor) pending changes
 * GET  /api/v1/contact-changes/{id}
 * POST /api/v1/contact-changes/{id}/approve               (supervisor)
 * POST /api/v1/contact-changes/{id}/reject                (supervisor) { reason }
 * POST /api/v1/contact-changes/{id}/cancel                (the requester) { reason }
 * GET  /api/v1/correction-requests?status=open|resolved|rejected&page=
 * GET  /api/v1/correction-requests/{id}
 * POST /api/v1/correction-requests/{id}/resolve           { first_name?, last_name?, email?, mobile?, reason }
 * POST /api/v1/correction-requests/{id}/reject            { reason }
 * ```
 */
@Controller('api/v1')
@Roles('support')
@UseFilters(SupportErrorFilter)
export class SupportApiController {
  constructor(
    private readonly web: AdminWeb,
    private readonly targets: SupportTargets,
    private readonly corrections: ProfileCorrectionService,
    private readonly approvals: ContactApprovalService,
    private readonly requests: CorrectionRequestService,
    private readonly actions: AccountActionsService,
  ) {}

  @Post('people/:kind/:id/profile')
  @HttpCode(200)
  async correct(@SignedIn() req: SignedInRequest, @Param('kind') kind: string, @Param('id') id: string, @Body() body: Json): Promise<Json> {
    const target = await this.targets.load(req.staff, kind, id);
    const input = profileInput(body);
    const result =
      target.kind === 'user'
        ? await this.corrections.correctUser(actorOf(req.staff), target.id, input, body?.reason, this.web.meta(req))
        : await this.corrections.correctLegacyAccount(actorOf(req.staff), target.id, input, body?.reason, this.web.meta(req));
    return correctionJson(result);
  }

  /** Unlock, revoke devices, end sessions, disable, enable: the route's last segments say which (USER_ACTIONS). */
  @Post(USER_ACTIONS.map((a) => `people/user/:id/${a.path}`))
  @HttpCode(200)
  async act(@SignedIn() req: SignedInRequest, @Param('id') id: string, @Body() body: Json): Promise<Json> {
    const action = userActionOf(req);
    const target = await this.targets.load(req.staff, 'user', id);
    return (await action.run(this.actions, actorOf(req.staff), target.id, body, this.web.meta(req))).json;
  }

  @Get('contact-changes')
  @Roles('supervisor')
  async pending(@Query('page') page?: unknown): Promise<Json> {
    const p = pageOf(page);
    const { items, total } = await this.approvals.pending({ limit: 50, offset: (p - 1) * 50 });
    return {
      page: p,
      page_size: 50,
      total,
      items: items.map((c) => ({
        ...changeJson(c),
        user: { enterprise_id: c.user.enterpriseId, first_name: c.user.firstName, last_name: c.user.lastName, status: c.user.status },
      })),
    };
  }

  @Get('contact-changes/:id')
  async change(@CurrentStaff() staff: StaffPrincipal, @Param('id') id: string): Promise<Json> {
    return changeJson(await this.targets.change(staff, id));
  }

  @Post('contact-changes/:id/approve')
  @Roles('supervisor')
  @HttpCode(200)
  async approve(@SignedIn() req: SignedInRequest, @Param('id') id: string): Promise<Json> {
    const change = await this.targets.change(req.staff, id);
    return changeJson(await this.approvals.approve(actorOf(req.staff), change.id, this.web.meta(req)));
  }

  @Post('contact-changes/:id/reject')
  @Roles('supervisor')
  @HttpCode(200)
  async reject(@SignedIn() req: SignedInRequest, @Param('id') id: string, @Body() body: Json): Promise<Json> {
    const change = await this.targets.change(req.staff, id);
    return changeJson(await this.approvals.reject(actorOf(req.staff), change.id, body?.reason, this.web.meta(req)));
  }

  @Post('contact-changes/:id/cancel')
  @HttpCode(200)
  async cancel(@SignedIn() req: SignedInRequest, @Param('id') id: string, @Body() body: Json): Promise<Json> {
    const change = await this.targets.change(req.staff, id);
    return changeJson(await this.approvals.cancel(actorOf(req.staff), change.id, body?.reason, this.web.meta(req)));
  }

  @Get('correction-requests')
  async queue(@Query() query: Record<string, unknown>): Promise<Json> {
    const q = await requestQueue(this.requests, query);
    return { status: q.status, page: q.page, page_size: q.pageSize, total: q.total, items: q.items.map(requestJson) };
  }

  @Get('correction-requests/:id')
  async request(@CurrentStaff() staff: StaffPrincipal, @Param('id') id: string): Promise<Json> {
    return requestJson(await this.targets.request(staff, id));
  }

  @Post('correction-requests/:id/resolve')
  @HttpCode(200)
  async resolve(@SignedIn() req: SignedInRequest, @Param('id') id: string, @Body() body: Json): Promise<Json> {
    const request = await this.targets.request(req.staff, id);
    const outcome = await this.requests.resolve(actorOf(req.staff), request.id, profileInput(body), body?.reason, this.web.meta(req));
    return { status: outcome.status, request: requestJson(outcome.request), correction: correctionJson(outcome.correction) };
  }

  @Post('correction-requests/:id/reject')
  @HttpCode(200)
  async rejectRequest(@SignedIn() req: SignedInRequest, @Param('id') id: string, @Body() body: Json): Promise<Json> {
    const request = await this.targets.request(req.staff, id);
    return requestJson(await this.requests.reject(actorOf(req.staff), request.id, body?.reason, this.web.meta(req)));
  }
}
