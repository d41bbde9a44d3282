import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError } from '#libs/core';
import { PeopleDirectory, type PersonDetails, type PersonSummary, type SearchPage } from '#libs/people';
import { AdminWeb } from '../admin-web.js';
import { Roles, SignedIn, type SignedInRequest } from '../auth/index.js';
import type { SafeHtml } from '#libs/web';
import { noticeOf, sendConsolePage } from '../views/layout.js';
import { identifierOf, personBody, searchBody } from './person.views.js';
import { PersonSections } from './sections.js';

/** Search and the person page (read-only parts; support actions add their sections). */
@Controller()
@Roles('support')
export class PeoplePagesController {
  constructor(
    private readonly web: AdminWeb,
    private readonly people: PeopleDirectory,
    private readonly sections: PersonSections,
  ) {}

  @Get('search')
  async search(@SignedIn() req: SignedInRequest, @Res() res: Response, @Query() query: Record<string, unknown>): Promise<void> {
    let result: SearchPage | null = null;
    let error: string | undefined;
    let status = 200;
    try {
      result = query.q === undefined ? null : await this.people.search(query.q, query.page);
    } catch (e) {
      if (!(e instanceof DomainError) || e.code !== 'invalid_input') throw e;
      error = e.message;
      status = 422;
    }
    sendConsolePage(res, status, 'Search', { staff: req.staff, csrf: this.web.csrf(req, res) }, searchBody(result, error));
  }

  @Get('people/:kind/:id')
  async person(
    @SignedIn() req: SignedInRequest,
    @Res() res: Response,
    @Param('kind') kind: string,
    @Param('id') id: string,
  ): Promise<void> {
    if (kind === 'legacy_account') {
      const user = await this.people.userOfLegacyAccount(id);
      if (user) return res.redirect(303, `/people/user/${user}`);
    }
    const person = await this.people.person(kind, id);
    if (!person) throw new DomainError('not_found', 'There is no such person.');
    await this.people.recordView(person, req.staff.id, this.web.meta(req), 'page');
    const csrf = this.web.csrf(req, res);
    const rendered: SafeHtml[] = [];
    for (const section of this.sections.for(person)) rendered.push(await section.render({ person, staff: req.staff, csrf, req }));
    const title = `${identifierOf(person)} · ${person.firstName} ${person.lastName}`;
    sendConsolePage(res, 200, title, { staff: req.staff, csrf, notice: noticeOf(req) }, personBody(person, rendered));
  }
}

/** JSON: the same search and person as the pages. */
@Controller('api/v1')
@Roles('support')
export class PeopleApiController {
  constructor(
    private readonly people: PeopleDirectory,
    private readonly web: AdminWeb,
  ) {}

  @Get('search')
  async search(@Query('q') q?: unknown, @Query('page') page?: unknown): Promise<Record<string, unknown>> {
    const result = await this.people.search(q ?? '', page);
    return {
      query: result.query,
      page: result.page,
      page_size: result.pageSize,
      total: result.total,
      items: result.items.map(summaryJson),
    };
  }

  @Get('people/:kind/:id')
  async person(@SignedIn() req: SignedInRequest, @Param('kind') kind: string, @Param('id') id: string): Promise<Record<string, unknown>> {
    if (kind === 'legacy_account') {
      const user = await this.people.userOfLegacyAccount(id);
      if (user) throw new DomainError('not_found', 'This legacy account has enrolled: see the user.', { userId: user });
    }
    const person = await this.people.person(kind, id);
    if (!person) throw new DomainError('not_found', 'There is no such person.');
    await this.people.recordView(person, req.staff.id, this.web.meta(req), 'api');
    return personJson(person);
  }
}

export function summaryJson(p: PersonSummary): Record<string, unknown> {
  return {
    kind: p.kind,
    id: p.id,
    enterprise_id: p.enterpriseId,
    legacy_user_id: p.legacyUserId,
    first_name: p.firstName,
    last_name: p.lastName,
    status: p.status,
    organization: p.organization,
    email: { address: p.email, verified: p.emailVerified },
    mobile: p.mobile ? { number: p.mobile, verified: p.mobileVerified } : null,
    remembered_devices: p.rememberedDevices,
    recovery_locked: p.recoveryLocked,
    open_correction_requests: p.openCorrectionRequests,
  };
}

function personJson(p: PersonDetails): Record<string, unknown> {
  return {
    ...summaryJson(p),
    legacy_account_id: p.legacyAccountId,
    created_at: p.createdAt,
    email: { address: p.email, verified: p.emailVerified, verified_at: p.emailVerifiedAt },
    mobile: p.mobile ? { number: p.mobile, verified: p.mobileVerified, verified_at: p.mobileVerifiedAt } : null,
    recovery: { locked: p.recoveryLocked, locked_at: p.recoveryLockedAt, failed_attempts: p.recoveryFailedAttempts },
    devices: p.devices.map((d) => ({
      id: d.id,
      name: d.name,
      state: d.state,
      created_at: d.createdAt,
      last_used_at: d.lastUsedAt,
      expires_at: d.expiresAt,
      revoked_at: d.revokedAt,
      revoked_reason: d.revokedReason,
    })),
    sessions: p.sessions.map((s) => ({
      id: s.id,
      created_at: s.createdAt,
      last_seen_at: s.lastSeenAt,
      idle_expires_at: s.idleExpiresAt,
      absolute_expires_at: s.absoluteExpiresAt,
      acr: s.acr,
      ip: s.ip,
      user_agent: s.userAgent,
    })),
    correction_requests: p.correctionRequests.map((c) => ({
      id: c.id,
      status: c.status,
      message: c.message,
      created_at: c.createdAt,
      resolved_at: c.resolvedAt,
      resolved_by: c.resolvedBy,
      resolution: c.resolution,
    })),
  };
}
