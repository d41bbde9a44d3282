import { ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { DomainError } from '#libs/core';
import { caughtProblem, logUnavailable, sendProblem, sendUnavailable, type ProblemMapping } from '#libs/web';
import { ERROR_STATUS } from './status.js';

/** The JSON API's names for failures: ERROR_STATUS, and Nest's own HttpExceptions. */
const API_PROBLEMS: ProblemMapping = {
  statuses: ERROR_STATUS,
  httpDetails: { 400: 'The request body is not valid JSON.' },
  otherHttp: 'invalid_request',
};

/**
 * RFC 9457 problem details for the JSON API: DomainError codes map to HTTP statuses as
 * ERROR_STATUS says (400 for any other); a database that cannot be reached is 503 with Retry-After.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    const { req, res, problem } = caughtProblem(error, host, API_PROBLEMS);
    if (!problem) {
      // The database cannot be reached: worth trying again shortly (503), not a failure of this request (500).
      logUnavailable(req, error);
      sendUnavailable(res, 'api');
      return;
    }
    let extensions: Record<string, unknown> = {};
    if (error instanceof DomainError) {
      // RFC 6750 challenges (BearerError) travel in the details.
      if (typeof error.details.wwwAuthenticate === 'string') res.setHeader('WWW-Authenticate', error.details.wwwAuthenticate);
      if (typeof error.details.retryAfterSeconds === 'number' && problem.status === 429) {
        res.setHeader('Retry-After', String(error.details.retryAfterSeconds));
      }
      // RFC 9457 extension members (e.g. the id of the resource in the way of a 409).
      const ext = error.details.extensions;
      if (ext && typeof ext === 'object') extensions = ext as Record<string, unknown>;
    }
    sendProblem(res, problem.status, problem.code, problem.detail, extensions);
  }
}
