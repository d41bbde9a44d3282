import { Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SessionBridge } from '#libs/oidc';
import { SessionService, type Session } from '#libs/sessions';
import { WebContext } from './web-context.js';

/**
 * The provider sees Gatehouse's session through the same cookie and service as the
 * account pages. The provider's requests pass through Express first (cookie-parser), so
 * the raw request carries the parsed cookies.
 */
@Injectable()
export class GatehouseSessionBridge extends SessionBridge {
  constructor(
    private readonly web: WebContext,
    private readonly sessions: SessionService,
  ) {
    super();
  }

  async current(req: IncomingMessage): Promise<Session | null> {
    return await this.sessions.resolve(this.web.cookies.get(req as Request, 'session'));
  }

  async endCurrent(req: IncomingMessage, res: ServerResponse, reason: string): Promise<void> {
    const session = await this.current(req);
    if (session) await this.sessions.end(session.id, reason, this.web.meta(req as Request));
    this.web.cookies.clear(res as Response, 'session');
  }
}
