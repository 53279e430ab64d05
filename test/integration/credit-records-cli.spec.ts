import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Command } from 'commander';
import * as mysql from 'mysql2/promise';

import { register } from '../../src/cli/commands/credit-records';

/** The operator commands, run in-process the way `npm run cli -- …` runs them, against the run database. */
describe('credit-records CLI (synth, ingest)', () => {
  let dir: string;
  let db: mysql.Connection;
  let logs: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-credit-cli-'));
    db = await mysql.createConnection({ uri: process.env.DATABASE_URL! });
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await db.end();
  });

  beforeEach(() => {
    logs = [];
    jest.spyOn(console, 'log').mockImplementation((line: string) => void logs.push(line));
    jest.spyOn(console, 'error').mockImplementation(() => undefined);
    jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  const run = async (...args: string[]) => {
    const program = new Command().exitOverride();
    register(program);
    await program.parseAsync(['node', 'cli', ...args]);
  };
  const lastSummary = () => JSON.parse(logs[logs.length - 1]);
  const prefix = () => `c${randomBytes(4).toString('hex')}_`;
  const count = async (p: string) =>
    Number((await db.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM credit_records WHERE user_id LIKE ?', [`${p}%`]))[0][0].n);

  it('writes the same users for the same seed, and others for another seed', async () => {
    const p = prefix();
    await run('synth', '--users', '25', '--seed', '7', '--prefix', p, '--out', join(dir, 'a.ndjson'));
    await run('synth', '--users', '25', '--seed', '7', '--prefix', p, '--out', join(dir, 'b.ndjson'));
    await run('synth', '--users', '25', '--seed', '8', '--prefix', p, '--out', join(dir, 'c.ndjson'));
    const a = readFileSync(join(dir, 'a.ndjson'), 'utf8');
    expect(a.trim().split('\n')).toHaveLength(25);
    expect(readFileSync(join(dir, 'b.ndjson'), 'utf8')).toBe(a);
    expect(readFileSync(join(dir, 'c.ndjson'), 'utf8')).not.toBe(a);
  });

  it('refuses synth without exactly one destination', async () => {
    await expect(run('synth', '--users', '5')).rejects.toThrow(/--out <file> or --db/);
    await expect(run('synth', '--users', '0', '--db')).rejects.toThrow(/positive integer/);
  });

  it('ingests a file in batches, reporting rejected lines by number, and ignores it the second time', async () => {
    const p = prefix();
    const file = join(dir, 'ingest.ndjson');
    await run('synth', '--users', '120', '--seed', p, '--prefix', p, '--out', file);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    lines.splice(50, 0, '{"userId": broken');
    writeFileSync(file, lines.join('\n') + '\n');

    await expect(run('ingest', file, '--batch', '40')).rejects.toMatchObject({ name: 'CliError', exitCode: 2 });
    expect(lastSummary()).toMatchObject({
      lines: 121,
      accepted: 120,
      ignored: 0,
      rejected: 1,
      firstRejected: [{ line: 51, errors: [{ field: null, message: 'is not valid JSON' }] }],
    });
    expect(await count(p)).toBe(120);

    await expect(run('credit-records:ingest', file)).rejects.toMatchObject({ exitCode: 2 });
    expect(lastSummary()).toMatchObject({ accepted: 0, ignored: 120, rejected: 1 });
    const [audits] = await db.query<mysql.RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM audit_inbox WHERE action = 'credit_records.ingested' AND actor_type = 'admin'",
    );
    expect(Number(audits[0].n)).toBeGreaterThanOrEqual(2);
  });

  it('generates straight into the database', async () => {
    const p = prefix();
    await run('synth', '--users', '2500', '--seed', '3', '--prefix', p, '--db');
    expect(lastSummary()).toMatchObject({ lines: 2500, accepted: 2500, ignored: 0, rejected: 0 });
    expect(await count(p)).toBe(2500);
  });
});
