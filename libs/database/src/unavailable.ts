/**
 * Whether an error means the database cannot be reached right now (as opposed to a query it
 * refused): the request may succeed if tried again shortly, so the answer is 503 with a
 * Retry-After, not 500. Looks through TypeORM's QueryFailedError (`driverError`), `cause`
 * chains and AggregateError (a connect that tried several addresses).
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 5) return false;
  const e = error as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown; errors?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  // SQLSTATE class 08 (connection exception); 57P01-57P03 (admin or crash shutdown, cannot connect now);
  // 53300 (too many connections).
  if (/^08[0-9A-Z]{3}$/u.test(code) || /^57P0[123]$/u.test(code) || code === '53300') return true;
  // A database that does not accept connections now (ALLOW_CONNECTIONS false, CONNECTION LIMIT 0).
  if (code === '55000' && typeof e.message === 'string' && /not currently accepting connections/u.test(e.message)) return true;
  if (NETWORK_CODES.has(code)) return true;
  if (typeof e.message === 'string' && POOL_MESSAGES.some((m) => (e.message as string).includes(m))) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return isDatabaseUnavailable(e.driverError, depth + 1) || isDatabaseUnavailable(e.cause, depth + 1);
}

/** How long a client is asked to wait before trying again while the database is unreachable (Retry-After, seconds). */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** What node-postgres says when a connection ends under a query, or the pool cannot hand one out in time. */
const POOL_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Connection ended unexpectedly',
  'terminating connection due to administrator command',
];
