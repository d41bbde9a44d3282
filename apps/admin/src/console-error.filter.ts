import { ArgumentsHost, Catch, HttpException, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '#libs/core';
import { isDatabaseUnavailable } from '#libs/database';
import { UNAVAILABLE_DETAIL, sendUnavailable } from '#libs/web';
import { isApiPath } from './auth/staff-auth.guard.js';
import { errorPage } from './views/layout.js';

/** HTTP status of each DomainError code the console may meet; an unlisted code is 400. */
export const CONSOLE_ERROR_STATUS: Readonly<Record<string, number>> = {
  unauthenticated: 401,
  forbidden: 403,
  csrf_failed: 403,
  not_found: 404,
  staff_exists: 409,
  staff_already_set_up: 409,
  change_pending: 409,
  conflict: 409,
  flow_not_found: 404,
  flow_expired: 410,
  flow_changed: 409,
  invalid_input: 422,
  otp_cooldown: 429,
  otp_rate_limited: 429,
  throttled: 429,
};

/**
 * One place that turns failures into answers: problem details (RFC 9457) under `/api/`,
 * pages elsewhere. A page that is not signed in is sent to sign-in (and back afterwards).
 * A database that cannot be reached is 503 with Retry-After (page or problem+json).
 * Unexpected errors are logged (never with request bodies) and answered with a plain 500.
 */
@Catch()
export class ConsoleErrorFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const res = http.getResponse<Response>();
    const req = http.getRequest<Request>();
    let status = 500;
    let code = 'internal_error';
    let detail = 'Something went wrong. Please try again.';
    let fieldErrors: Record<string, string> | undefined;
    if (error instanceof DomainError) {
      code = error.code;
      status = CONSOLE_ERROR_STATUS[code] ?? 400;
      detail = error.message;
      const fields = error.details.fieldErrors;
      if (fields && typeof fields === 'object') fieldErrors = fields as Record<string, string>;
    } else if (error instanceof HttpException) {
      status = error.getStatus();
      code = status === 404 ? 'not_found' : status === 413 ? 'payload_too_large' : status === 400 ? 'invalid_request' : 'http_error';
      detail =
        status === 404
          ? 'There is no such page.'
          : status === 413
            ? 'The request body is too large.'
            : status === 400
              ? 'The request is not valid.'
              : error.message;
    } else if (isDatabaseUnavailable(error)) {
      // The database cannot be reached: 503 with Retry-After (worth trying again shortly), not 500.
      const reason = error instanceof Error ? error.message : String(error);
      (req as Request & { log?: { warn: (o: unknown, m: string) => void } }).log?.warn({ reason }, 'database unavailable: answered 503');
      if (res.headersSent) return void res.destroy();
      sendUnavailable(res, isApiPath(req.path) ? 'api' : 'page', errorPage('Briefly unavailable', [UNAVAILABLE_DETAIL]));
      return;
    } else {
      (req as Request & { log?: { error: (o: unknown, m: string) => void } }).log?.error({ err: error }, 'unhandled error');
    }
    res.setHeader('Cache-Control', 'no-store');
    if (isApiPath(req.path)) {
      const problem: Record<string, unknown> = {
        type: `urn:gatehouse:problem:${code}`,
        title: code.replace(/_/gu, ' '),
        status,
        detail,
        code,
      };
      if (fieldErrors) problem.errors = fieldErrors;
      if (error instanceof DomainError && typeof error.details.field === 'string') problem.field = error.details.field;
      res.status(status).type('application/problem+json').send(JSON.stringify(problem));
      return;
    }
    if (code === 'unauthenticated') {
      const back = error instanceof DomainError && typeof error.details.returnTo === 'string' ? error.details.returnTo : '/search';
      res.redirect(303, `/signin?return_to=${encodeURIComponent(back)}`);
      return;
    }
    const title =
      status === 404
        ? 'Not found'
        : status === 403
          ? 'Not allowed'
          : status === 429
            ? 'Please wait'
            : status >= 500
              ? 'Something went wrong'
              : 'Please check';
    const lines = fieldErrors ? [detail, ...Object.values(fieldErrors)] : [detail];
    res.status(status).type('html').send(errorPage(title, lines));
  }
}
