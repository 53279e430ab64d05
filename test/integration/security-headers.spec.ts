import { NestFastifyApplication } from '@nestjs/platform-fastify';

import { securityHeaders } from '../../src/infra/http/http-app.factory';
import { startHttpApp } from '../support/app';
import { adminHeaders } from '../support/partner-client';

/**
 * Helmet's headers are computed once (securityHeaders) instead of by the plugin on every request: every answer still
 * carries exactly what @fastify/helmet sets — JSON, errors, refusals, unknown routes, the docs and Bull Board alike.
 */
describe('security headers', () => {
  let api: NestFastifyApplication;

  beforeAll(async () => {
    api = await startHttpApp();
  });
  afterAll(async () => {
    await api?.close();
  });

  it("are @fastify/helmet's own, with the CSP the Swagger UI needs", async () => {
    const headers = Object.fromEntries(await securityHeaders());
    expect(headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'strict-transport-security': expect.stringContaining('max-age='),
      'cross-origin-opener-policy': 'same-origin',
      'referrer-policy': 'no-referrer',
    });
    expect(headers['content-security-policy']).toContain("default-src 'self'");
    expect(headers['content-security-policy']).toContain("script-src 'self' 'unsafe-inline'");
    expect(headers['content-security-policy']).toContain("img-src 'self' data: validator.swagger.io");
  });

  it('are on every kind of answer', async () => {
    const expected = await securityHeaders();
    const fastify = api.getHttpAdapter().getInstance();
    const answers = await Promise.all([
      fastify.inject({ method: 'GET', url: '/health/live' }),
      fastify.inject({ method: 'GET', url: '/nope' }),
      fastify.inject({ method: 'GET', url: '/partner/v1/referrals' }),
      fastify.inject({ method: 'GET', url: '/docs' }),
      fastify.inject({ method: 'GET', url: '/admin/queues', headers: adminHeaders() }),
    ]);
    expect(answers.map((a) => a.statusCode)).toEqual([200, 404, 401, expect.any(Number), expect.any(Number)]);
    for (const a of answers) {
      for (const [name, value] of expected) expect([a.statusCode, name, a.headers[name]]).toEqual([a.statusCode, name, value]);
    }
  });
});
