import { ArgumentsHost, Catch, HttpException, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '#libs/core';
import { isDatabaseUnavailable } from '#libs/database';
import { sendUnavailable } from '#libs/web';
import { ERROR_STATUS } from './status.js';
import { logUnavailable } from './unavailable.filter.js';

/** An RFC 9457 problem (problem+json, not cached), with its extension members. */
export function sendProblem(res: Response, status: number, code: string, detail: string, extensions: Record<string, unknown> = {}): void {
  res.setHeader('Cache-Control', 'no-store');
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify({ ...extensions, type: `urn:gatehouse:problem:${code}`, title: code.replace(/_/gu, ' '), status, detail, code }));
}

/**
 * RFC 9457 problem details for the JSON API: DomainError codes map to HTTP statuses as
 * ERROR_STATUS says (400 for any other); a database that cannot be reached is 503 with Retry-After.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const res = http.getResponse<Response>();
    const req = http.getRequest<Request>();
    let status = 500;
    let code = 'internal_error';
    let detail = 'Something went wrong. Please try again.';
    let extensions: Record<string, unknown> = {};
    if (error instanceof DomainError) {
      status = ERROR_STATUS[error.code] ?? 400;
      code = error.code;
      detail = error.message;
      // RFC 6750 challenges (BearerError) travel in the details.
      if (typeof error.details.wwwAuthenticate === 'string') res.setHeader('WWW-Authenticate', error.details.wwwAuthenticate);
      if (typeof error.details.retryAfterSeconds === 'number' && status === 429) {
        res.setHeader('Retry-After', String(error.details.retryAfterSeconds));
      }
      // RFC 9457 extension members (e.g. the id of the resource in the way of a 409).
      const ext = error.details.extensions;
      if (ext && typeof ext === 'object') extensions = ext as Record<string, unknown>;
    } else if (error instanceof HttpException) {
      status = error.getStatus();
      code = status === 404 ? 'not_found' : status === 413 ? 'payload_too_large' : 'invalid_request';
      detail = status === 413 ? 'The request body is too large.' : status === 400 ? 'The request body is not valid JSON.' : error.message;
    } else if (isDatabaseUnavailable(error)) {
      // The database cannot be reached: worth trying again shortly (503), not a failure of this request (500).
      logUnavailable(req, error);
      sendUnavailable(res, 'api');
      return;
    } else {
      (req as Request & { log?: { error: (o: unknown, m: string) => void } }).log?.error({ err: error }, 'unhandled error');
    }
    sendProblem(res, status, code, detail, extensions);
  }
}
