import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { verify } from 'jsonwebtoken';
import * as mysql from 'mysql2/promise';

import { MIGRATIONS } from '../../src/infra/database/migrations';
import { BUILT_CLI, BUILT_GATEWAY, ensureBuilt } from '../support/built-dist';
import { MYSQL_SERVER_URL } from '../support/test-env';

const ROOT = join(__dirname, '..', '..');
const CLI = BUILT_CLI;
const GATEWAY = BUILT_GATEWAY;

function run(entry: string, args: string[], env: Record<string, string | undefined> = {}) {
  const res = spawnSync(process.execPath, [entry, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

const cli = (args: string[], env: Record<string, string | undefined> = {}) => run(CLI, args, env);

beforeAll(ensureBuilt, 180_000);

describe('cli', () => {
  it('--help lists the commands', () => {
    const res = cli(['--help']);
    expect(res.status).toBe(0);
    for (const command of ['migrate', 'config', 'token', 'outbox:status']) expect(res.stdout).toContain(command);
  });

  it('config prints the effective configuration with secrets masked', () => {
    const res = cli(['config'], { PORT: '4321' });
    expect(res.status).toBe(0);
    const printed = JSON.parse(res.stdout);
    expect(printed).toMatchObject({
      nodeEnv: 'test',
      port: 4321,
      masterKey: '****',
      platformJwt: { secret: '****' },
      ops: { metricsToken: '****' },
    });
    expect(res.stdout).not.toContain(process.env.MASTER_KEY);
    expect(res.stdout).not.toContain(process.env.PLATFORM_JWT_SECRET);
    expect(res.stdout).not.toContain(process.env.METRICS_TOKEN);
  });

  it.each([
    ['PORT', { PORT: 'abc' }],
    ['MASTER_KEY', { MASTER_KEY: Buffer.alloc(16).toString('base64') }],
    ['DATABASE_URL', { DATABASE_URL: 'postgres://db/x' }],
  ])('refuses a bad %s with a message naming it and a non-zero exit', (name, env) => {
    const res = cli(['config'], env);
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain(name);
    expect(res.stdout).toBe('');
  });

  it('the gateway itself stops at start-up on a bad value, naming the setting, before listening', () => {
    const res = run(GATEWAY, ['api'], { PORT: 'abc' });
    expect(res.status).toBe(78);
    expect(res.stderr).toContain('PORT');
    expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  describe('token', () => {
    const verifyToken = (token: string) =>
      verify(token, process.env.PLATFORM_JWT_SECRET!, {
        algorithms: ['HS256'],
        issuer: process.env.PLATFORM_JWT_ISSUER,
        audience: process.env.PLATFORM_JWT_AUDIENCE,
      }) as { sub: string; roles: string[]; iat: number; exp: number };

    it('mints an HS256 platform JWT for a role that verifies with the configured secret, issuer and audience', () => {
      const res = cli(['token', '--role', 'compliance', '--sub', 'officer-7', '--ttl', '600']);
      expect(res.status).toBe(0);
      const claims = verifyToken(res.stdout.trim());
      expect(claims).toMatchObject({ sub: 'officer-7', roles: ['compliance'] });
      expect(claims.exp - claims.iat).toBe(600);
    });

    it('defaults the subject and a one-hour lifetime', () => {
      const claims = verifyToken(cli(['token', '--role', 'user']).stdout.trim());
      expect(claims).toMatchObject({ sub: 'dev-user', roles: ['user'] });
      expect(claims.exp - claims.iat).toBe(3600);
    });

    it.each([
      ['an unknown role', ['token', '--role', 'root'], {}, 'root'],
      ['a missing role', ['token'], {}, '--role'],
      ['a bad ttl', ['token', '--role', 'admin', '--ttl', '-5'], {}, '--ttl'],
      ['production', ['token', '--role', 'admin'], { NODE_ENV: 'production' }, 'development-only'],
      [
        'a public-key-only setup',
        ['token', '--role', 'admin'],
        { PLATFORM_JWT_SECRET: '', PLATFORM_JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----' },
        'PLATFORM_JWT_SECRET',
      ],
    ])('refuses %s', (_case, args, env, message) => {
      const res = cli(args, env);
      expect(res.status).not.toBe(0);
      expect(res.stderr).toContain(message);
      expect(res.stdout).toBe('');
    });
  });

  describe('migrate and outbox:status on a database of their own', () => {
    const database = `${new URL(process.env.DATABASE_URL!).pathname.slice(1)}_cli`;
    const env = { DATABASE_URL: `${MYSQL_SERVER_URL}/${database}` };
    let server: mysql.Connection;

    beforeAll(async () => {
      server = await mysql.createConnection({ uri: MYSQL_SERVER_URL });
    });
    afterAll(async () => {
      await server.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await server.end();
    });

    it('creates the database, applies every migration once, and is a no-op the second time', async () => {
      const first = cli(['migrate'], env);
      expect(first.stderr).toBe('');
      expect(first.status).toBe(0);
      expect(first.stdout).toContain(`created database ${database}`);
      const [applied] = await server.query(`SELECT name FROM \`${database}\`.schema_migrations ORDER BY id`);
      expect((applied as Array<{ name: string }>).map((r) => r.name)).toEqual(MIGRATIONS.map((m) => m.name));
      const [[schema]] = (await server.query(
        'SELECT DEFAULT_CHARACTER_SET_NAME AS charset FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
        [database],
      )) as unknown as [[{ charset: string }]];
      expect(schema.charset).toBe('utf8mb4');

      const second = cli(['migrate'], env);
      expect(second.status).toBe(0);
      expect(second.stdout).toContain('no pending migrations');
    });

    it('outbox:status counts rows by status', async () => {
      await server.query(
        `INSERT INTO \`${database}\`.outbox (queue, job_name, payload, status)
         VALUES ('maintenance', 'outbox.probe', '{}', 'PENDING'), ('maintenance', 'outbox.probe', '{}', 'PENDING'),
                ('maintenance', 'outbox.probe', '{}', 'FAILED')`,
      );
      const res = cli(['outbox:status', '--json'], env);
      expect(res.status).toBe(0);
      const stats = JSON.parse(res.stdout);
      expect(stats.counts).toEqual({ PENDING: 2, ENQUEUED: 0, DONE: 0, FAILED: 1, PARKED: 0 });
      expect(stats.oldestPendingSeconds).toBeGreaterThanOrEqual(0);

      const table = cli(['outbox:status'], env);
      expect(table.stdout).toMatch(/PENDING\s+2/);
    });

    it('public-ids:close-legacy raises the numeric id ceilings once, after an upgrade, and never again', async () => {
      const ceilings = async () => {
        const [rows] = await server.query(
          `SELECT prefix, max_key, closed_at FROM \`${database}\`.public_id_legacy_ceilings ORDER BY prefix`,
        );
        return rows as Array<{ prefix: string; max_key: number | string; closed_at: Date | null }>;
      };
      // A new installation handed out no numeric id: closed by the migration itself, with every ceiling at 0.
      expect((await ceilings()).every((c) => Number(c.max_key) === 0 && c.closed_at !== null)).toBe(true);
      const fresh = cli(['public-ids:close-legacy'], env);
      expect(fresh.status).toBe(1);
      expect(fresh.stderr).toContain('closed already');

      // An upgraded one: the old version's copies made a decision file after the migration ran.
      await server.query(`UPDATE \`${database}\`.public_id_legacy_ceilings SET closed_at = NULL`);
      await server.query(`INSERT INTO \`${database}\`.partners (code, name, scopes) VALUES ('CLI_BANK', 'CLI bank', 'referrals:read')`);
      await server.query(
        `INSERT INTO \`${database}\`.decision_files (partner_id, format, body, body_sha256, uploaded_by_type, uploaded_by_id)
         SELECT id, 'CSV', '', REPEAT('0', 64), 'partner', 'CLI_BANK' FROM \`${database}\`.partners WHERE code = 'CLI_BANK'`,
      );
      const closed = cli(['public-ids:close-legacy'], env);
      expect(closed.stderr).toBe('');
      expect(closed.status).toBe(0);
      expect(JSON.parse(closed.stdout)).toMatchObject({ dcf: '1', ref: '0' });
      const dcf = (await ceilings()).find((c) => c.prefix === 'dcf')!;
      expect([Number(dcf.max_key), dcf.closed_at]).toEqual([1, expect.any(Date)]);

      const again = cli(['public-ids:close-legacy'], env);
      expect(again.status).toBe(1);
    });

    it('fails with a clear message when MySQL cannot be reached', () => {
      const res = cli(['outbox:status'], { DATABASE_URL: 'mysql://root@127.0.0.1:1/nowhere' });
      expect(res.status).not.toBe(0);
      expect(res.stderr).toContain('ECONNREFUSED');
    });
  });
});
