import type { IncomingMessage } from 'node:http';
import type { AuditEventInput } from '#libs/audit';

/** What an audit event takes from a request through the provider (Koa's context has it). */
export interface AuditedRequest {
  req: IncomingMessage;
  ip: string;
  get(field: string): string;
}

/** The audit event of a signed-in user's request through the provider: the user acts on their own account. */
export function accountEvent(ctx: AuditedRequest, accountId: string, type: string, details: Record<string, unknown>): AuditEventInput {
  const id = (ctx.req as IncomingMessage & { id?: unknown }).id;
  return {
    type,
    actor: { type: 'user', id: accountId },
    subject: { type: 'user', id: accountId },
    ip: ctx.ip || null,
    userAgent: ctx.get('user-agent') || null,
    requestId: typeof id === 'string' ? id : null,
    details,
  };
}
