import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Command } from 'commander';
import { DataSource } from 'typeorm';

import { register as registerPrescreenCli } from '../../src/cli/commands/prescreen';
import { importLines, syntheticLines } from '../../src/modules/credit-records/credit-records.bulk-import';
import { CreditRecordsService } from '../../src/modules/credit-records/credit-records.service';
import {
  CriteriaRule,
  evaluableRecordFromRow,
  EVALUATED_COLUMNS,
  evaluateRecord,
  EXCLUSION_REASONS,
  ExclusionContext,
  ExclusionFactsRepository,
  NO_EXCLUSION_FACTS,
} from '../../src/modules/prescreening/criteria';
import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { BUILT_GATEWAY, ensureBuilt } from '../support/built-dist';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';
import { OPAQUE_ID, rowKey } from '../support/public-ids';

/**
 * Pre-screen runs end to end on real MariaDB and Redis: 100,000 synthetic users ingested through the credit-record
 * service's set-based path, runs started over HTTP and the CLI, evaluated in chunks by worker processes, checked
 * against the in-process evaluator over the same rows; a worker SIGKILLed mid-run; opt-out.
 */
jest.setTimeout(120_000);

const ROOT = join(__dirname, '..', '..');
const USERS = 100_000;
const PREFIX = `ps${randomBytes(3).toString('hex')}_`;
const user = (i: number) => `${PREFIX}${String(i).padStart(9, '0')}`;
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => user(from + i));

const CRITERIA: CriteriaRule[] = [
  { field: 'score', op: '>=', value: 620, reason: 'SCORE_TOO_LOW' },
  { field: 'repayment.maxDpd24m', op: '<=', value: 30, reason: 'PAST_DELINQUENCY' },
  { field: 'accountAgeMonths', op: '>=', value: 6, reason: 'ACCOUNT_TOO_NEW' },
  { field: 'consumption.orders12m', op: '>=', value: 5, reason: 'LOW_ACTIVITY' },
  { field: 'riskGrade', op: 'not_in', value: ['E'], reason: 'SCORE_TOO_LOW' },
];
const REASON_CODES = ['SCORE_TOO_LOW', 'PAST_DELINQUENCY', 'ACCOUNT_TOO_NEW', 'LOW_ACTIVITY', ...EXCLUSION_REASONS];

interface Expected {
  evaluated: number;
  eligible: number;
  ineligible: number;
  reasons: Record<string, number>;
  /** Eligible user → current record_version. */
  eligibleUsers: Map<string, number>;
}

