import { HttpException, type ArgumentsHost } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '#libs/core';
import { isDatabaseUnavailable } from '#libs/database';

/** An RFC 9457 problem (problem+json, not cached), with its extension members. */
export function sendProblem(res: Response, status: number, code: string, detail: string, extensions: Record<string, unknown> = {}): void {
  res.setHeader('Cache-Control', 'no-store');
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify({ ...extensions, type: `urn:gatehouse:problem:${code}`, title: code.replace(/_/gu, ' '), status, detail, code }));
}

/** What a failure is answered with: the HTTP status, the problem's code and a detail for people. */
export interface Problem {
  status: number;
  code: string;
  detail: string;
}

/** The problem codes of Nest's own HttpExceptions (no such route, body too large, body not parsed); any other status is the app's `otherHttp`. */
const HTTP_CODES: Readonly<Record<number, string>> = { 400: 'invalid_request', 404: 'not_found', 413: 'payload_too_large' };

/** How an app names its failures. */
export interface ProblemMapping {
  /** HTTP status of each DomainError code; an unlisted code is 400. */
  statuses: Readonly<Record<string, number>>;
  /** The detail of an HttpException by its status (413 has one for every app); else the exception's message. */
  httpDetails: Readonly<Record<number, string>>;
  /** Code of an HttpException whose status HTTP_CODES does not name. */
  otherHttp: string;
}

/**
 * The problem a failure makes: a DomainError's code and message, an HttpException as `mapping`
 * says, anything unexpected a plain 500 (logged, never with the request body). Null while the
 * database cannot be reached: the caller answers 503 with Retry-After.
 */
export function problemOf(error: unknown, req: Request, mapping: ProblemMapping): Problem | null {
  if (error instanceof DomainError) return { status: mapping.statuses[error.code] ?? 400, code: error.code, detail: error.message };
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const detail = mapping.httpDetails[status] ?? (status === 413 ? 'The request body is too large.' : error.message);
    return { status, code: HTTP_CODES[status] ?? mapping.otherHttp, detail };
  }
  if (isDatabaseUnavailable(error)) return null;
  (req as Request & { log?: { error: (o: unknown, m: string) => void } }).log?.error({ err: error }, 'unhandled error');
  return { status: 500, code: 'internal_error', detail: 'Something went wrong. Please try again.' };
}

/** What an exception filter caught: the request, the response and the failure's problem (null: the database cannot be reached). */
export function caughtProblem(
  error: unknown,
  host: ArgumentsHost,
  mapping: ProblemMapping,
): { req: Request; res: Response; problem: Problem | null } {
  const http = host.switchToHttp();
  const req = http.getRequest<Request>();
  return { req, res: http.getResponse<Response>(), problem: problemOf(error, req, mapping) };
}
