import type { Request, Response } from 'express';
import { DATABASE_RETRY_AFTER_SECONDS } from '#libs/database';
import { html, page } from './html.js';

/** What a person or program is told while the database cannot be reached. */
export const UNAVAILABLE_DETAIL = 'The service is briefly unavailable. Please try again in a few seconds.';

/** The page shown while the database cannot be reached (IdP and OpenID provider pages). */
export function unavailablePage(): string {
  return page(
    'Briefly unavailable',
    html`<p class="error" role="alert">${UNAVAILABLE_DETAIL}</p>
      <p class="hint">Nothing you entered was lost on our side, but you may need to send the form again.</p>`,
  );
}

/** RFC 9457 problem details for a request answered 503 while the database cannot be reached. */
export const UNAVAILABLE_PROBLEM = {
  type: 'urn:gatehouse:problem:service_unavailable',
  title: 'service unavailable',
  status: 503,
  detail: UNAVAILABLE_DETAIL,
  code: 'service_unavailable',
} as const;

/**
 * Answers 503 with Retry-After (the request may well succeed a few seconds later): problem+json
 * for an API, else the given page. Never cached.
 */
export function sendUnavailable(res: Response, as: 'api' | 'page', pageHtml: string = unavailablePage()): void {
  res.setHeader('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
  res.setHeader('Cache-Control', 'no-store');
  if (as === 'api') res.status(503).type('application/problem+json').send(JSON.stringify(UNAVAILABLE_PROBLEM));
  else res.status(503).type('html').send(pageHtml);
}

/** One warning per failed request (not an error: the request may succeed when tried again); the driver's message only. */
export function logUnavailable(req: Request, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  (req as Request & { log?: { warn: (o: unknown, m: string) => void } }).log?.warn(
    { reason: message },
    'database unavailable: answered 503',
  );
}
