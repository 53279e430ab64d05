/**
 * Errors that say the database could not be reached or would not take the work, as opposed to an answer it gave
 * (a duplicate key, a deadlock). A request failing on one of these is answered 503 with `retry-after`: trying again
 * later is the right thing for the client to do, and nothing about the request itself was wrong.
 */

/** No pooled connection became free within DATABASE_POOL_ACQUIRE_TIMEOUT_MS (every connection busy, or connecting). */
export class PoolAcquireTimeoutError extends Error {
  readonly code = 'POOL_ACQUIRE_TIMEOUT';

  constructor(readonly timeoutMs: number) {
    super(`no database connection became free within ${timeoutMs} ms`);
    this.name = 'PoolAcquireTimeoutError';
  }
}

/** mysql2's codes for a server that is down, unreachable, restarting or full. */
const UNAVAILABLE_CODES = new Set([
  'POOL_ACQUIRE_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
]);

interface DriverErrorShape {
  code?: unknown;
  /** mysql2 marks every error that broke the connection itself `fatal` (network errors, a closed connection). */
  fatal?: unknown;
  /** TypeORM's QueryFailedError keeps the driver's error here. */
  driverError?: unknown;
  cause?: unknown;
}

export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 3) return false;
  const e = error as DriverErrorShape;
  if (e.fatal === true) return true;
  if (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) return true;
  return isDatabaseUnavailable(e.driverError, depth + 1) || isDatabaseUnavailable(e.cause, depth + 1);
}
