import { ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { DomainError } from '#libs/core';
import { UNAVAILABLE_DETAIL, caughtProblem, logUnavailable, sendProblem, sendUnavailable, type ProblemMapping } from '#libs/web';
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

/** The console's names for failures: its DomainError statuses, and page texts for Nest's own HttpExceptions. */
const CONSOLE_PROBLEMS: ProblemMapping = {
  statuses: CONSOLE_ERROR_STATUS,
  httpDetails: { 404: 'There is no such page.', 400: 'The request is not valid.' },
  otherHttp: 'http_error',
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
    const { req, res, problem } = caughtProblem(error, host, CONSOLE_PROBLEMS);
    if (!problem) {
      // The database cannot be reached: 503 with Retry-After (worth trying again shortly), not 500.
      logUnavailable(req, error);
      if (res.headersSent) return void res.destroy();
      sendUnavailable(res, isApiPath(req.path) ? 'api' : 'page', errorPage('Briefly unavailable', [UNAVAILABLE_DETAIL]));
      return;
    }
    const { status, code, detail } = problem;
    const domain = error instanceof DomainError ? error.details : {};
    const fieldErrors =
      domain.fieldErrors && typeof domain.fieldErrors === 'object' ? (domain.fieldErrors as Record<string, string>) : undefined;
    res.setHeader('Cache-Control', 'no-store');
    if (isApiPath(req.path)) {
      const extensions: Record<string, unknown> = {};
      if (fieldErrors) extensions.errors = fieldErrors;
      if (typeof domain.field === 'string') extensions.field = domain.field;
      sendProblem(res, status, code, detail, extensions);
      return;
    }
    if (code === 'unauthenticated') {
      const back = typeof domain.returnTo === 'string' ? domain.returnTo : '/search';
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
