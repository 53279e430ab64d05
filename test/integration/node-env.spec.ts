import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as jwt from 'jsonwebtoken';

import { eventually } from '../support/app';
import { BUILT_CLI, BUILT_GATEWAY, ensureBuilt } from '../support/built-dist';

/**
 * NODE_ENV decides which safety rules apply, so a deployment that forgets it must get production's, not
 * development's (HS256 tokens, generated secrets, SSRF guard off, Bull Board on). The gateway is started as operators
 * start it (`node dist/src/main.js api`) with NODE_ENV removed from its environment.
 */
jest.setTimeout(90_000);

const ROOT = join(__dirname, '..', '..');

/** The run's environment (database, Redis, issuer) without NODE_ENV and without the development HS256 secret. */
function environmentWithoutNodeEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value;
  delete env.NODE_ENV;
  delete env.PLATFORM_JWT_SECRET;
  return { ...env, LOG_LEVEL: 'warn', ...extra };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs the built gateway to its exit (a start-up refusal), killed after 20 s if it starts instead. It runs in an
 * empty directory of its own, where development would write generated secrets (.local/dev-secrets.json).
 */
function startupRefusal(env: Record<string, string>) {
  const cwd = mkdtempSync(join(tmpdir(), 'rg-node-env-'));
  try {
    const res = spawnSync(process.execPath, [BUILT_GATEWAY, 'api'], { cwd, env, encoding: 'utf8', timeout: 20_000 });
    return { status: res.status, stderr: res.stderr, wroteSecrets: existsSync(join(cwd, '.local')) };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

beforeAll(ensureBuilt, 180_000);

describe('NODE_ENV', () => {
  it('unset, with a development-only setting (an HS256 secret): refuses to start, naming NODE_ENV', () => {
    const res = startupRefusal(environmentWithoutNodeEnv({ PLATFORM_JWT_SECRET: randomBytes(32).toString('base64url') }));
    expect(res.status).toBe(78);
    expect(res.stderr).toContain('PLATFORM_JWT_SECRET');
    expect(res.stderr).toMatch(/NODE_ENV is not set/);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.wroteSecrets).toBe(false);
  });

  it('unset, with no secrets at all: refuses to start rather than generating development ones', () => {
    const res = startupRefusal(environmentWithoutNodeEnv({ MASTER_KEY: '' }));
    expect(res.status).toBe(78);
    expect(res.stderr).toContain('MASTER_KEY');
    expect(res.stderr).toMatch(/NODE_ENV is not set/);
    expect(res.wroteSecrets).toBe(false);
  });

  it.each(['banana', 'Production', '../config/development'])('%s: refuses to start, naming NODE_ENV', (value) => {
    const res = startupRefusal({ ...environmentWithoutNodeEnv(), NODE_ENV: value });
    expect(res.status).toBe(78);
    expect(res.stderr).toContain('NODE_ENV');
    expect(res.stderr).toContain('development, test or production');
  });

  it('the CLI, NODE_ENV unset, reports production and refuses to mint a development token', () => {
    const cli = (args: string[], extra: Record<string, string> = {}) =>
      spawnSync(process.execPath, [BUILT_CLI, ...args], { cwd: ROOT, env: environmentWithoutNodeEnv(extra), encoding: 'utf8' });
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const production = {
      PLATFORM_JWT_PUBLIC_KEY: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      METRICS_TOKEN: randomBytes(32).toString('base64url'),
    };
    const config = cli(['config'], production);
    expect(config.status).toBe(0);
    expect(JSON.parse(config.stdout)).toMatchObject({ nodeEnv: 'production', ops: { bullBoard: false } });

    const token = cli(['token', '--role', 'admin'], { PLATFORM_JWT_SECRET: randomBytes(32).toString('base64url') });
    expect(token.status).not.toBe(0);
    expect(token.stdout).toBe('');
    expect(token.stderr).toContain('NODE_ENV');
  });

  describe('unset, with production-grade settings', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const metricsToken = randomBytes(32).toString('base64url');
    let child: ChildProcess;
    let output = '';
    let baseUrl: string;

    const platformToken = (roles: string[], key: jwt.Secret, algorithm: jwt.Algorithm) =>
      jwt.sign({ roles }, key, {
        algorithm,
        issuer: process.env.PLATFORM_JWT_ISSUER,
        audience: process.env.PLATFORM_JWT_AUDIENCE,
        subject: 'op-1',
        expiresIn: 300,
      });

    beforeAll(async () => {
      const port = await freePort();
      baseUrl = `http://127.0.0.1:${port}`;
      child = spawn(process.execPath, [BUILT_GATEWAY, 'api'], {
        cwd: ROOT,
        env: environmentWithoutNodeEnv({
          PORT: String(port),
          PLATFORM_JWT_PUBLIC_KEY: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
          METRICS_TOKEN: metricsToken,
        }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (chunk) => (output += chunk));
      child.stderr!.on('data', (chunk) => (output += chunk));
      await eventually(
        async () => {
          if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}): ${output}`);
          return (await fetch(`${baseUrl}/health/live`)).ok;
        },
        60_000,
        200,
      );
    });

    afterAll(async () => {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    });

    it('starts as production: Bull Board off, HS256 tokens refused, RS256 operator tokens accepted', async () => {
      const admin = { authorization: `Bearer ${platformToken(['admin'], privateKey, 'RS256')}` };
      expect((await fetch(`${baseUrl}/v1/admin/partners`, { headers: admin })).status).toBe(200);
      // Bull Board is development's default only.
      expect((await fetch(`${baseUrl}/admin/queues`, { headers: admin })).status).toBe(404);
      expect((await fetch(`${baseUrl}/admin/queues/api/queues`, { headers: admin })).status).toBe(404);

      // An HS256 token signed with whatever a development checkout would have generated is refused.
      const hs256 = platformToken(['admin'], randomBytes(32).toString('base64url'), 'HS256');
      const refused = await fetch(`${baseUrl}/v1/admin/partners`, { headers: { authorization: `Bearer ${hs256}` } });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);

      // The production metrics rule: the scraper's token is required.
      expect((await fetch(`${baseUrl}/metrics`)).status).toBe(401);
      expect((await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).status).toBe(200);
    });
  });
});
