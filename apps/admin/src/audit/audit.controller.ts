import { Controller, Get, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { AuditQuery, type AuditEntry, type AuditPage } from '#libs/audit';
import { DomainError } from '#libs/core';
import { AdminWeb } from '../admin-web.js';
import { Roles, SignedIn, type SignedInRequest } from '../auth/index.js';
import { sendConsolePage } from '../views/layout.js';
import { readFilters, toAuditSearch } from './audit-filters.js';
import { auditBody } from './audit.views.js';

const PAGE_SIZE = 50;

/** The audit log viewer: filter by subject, actor, event type and time, newest first, paged. Read-only. */
@Controller('audit')
@Roles('support')
export class AuditPagesController {
  constructor(
    private readonly web: AdminWeb,
    private readonly audit: AuditQuery,
  ) {}

  @Get()
  async view(@SignedIn() req: SignedInRequest, @Res() res: Response, @Query() query: Record<string, unknown>): Promise<void> {
    const filters = readFilters(query);
    let page: AuditPage | null = null;
    let error: string | undefined;
    let fieldErrors: Record<string, string> | undefined;
    try {
      page = await this.audit.search(toAuditSearch(filters, PAGE_SIZE));
    } catch (e) {
      if (!(e instanceof DomainError) || e.code !== 'invalid_audit_search') throw e;
      error = e.message;
      const name = (typeof e.details.field === 'string' ? e.details.field : '').split('.')[0] ?? '';
      const form = name === 'eventType' ? 'type' : name === 'subjectId' ? 'subject' : name;
      if (['subject', 'actor', 'type', 'from', 'to'].includes(form)) fieldErrors = { [form]: e.message };
    }
    const body = auditBody({ filters, page, error, ...(fieldErrors ? { fieldErrors } : {}) });
    sendConsolePage(res, error ? 400 : 200, 'Audit log', { staff: req.staff, csrf: this.web.csrf(req, res) }, body);
  }
}

/**
 * JSON: `GET /api/v1/audit?subject=&actor=&type=&from=&to=&cursor=&limit=` (the page's
 * filters) -> `{ entries, next_cursor }`.
 */
@Controller('api/v1/audit')
@Roles('support')
export class AuditApiController {
  constructor(private readonly audit: AuditQuery) {}

  @Get()
  async search(@Query() query: Record<string, unknown>): Promise<Record<string, unknown>> {
    const limit = typeof query.limit === 'string' ? Number.parseInt(query.limit, 10) : undefined;
    const page = await this.audit.search(toAuditSearch(readFilters(query), limit === undefined || Number.isNaN(limit) ? PAGE_SIZE : limit));
    return { entries: page.entries.map(entryJson), next_cursor: page.nextCursor };
  }
}

function entryJson(e: AuditEntry): Record<string, unknown> {
  return {
    id: e.id,
    seq: e.seq,
    occurred_at: e.occurredAt,
    type: e.type,
    actor: e.actor,
    subject: e.subject,
    organization_id: e.organizationId,
    ip: e.ip,
    user_agent: e.userAgent,
    request_id: e.requestId,
    details: e.details,
  };
}