describe('pre-screen runs over 100,000 users', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let worker: INestApplicationContext | undefined;
  let child: ChildProcess | undefined;
  let partnerId: string;
  let productA: string;
  let productB: string;
  let firstRun: Expected;
  let secondRun: Expected;
  let optedOut: string;
  let expiredUser: string;

  const post = (url: string, payload?: object) => inject(api, { method: 'POST', url, headers: adminHeaders(), payload });
  const getRun = async (id: string) => {
    const res = await inject(api, { method: 'GET', url: `/v1/admin/prescreen-runs/${id}`, headers: adminHeaders() });
    expect(res.statusCode).toBe(200);
    return res.json();
  };
  const userGet = (sub: string, url: string) =>
    inject(api, { method: 'GET', url, headers: { authorization: `Bearer ${platformToken(['user'], sub)}` } });
  const startRun = async (code: string, payload?: object) => {
    const res = await post(`/v1/admin/card-products/${code}/prescreen-runs`, payload);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ id: expect.stringMatching(OPAQUE_ID('run')) });
    return res.json().id as string;
  };
  const untilEnded = (id: string, timeoutMs = 90_000) =>
    eventually(
      async () => {
        const run = await getRun(id);
        return run.status === 'COMPLETED' || run.status === 'FAILED' ? run : undefined;
      },
      timeoutMs,
      200,
    );
  const productId = async (code: string) => String((await db.query('SELECT id FROM card_products WHERE code = ?', [code]))[0].id);

  /** What the run must find, computed independently: the in-process evaluator over every current record. */
  async function expectedCounts(): Promise<Expected> {
    const rows: Record<string, unknown>[] = await db.query(`SELECT ${EVALUATED_COLUMNS.join(', ')}, record_version FROM credit_records`);
    // Facts for every user the exclusion tables name; everyone else has none.
    const named: { user_id: string }[] = await db.query(
      'SELECT user_id FROM user_preferences UNION SELECT user_id FROM partner_relationships UNION SELECT user_id FROM partner_delinquencies',
    );
    const facts = await api.get(ExclusionFactsRepository, { strict: false }).forUsers(named.map((r) => r.user_id));
    const context: ExclusionContext = { partnerId, delinquencyScope: 'ANY_PARTNER' };
    const reasons: Record<string, number> = Object.fromEntries(REASON_CODES.map((c) => [c, 0]));
    const eligibleUsers = new Map<string, number>();
    for (const row of rows) {
      const userId = String(row.user_id);
      const outcome = evaluateRecord(CRITERIA, evaluableRecordFromRow(row), { context, facts: facts.get(userId) ?? NO_EXCLUSION_FACTS });
      if (outcome.eligible) eligibleUsers.set(userId, Number(row.record_version));
      for (const reason of outcome.reasons) reasons[reason]++;
    }
    return { evaluated: rows.length, eligible: eligibleUsers.size, ineligible: rows.length - eligibleUsers.size, reasons, eligibleUsers };
  }

  const expectRunToMatch = (run: Record<string, any>, expected: Expected, offersCreated: number) => {
    expect(run).toMatchObject({
      status: 'COMPLETED',
      progress: { evaluated: expected.evaluated, total: expected.evaluated },
      counts: { eligible: expected.eligible, ineligible: expected.ineligible, offersCreated },
      reasons: expected.reasons,
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
    });
    expect(run.progress.chunksDone).toBe(run.progress.chunks);
  };

  /** Live offers of a product: user → pinned record version; fails on a second live offer for anyone. */
  async function liveOffers(code: string): Promise<Map<string, number>> {
    // Every pinned version must be readable for packaging: its snapshot, or the record still at that version.
    const rows: { user_id: string; record_version: number; product_version: number; readable: number }[] = await db.query(
      `SELECT o.user_id, o.record_version, o.product_version,
              EXISTS (SELECT 1 FROM credit_record_snapshots s WHERE s.user_id = o.user_id AND s.record_version = o.record_version)
              OR EXISTS (SELECT 1 FROM credit_records cr WHERE cr.user_id = o.user_id AND cr.record_version = o.record_version) AS readable
         FROM offers o WHERE o.product_id = ? AND o.status = 'LIVE'`,
      [await productId(code)],
    );
    const live = new Map<string, number>();
    const problems: string[] = [];
    for (const r of rows) {
      if (live.has(r.user_id)) problems.push(`second live offer for ${r.user_id}`);
      if (Number(r.readable) !== 1) problems.push(`pinned version ${r.record_version} of ${r.user_id} is gone`);
      if (Number(r.product_version) !== 1) problems.push(`offer of ${r.user_id} pins product version ${r.product_version}`);
      live.set(r.user_id, Number(r.record_version));
    }
    expect(problems).toEqual([]);
    return live;
  }

  beforeAll(async () => {
    api = await startHttpApp('api');
    db = api.get(DataSource);
    const service = api.get(CreditRecordsService);
    const ingested = await importLines(service, syntheticLines({ users: USERS, seed: 'prescreen', userIdPrefix: PREFIX }), {
      batchLines: 10_000,
    });
    expect(ingested).toMatchObject({ accepted: USERS, rejected: 0 });
    // A newer snapshot for 500 users: their offers must pin record version 2.
    const newer = await importLines(service, syntheticLines({ users: 500, seed: 'prescreen-2', userIdPrefix: PREFIX, asOf: '2026-11-21' }));
    expect(newer.accepted).toBe(500);

    const bank = new BankClient(uniqueCode());
    await bank.register(api);
    const other = new BankClient(uniqueCode());
    await other.register(api);
    partnerId = String((await db.query('SELECT id FROM partners WHERE code = ?', [bank.code]))[0].id);
    const otherId = String((await db.query('SELECT id FROM partners WHERE code = ?', [other.code]))[0].id);

    // Exclusion facts, as their owning modules will write them.
    const rows = (users: string[], f: (u: string) => unknown[]) => users.map(f);
    await db.query('INSERT INTO user_preferences (user_id, prescreen_opt_out) VALUES ?', [rows(range(1000, 50), (u) => [u, 1])]);
    await db.query('INSERT INTO user_preferences (user_id, prescreen_opt_out) VALUES ?', [rows(range(1100, 10), (u) => [u, 0])]);
    await db.query('INSERT INTO partner_relationships (user_id, partner_id, kind) VALUES ?', [
      [
        ...rows(range(2000, 40), (u) => [u, partnerId, 'OPEN_APPLICATION']),
        ...rows(range(3000, 30), (u) => [u, partnerId, 'CARDHOLDER']),
        ...rows(range(4000, 20), (u) => [u, otherId, 'CARDHOLDER']),
      ],
    ]);
    await db.query('INSERT INTO partner_delinquencies (partner_id, user_id, dpd, amount_overdue, as_of) VALUES ?', [
      [
        ...rows(range(5000, 25), (u) => [otherId, u, 15, '120.00', '2026-11-01']),
        ...rows(range(6000, 10), (u) => [otherId, u, 0, '0.00', '2026-11-01']),
      ],
    ]);

    const product = (code: string) => ({
      code,
      partnerCode: bank.code,
      name: `Card ${code}`,
      criteria: CRITERIA,
      sharedFields: ['creditRecord.score'],
      consentText: 'I agree that my score is shared with the bank.',
      purpose: 'Credit card application',
    });
    productA = uniqueCode('CARD_A');
    productB = uniqueCode('CARD_B');
    for (const code of [productA, productB]) expect((await post('/v1/admin/card-products', product(code))).statusCode).toBe(201);
    ensureBuilt();
    worker = await startWorker();
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await worker?.close();
    // 100,000 users would slow every later pre-screen of the suite (which shares this database): remove them.
    const db = dataSourceOf(api);
    const like = `${PREFIX}%`;
    for (const table of ['offers', 'credit_record_snapshots', 'user_preferences', 'credit_records']) {
      await db.query(`DELETE FROM ${table} WHERE user_id LIKE ?`, [like]);
    }
    await api.close();
  });

  it('evaluates every current record in chunks, with counts that match the in-process evaluator, and makes one offer per eligible user', async () => {
    const id = await startRun(productA);
    const run = await untilEnded(id);
    firstRun = await expectedCounts();
    expect(firstRun.evaluated).toBeGreaterThanOrEqual(USERS);
    // The data exercises every reason and leaves a real share eligible.
    expect(firstRun.eligible).toBeGreaterThan(USERS / 10);
    for (const code of REASON_CODES) expect(firstRun.reasons[code]).toBeGreaterThan(0);
    expectRunToMatch(run, firstRun, firstRun.eligible);
    expect(run).toMatchObject({ id, productCode: productA, productVersion: 1 });
    expect(run.progress.chunks).toBeGreaterThanOrEqual(Math.ceil(USERS / 10_000));

    // Offers: exactly the eligible users, each pinned to the record version evaluated, still readable.
    expect(await liveOffers(productA)).toEqual(firstRun.eligibleUsers);
    const pinnedV2 = [...firstRun.eligibleUsers.values()].filter((v) => v === 2).length;
    expect(pinnedV2).toBeGreaterThan(0);
    const [ttl] = await db.query(
      `SELECT MIN(TIMESTAMPDIFF(HOUR, created_at, expires_at)) AS lo, MAX(TIMESTAMPDIFF(HOUR, created_at, expires_at)) AS hi,
              COUNT(DISTINCT run_id) AS runs FROM offers WHERE product_id = ?`,
      [await productId(productA)],
    );
    expect([Number(ttl.lo), Number(ttl.hi), Number(ttl.runs)]).toEqual([30 * 24, 30 * 24, 1]);

    const audits = await db.query(
      `SELECT action FROM audit_inbox WHERE resource_id = ? UNION ALL SELECT action FROM audit_events WHERE resource_id = ?`,
      [id, id],
    );
    expect(audits.map((a: { action: string }) => a.action).sort()).toEqual(['prescreen_run.completed', 'prescreen_run.created']);
  });

  it('opt-out withdraws the user’s live offers at once; an expired offer is no longer live', async () => {
    const candidates = [...firstRun.eligibleUsers.keys()].filter((u) => u.startsWith(PREFIX));
    optedOut = candidates[0];
    expiredUser = candidates[1];

    const before = await userGet(optedOut, '/v1/me/offers');
    expect(before.statusCode).toBe(200);
    expect(before.json()).toEqual({
      data: [
        {
          id: expect.stringMatching(OPAQUE_ID('ofr')),
          productCode: productA,
          productName: `Card ${productA}`,
          partner: { code: expect.any(String), name: expect.any(String) },
          status: 'LIVE',
          createdAt: expect.any(String),
          expiresAt: expect.any(String),
        },
      ],
      nextCursor: null,
    });

    const token = platformToken(['user'], optedOut);
    const res = await inject(api, {
      method: 'PUT',
      url: '/v1/me/preferences',
      headers: { authorization: `Bearer ${token}` },
      payload: { prescreenOptOut: true },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ prescreenOptOut: true, offersWithdrawn: 1, updatedAt: expect.any(String) });
    expect((await userGet(optedOut, '/v1/me/offers')).json()).toEqual({ data: [], nextCursor: null });
    expect(await db.query('SELECT status, live_key FROM offers WHERE user_id = ?', [optedOut])).toEqual([
      { status: 'WITHDRAWN', live_key: null },
    ]);

    const audit = await db.query(
      `SELECT actor_type, actor_id, subject_user_hash, details FROM audit_inbox WHERE action = 'user.preferences.updated' AND request_id = ?
       UNION ALL SELECT actor_type, actor_id, subject_user_hash, details FROM audit_events WHERE action = 'user.preferences.updated' AND request_id = ?`,
      [res.headers['x-request-id'], res.headers['x-request-id']],
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_type: 'user', subject_user_hash: expect.any(String) });
    expect(JSON.stringify(audit[0])).not.toContain(optedOut);
    expect(JSON.parse(audit[0].details)).toEqual({ prescreenOptOut: true, offersWithdrawn: [before.json().data[0].id] });

    await db.query('UPDATE offers SET expires_at = NOW(3) - INTERVAL 1 DAY WHERE user_id = ?', [expiredUser]);
    expect((await userGet(expiredUser, '/v1/me/offers')).json().data).toEqual([]);
  });

  it('a second run (started by the CLI, --wait) excludes the opted-out user, replaces only the expired offer, and makes no second live offer', async () => {
    const logs: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => void logs.push(line));
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const program = new Command().exitOverride();
      registerPrescreenCli(program);
      await program.parseAsync(['node', 'cli', 'prescreen:run', productA, '--wait', '--chunk-size', '20000', '--poll', '100']);
      expect(err).toHaveBeenCalledWith(expect.stringMatching(/run_1[a-z2-7]{26} (RUNNING|COMPLETED)/));
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const run = JSON.parse(logs[logs.length - 1]);
    secondRun = await expectedCounts();
    expect(secondRun.eligible).toBe(firstRun.eligible - 1);
    expect(secondRun.reasons.PRESCREEN_OPT_OUT).toBe(firstRun.reasons.PRESCREEN_OPT_OUT + 1);
    expectRunToMatch(run, secondRun, 1);
    // Full chunks of 20,000 plus the open-ended last one.
    expect(run.progress.chunks).toBe(Math.floor(secondRun.evaluated / 20_000) + 1);

    expect(await liveOffers(productA)).toEqual(secondRun.eligibleUsers);
    expect(await db.query('SELECT status FROM offers WHERE user_id = ? ORDER BY id', [expiredUser])).toEqual([
      { status: 'EXPIRED' },
      { status: 'LIVE' },
    ]);
    expect(await db.query('SELECT status FROM offers WHERE user_id = ?', [optedOut])).toEqual([{ status: 'WITHDRAWN' }]);
  });

  it('a run whose worker is SIGKILLed mid-way is finished by another worker with the same counts as an uninterrupted run', async () => {
    await worker!.close();
    worker = undefined;
    let output = '';
    child = spawn(process.execPath, [BUILT_GATEWAY, 'worker'], {
      cwd: ROOT,
      env: { ...process.env, WORKER_CONCURRENCY: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const id = await startRun(productB, { chunkSize: 2000 });

    const chunksDone = async () => {
      if (child!.exitCode !== null) throw new Error(`the worker exited early (${child!.exitCode}): ${output}`);
      const [row] = await db.query("SELECT COUNT(*) AS n FROM prescreen_chunks WHERE run_id = ? AND status = 'DONE'", [rowKey(id)]);
      return Number(row.n) >= 3;
    };
    await eventually(chunksDone, 60_000, 20);
    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    child = undefined;

    // Nothing runs now: the run is visibly part-way, its counts are those of the chunks that committed.
    const halfway = await getRun(id);
    expect(halfway.status).toBe('RUNNING');
    expect(halfway.progress.chunksDone).toBeGreaterThanOrEqual(3);
    // Planning commits a few chunks at a time while workers take the first ones, so the kill may land before the
    // plan is complete (chunks and total still unknown) or after it (part of the chunks done): both must resume.
    if (halfway.progress.chunks === null) {
      expect(halfway.progress.total).toBeNull();
    } else {
      expect(halfway.progress.chunksDone).toBeLessThan(halfway.progress.chunks);
      expect(halfway.progress.evaluated).toBeLessThan(halfway.progress.total);
    }
    const [sums] = await db.query(
      `SELECT COALESCE(SUM(offers_created), 0) AS offers FROM prescreen_chunks WHERE run_id = ? AND status = 'DONE'`,
      [rowKey(id)],
    );
    expect(halfway.counts.offersCreated).toBe(Number(sums.offers));
    expect((await liveOffers(productB)).size).toBe(halfway.counts.offersCreated);

    // Another worker takes over the killed worker's jobs once their locks lapse (lockDurationMs 5000 in tests).
    worker = await startWorker();
    const run = await untilEnded(id);
    expectRunToMatch(run, secondRun, secondRun.eligible);
    expect(await liveOffers(productB)).toEqual(secondRun.eligibleUsers);
    const [chunks] = await db.query(
      "SELECT COUNT(*) AS n, SUM(status = 'DONE') AS done, SUM(evaluated) AS evaluated FROM prescreen_chunks WHERE run_id = ?",
      [rowKey(id)],
    );
    expect(Number(chunks.done)).toBe(Number(chunks.n));
    expect(Number(chunks.evaluated)).toBe(secondRun.evaluated);
  });

  it('lists a user’s live offers of several products in creation order, paginated', async () => {
    const both = [...secondRun.eligibleUsers.keys()].find((u) => u.startsWith(PREFIX) && u !== expiredUser)!;
    const first = await userGet(both, '/v1/me/offers?limit=1');
    expect(first.statusCode).toBe(200);
    expect(first.json().data.map((o: { productCode: string }) => o.productCode)).toEqual([productA]);
    expect(first.json().nextCursor).toEqual(expect.any(String));
    const second = await userGet(both, `/v1/me/offers?limit=1&cursor=${first.json().nextCursor}`);
    expect(second.json()).toEqual({ data: [expect.objectContaining({ productCode: productB, status: 'LIVE' })], nextCursor: null });
    // Nobody sees another user's offers.
    expect((await userGet(`${PREFIX}nobody`, '/v1/me/offers')).json()).toEqual({ data: [], nextCursor: null });
  });
});
