import { ArgumentsHost, Catch } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Request, Response } from 'express';
import { isDatabaseUnavailable } from '#libs/database';
import { logUnavailable, sendUnavailable } from '#libs/web';
import { PageAnswer } from './auth/page-answer.js';

/**
 * The IdP's global filter: a PageAnswer (a page's redirect to sign-in or a refused form, decided
 * by IdpAuthGuard or a handler) is sent as it is. While the database cannot be reached, pages answer 503 with a page
 * saying so and `/api/` answers problem+json, both with Retry-After. Every other error goes on
 * to Nest's own handling (the JSON API's controllers have the ProblemFilter, which answers
 * the same 503 itself).
 */
@Catch()
export class UnavailableFilter extends BaseExceptionFilter {
  override catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() === 'http' && error instanceof PageAnswer) {
      error.send(host.switchToHttp().getResponse<Response>());
      return;
    }
    if (host.getType() === 'http' && isDatabaseUnavailable(error)) {
      const req = host.switchToHttp().getRequest<Request>();
      const res = host.switchToHttp().getResponse<Response>();
      logUnavailable(req, error);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendUnavailable(res, req.path.startsWith('/api/') ? 'api' : 'page');
      return;
    }
    super.catch(error, host);
  }
}
