import { BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import * as mysql from 'mysql2/promise';
import { QueryFailedError } from 'typeorm';

import { ConflictError, ValidationFailedError } from '../../src/common/errors';
import { PoolAcquireTimeoutError } from '../../src/infra/database/database-unavailable';
import { toProblem } from '../../src/infra/http/problem-details';
import { RateLimitedError } from '../../src/infra/http/rate-limit/principal-throttler.guard';

const fastifyError = (code: string, statusCode: number, message: string) =>
  Object.assign(new Error(message), { name: 'FastifyError', code, statusCode });

describe('toProblem', () => {
  it('maps a DomainError with its code, errors and headers', () => {
    const mapped = toProblem(new ValidationFailedError([{ field: 'a.b', message: 'must be a string' }]), 'req-1');
    expect(mapped).toEqual({
      problem: {
        type: 'https://errors.referral-gateway.dev/validation-failed',
        title: 'The request body or query is not valid',
        status: 400,
        detail: 'One or more fields are invalid',
        instance: 'req-1',
        errors: [{ field: 'a.b', message: 'must be a string' }],
      },
      headers: {},
      serverFault: false,
    });
    expect(toProblem(new ConflictError('state-conflict', 'no'), 'r').problem).not.toHaveProperty('errors');
    expect(toProblem(new RateLimitedError(7), 'r').headers).toEqual({ 'retry-after': '7' });
  });

  it.each([
    ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 'payload-too-large'],
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'unsupported-media-type'],
    ['FST_ERR_CTP_EMPTY_JSON_BODY', 400, 'malformed-body'],
    ['FST_ERR_SOMETHING_NEW', 400, 'bad-request'],
  ])('maps Fastify %s, raw or wrapped by Nest, to %i %s', (code, status, problemCode) => {
    const raw = fastifyError(code, status, `internal text of ${code}`);
    for (const exception of [raw, new HttpException(raw.message, status, { cause: raw })]) {
      const { problem, serverFault } = toProblem(exception, 'r');
      expect(problem.status).toBe(status);
      expect(problem.type).toBe(`https://errors.referral-gateway.dev/${problemCode}`);
      expect(problem.detail).not.toContain('internal text');
      expect(serverFault).toBe(false);
    }
  });

  it('maps the JSON parser SyntaxError to malformed-json without its message', () => {
    const syntax = Object.assign(new SyntaxError('Unexpected token s in JSON at position 3: {"secret"'), { statusCode: 400 });
    const { problem } = toProblem(new HttpException(syntax.message, 400, { cause: syntax }), 'r');
    expect(problem.type).toBe('https://errors.referral-gateway.dev/malformed-json');
    expect(JSON.stringify(problem)).not.toContain('secret');
  });

  it('never copies the route or class name of 404 and 429 messages', () => {
    expect(toProblem(new NotFoundException('Cannot GET /v1/users/u_123'), 'r').problem.detail).toBe('No such resource');
    const throttled = toProblem(new ThrottlerException(), 'r').problem;
    expect(throttled.status).toBe(429);
    expect(JSON.stringify(throttled)).not.toContain('ThrottlerException');
  });

  it('keeps the message of other client HttpExceptions, but not a bare status text', () => {
    expect(toProblem(new BadRequestException('Validation failed (numeric string is expected)'), 'r').problem.detail).toBe(
      'Validation failed (numeric string is expected)',
    );
    expect(toProblem(new BadRequestException(), 'r').problem.detail).toBe('The request could not be understood');
  });

  it.each([
    ['a plain Error with SQL', new Error("ER_PARSE_ERROR near 'SELECT secret FROM users'")],
    ['a 500 HttpException', new HttpException('TypeORM QueryFailedError in ReferralRepository', 500)],
    ['a 5xx Fastify error', fastifyError('FST_ERR_HANDLER_TIMEOUT', 503, 'handler in ReferralController timed out')],
    ['a thrown string', 'SELECT 1'],
    ['undefined', undefined],
  ])('turns %s into a bare 500 that only names the request', (_why, exception) => {
    const { problem, serverFault } = toProblem(exception, 'req-9');
    expect(serverFault).toBe(true);
    expect(problem).toEqual({
      type: 'https://errors.referral-gateway.dev/internal-error',
      title: 'Internal server error',
      status: 500,
      detail: 'An unexpected error occurred; quote the instance (request id) when reporting it',
      instance: 'req-9',
    });
  });

  describe('a database that cannot be reached', () => {
    /** The driver's own error for a server that is not listening (nothing listens on port 1 of loopback). */
    const refused = () =>
      mysql.createConnection({ host: '127.0.0.1', port: 1, user: 'root', connectTimeout: 2000 }).then(
        () => Promise.reject(new Error('port 1 accepted a MySQL connection')),
        (error: unknown) => error,
      );
    const driverError = (code: string, errno?: number, fatal = true) =>
      Object.assign(new Error(`driver text for ${code}`), { code, errno, fatal, sqlMessage: 'SELECT secret' });

    it.each([
      ['connection refused (a real mysql2 error)', refused],
      [
        'a connection lost mid-query, as TypeORM wraps it',
        () => new QueryFailedError('SELECT 1', [], driverError('PROTOCOL_CONNECTION_LOST')),
      ],
      ['a connect timeout', () => driverError('ETIMEDOUT')],
      ['too many connections', () => driverError('ER_CON_COUNT_ERROR', 1040, false)],
      ['a server shutting down', () => driverError('ER_SERVER_SHUTDOWN', 1053, false)],
      [
        'a closed connection (fatal, no code)',
        () => Object.assign(new Error("Can't add new command when connection is in closed state"), { fatal: true }),
      ],
      ['no pooled connection in time', () => new PoolAcquireTimeoutError(5000)],
    ])('answers %s with 503 and retry-after, naming nothing internal', async (_why, make) => {
      const exception = await make();
      const { problem, headers, serverFault } = toProblem(exception, 'req-7');
      expect(problem).toEqual({
        type: 'https://errors.referral-gateway.dev/service-unavailable',
        title: 'Service unavailable',
        status: 503,
        detail: 'The service is temporarily unavailable; retry later',
        instance: 'req-7',
      });
      expect(Number(headers['retry-after'])).toBeGreaterThan(0);
      expect(serverFault).toBe(true);
    });

    it.each([
      ['a deadlock', new QueryFailedError('UPDATE t', [], driverError('ER_LOCK_DEADLOCK', 1213, false))],
      ['a duplicate key', driverError('ER_DUP_ENTRY', 1062, false)],
    ])('keeps %s (the server answered) a 500', (_why, exception) => {
      expect(toProblem(exception, 'r').problem.status).toBe(500);
    });
  });
});
