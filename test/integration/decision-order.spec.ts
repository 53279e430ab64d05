import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource, QueryRunner } from 'typeorm';

import { DecisionFileProcessor } from '../../src/modules/decisions/decision-file.processor';
import { seedDeliveredReferrals } from '../../src/modules/decisions/decisions.bench';
import { dataSourceOf, eventually, startHttpApp } from '../support/app';
import { BankClient, inject, uniqueCode } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import { createProduct, registerPartner } from '../support/referral-flow';

/**
 * The lines of one referral are applied in line order, whatever chunks a bulk request or a decision file is cut into
 * and however those chunks run at once. The setup puts one referral's PENDING_REVIEW and APPROVED lines on the
 * boundary of two 200-line chunks, holds a row lock that stalls the first chunk, and lets the later chunk finish: an
 * APPROVED applied first would make the earlier PENDING_REVIEW a 409.
 */
jest.setTimeout(120_000);

describe('decision order', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let bank: BankClient;
  let token: string;
  let productCode: string;
  const now = () => new Date().toISOString();
  const statusOf = async (ref: string) => (await db.query('SELECT status FROM referrals WHERE id = ?', [rowKey(ref)]))[0].status;

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    bank = new BankClient(uniqueCode('DR'));
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    productCode = await createProduct(api, bank.code, ['applicant.name']);
    token = await bank.accessToken(api);
  });

  afterAll(async () => {
    await api?.close();
  });

  /**
   * 199 referrals with one line each, then the referral under test with PENDING_REVIEW and APPROVED (lines 200 and
   * 201, where a cut after every 200 lines falls), then 6 more referrals.
   */
  async function straddlingLines(prefix: string) {
    const refs = await seedDeliveredReferrals(db, { partnerCode: bank.code, productCode, count: 206, userIdPrefix: `${prefix}_` });
    const target = refs[199];
    const lines = refs.flatMap((referralId, i) =>
      i === 199
        ? [
            { referralId, decision: 'PENDING_REVIEW', decidedAt: now() },
            { referralId, decision: 'APPROVED', decidedAt: now() },
          ]
        : [{ referralId, decision: 'DECLINED', decidedAt: now() }],
    );
    return { refs, target, ndjson: lines.map((l) => JSON.stringify(l)).join('\n') };
  }

  /** Holds the first referral's row lock (the first chunk's first lock) until released. */
  async function holdRowLock(ref: string): Promise<QueryRunner> {
    const runner = db.createQueryRunner();
    await runner.connect();
    await runner.startTransaction('READ COMMITTED');
    await runner.query('SELECT id FROM referrals WHERE id = ? FOR UPDATE', [rowKey(ref)]);
    return runner;
  }

  /** Runs `work` while the first chunk is stalled; releases once the last referral (later chunk) is decided. */
  async function withFirstChunkStalled<T>(refs: string[], work: () => Promise<T>): Promise<T> {
    const lock = await holdRowLock(refs[0]);
    try {
      const running = work();
      await eventually(async () => (await statusOf(refs[205])) === 'DECLINED', 60_000);
      await lock.rollbackTransaction();
      return await running;
    } finally {
      if (lock.isTransactionActive) await lock.rollbackTransaction();
      await lock.release();
    }
  }

  it('bulk: a referral whose lines straddle two chunks running at once gets them in line order', async () => {
    const { refs, target, ndjson } = await straddlingLines(`${bank.code}B`);
    const res = await withFirstChunkStalled(refs, () =>
      inject(api, {
        method: 'POST',
        url: '/partner/v1/decisions',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
        payload: ndjson,
      }),
    );
    expect(res.statusCode).toBe(200);
    const results: { line: number; referralId: string; status: number }[] = res.json().results;
    expect(results.filter((r) => r.referralId === target).map((r) => [r.line, r.status])).toEqual([
      [200, 200],
      [201, 200],
    ]);
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(await statusOf(target)).toBe('APPROVED');
    const moves = await db.query('SELECT to_status FROM referral_timeline WHERE referral_id = ? ORDER BY id', [rowKey(target)]);
    expect(moves.map((m: { to_status: string }) => m.to_status).slice(-2)).toEqual(['PENDING_REVIEW', 'APPROVED']);
  });

  it('decision file: the same lines in a file are applied in line order too', async () => {
    const { refs, target, ndjson } = await straddlingLines(`${bank.code}F`);
    const upload = await inject(api, {
      method: 'POST',
      url: '/partner/v1/decision-files',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
      payload: ndjson,
    });
    expect(upload.statusCode).toBe(202);
    const fileId = rowKey(upload.json().id);
    const ctx = { jobId: 'test', attempt: 1, progress: async () => undefined, defer: () => Promise.reject(new Error('not deferred here')) };
    await withFirstChunkStalled(refs, () => api.get(DecisionFileProcessor).process({ fileId, correlationId: 'test' }, ctx));
    const answers = await db.query(
      'SELECT line, status FROM decision_file_results WHERE file_id = ? AND line IN (200, 201) ORDER BY line',
      [fileId],
    );
    expect(answers).toEqual([
      { line: 200, status: 200 },
      { line: 201, status: 200 },
    ]);
    expect(await statusOf(target)).toBe('APPROVED');
  });
  it('decision file: a crash between deciding lines and saving their answers leaves answers that say what happened', async () => {
    const [target] = await seedDeliveredReferrals(db, { partnerCode: bank.code, productCode, count: 1, userIdPrefix: `${bank.code}C_` });
    const ndjson = [
      { referralId: target, decision: 'PENDING_REVIEW', decidedAt: now() },
      { referralId: target, decision: 'APPROVED', decidedAt: now() },
    ]
      .map((l) => JSON.stringify(l))
      .join('\n');
    const upload = await inject(api, {
      method: 'POST',
      url: '/partner/v1/decision-files',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
      payload: ndjson,
    });
    const fileId = rowKey(upload.json().id);
    const ctx = { jobId: 'test', attempt: 1, progress: async () => undefined, defer: () => Promise.reject(new Error('not deferred here')) };
    // The crash: storing this file's answers fails (a trigger scoped to the file: the database is the run's, shared).
    const trigger = `decision_file_crash_${fileId}`;
    await db.query(
      `CREATE TRIGGER ${trigger} BEFORE INSERT ON decision_file_results FOR EACH ROW
       BEGIN
         IF NEW.file_id = ${Number(fileId)} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'test: crash before the answers'; END IF;
       END`,
    );
    try {
      await expect(api.get(DecisionFileProcessor).process({ fileId, correlationId: 'test' }, ctx)).rejects.toThrow();
    } finally {
      await db.query(`DROP TRIGGER IF EXISTS ${trigger}`);
    }
    // The job's next attempt.
    expect(await api.get(DecisionFileProcessor).process({ fileId, correlationId: 'test' }, ctx)).toEqual({ outcome: 'completed' });
    expect(await db.query('SELECT line, status FROM decision_file_results WHERE file_id = ? ORDER BY line', [fileId])).toEqual([
      { line: 1, status: 200 },
      { line: 2, status: 200 },
    ]);
    expect(await statusOf(target)).toBe('APPROVED');
    const moves = await db.query('SELECT to_status FROM referral_timeline WHERE referral_id = ? ORDER BY id', [rowKey(target)]);
    expect(moves.map((m: { to_status: string }) => m.to_status)).toEqual(['PENDING_REVIEW', 'APPROVED']);
  });
});
