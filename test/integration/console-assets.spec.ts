import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { NestFastifyApplication } from '@nestjs/platform-fastify';

import { securityHeaders } from '../../src/infra/http/http-app.factory';
import { CONSOLE_CSP, consoleRoot } from '../../src/modules/compliance/console-assets';
import { startHttpApp } from '../support/app';

/**
 * The console's files as the gateway serves them (the browser spec, test/browser/compliance-console.spec.ts, drives
 * the page itself): public, under their own strict CSP, one route per file, nothing else under /console/.
 */
describe('console assets', () => {
  let api: NestFastifyApplication;
  const get = (url: string, method: 'GET' | 'HEAD' = 'GET') => api.getHttpAdapter().getInstance().inject({ method, url });
  const files = readdirSync(consoleRoot());

  beforeAll(async () => {
    api = await startHttpApp();
  });
  afterAll(async () => {
    await api?.close();
  });

  it('serves every console file without a credential, under the console CSP and revalidated on each load', async () => {
    const gatewayWide = Object.fromEntries(await securityHeaders());
    expect(files).toEqual(expect.arrayContaining(['index.html', 'app.js', 'console.css']));
    for (const file of files) {
      const res = await get(`/console/${file}`);
      expect([file, res.statusCode]).toEqual([file, 200]);
      expect(res.body).toBe(readFileSync(join(consoleRoot(), file), 'utf8'));
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(res.headers['cache-control']).toBe('no-cache');
      // The other security headers stay the gateway's.
      expect(res.headers['x-content-type-options']).toBe(gatewayWide['x-content-type-options']);
      expect(res.headers['referrer-policy']).toBe('no-referrer');
    }
    expect((await get('/console/app.js')).headers['content-type']).toMatch(/^(application|text)\/javascript/);
    const index = await get('/console/');
    expect([index.statusCode, index.headers['content-type'], index.body]).toEqual([
      200,
      'text/html; charset=utf-8',
      readFileSync(join(consoleRoot(), 'index.html'), 'utf8'),
    ]);
    const bare = await get('/console');
    expect([bare.statusCode, bare.headers.location]).toEqual([301, '/console/']);
  });

  it('keeps the strict CSP honest: no inline script, style or event handler in the page, no unsafe-inline in the policy', () => {
    expect(CONSOLE_CSP).not.toMatch(/unsafe|\*/);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    const html = readFileSync(join(consoleRoot(), 'index.html'), 'utf8');
    expect(html.match(/<script\b[^>]*>/g)).toEqual(['<script type="module" src="app.js">']);
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=|javascript:/i);
    // Text reaches the page through textContent only (audit details and timeline entries are data, never markup).
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      expect([file, readFileSync(join(consoleRoot(), file), 'utf8')]).not.toEqual([
        file,
        expect.stringMatching(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/),
      ]);
    }
  });

  it('answers nothing else under /console: unknown files, traversal and HEAD are 404s', async () => {
    for (const url of [
      '/console/nope.js',
      '/console/../package.json',
      '/console/%2e%2e/package.json',
      '/console/..%2fpackage.json',
      '/console/.env',
    ]) {
      const res = await get(url);
      expect([url, res.statusCode, res.headers['content-type']]).toEqual([url, 404, 'application/problem+json; charset=utf-8']);
    }
    // The gateway answers no HEAD (http-app.factory.ts); @fastify/static's own HEAD routes are dropped too.
    for (const url of ['/console/', '/console/app.js']) expect([url, (await get(url, 'HEAD')).statusCode]).toEqual([url, 404]);
  });
});
