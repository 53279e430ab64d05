import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { JobContext } from '../../src/infra/queues/job-handler.decorator';
import { DecisionFileProcessor } from '../../src/modules/decisions/decision-file.processor';
import { DecisionFilesRepository } from '../../src/modules/decisions/decision-files.repository';
import { seedDeliveredReferrals } from '../../src/modules/decisions/decisions.bench';
import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';
import { OPAQUE_ID, rowKey } from '../support/public-ids';
import { createProduct, registerPartner } from '../support/referral-flow';

/**
 * Decision files on real MariaDB and Redis: NDJSON and CSV files with good and bad lines decided by a worker, every
 * line answered on its own (the bulk endpoint's answers), status and progress, pagination, another partner's file
 * as 404, the job run twice (and resumed) answering each line once, and an operator uploading for a partner.
 */
jest.setTimeout(120_000);

describe('decision files', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let bank: BankClient;
  let other: BankClient;
  let token: string;
  let otherToken: string;
  let refs: string[];
  let otherRefs: string[];
  const now = () => new Date().toISOString();
  const key = rowKey;
  const upload = (body: string, contentType: string, t = token) =>
    inject(api, {
      method: 'POST',
      url: '/partner/v1/decision-files',
      headers: { authorization: `Bearer ${t}`, 'content-type': contentType },
      payload: body,
    });
  const view = (id: string, t = token, query = '') =>
    inject(api, { method: 'GET', url: `/partner/v1/decision-files/${id}${query}`, headers: { authorization: `Bearer ${t}` } });
  const statusOf = async (ref: string) => (await db.query('SELECT status FROM referrals WHERE id = ?', [key(ref)]))[0].status;
  const completed = async (id: string, t = token) => {
    const res = await view(id, t, '?limit=500');
    return res.json().status === 'COMPLETED' ? res.json() : undefined;
  };
  const typeOf = (code: string) => `https://errors.referral-gateway.dev/${code}`;
  const ctx = (progress: object[] = []): JobContext => ({
    jobId: 'test',
    attempt: 1,
    progress: async (p) => void progress.push(p as object),
    defer: () => Promise.reject(new Error('not deferred here')),
  });

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    bank = new BankClient(uniqueCode('DF'));
    other = new BankClient(uniqueCode('DG'));
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    await registerPartner(api, other.code, { keys: [other.publicJwk()] });
    const productCode = await createProduct(api, bank.code, ['applicant.name']);
    const otherProduct = await createProduct(api, other.code, ['applicant.name']);
    refs = await seedDeliveredReferrals(db, { partnerCode: bank.code, productCode, count: 20, userIdPrefix: `${bank.code}_` });
    otherRefs = await seedDeliveredReferrals(db, {
      partnerCode: other.code,
      productCode: otherProduct,
      count: 2,
      userIdPrefix: `${other.code}_`,
    });
    token = await bank.accessToken(api);
    otherToken = await other.accessToken(api);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('decides an NDJSON file in a worker: every line answered on its own, status and progress, another partner gets 404', async () => {
    const lines = [
      JSON.stringify({ referralId: refs[0], decision: 'APPROVED', decidedAt: now(), creditLimit: '12000.00', cardLast4: '1111' }),
      '{not json',
      JSON.stringify({ referralId: refs[1], decision: 'DECLINED', decidedAt: 'yesterday' }),
      '',
      JSON.stringify({ referralId: otherRefs[0], decision: 'DECLINED', decidedAt: now() }),
      JSON.stringify({ referralId: refs[1], decision: 'DECLINED', decidedAt: now(), declineReasons: ['INCOME'] }),
      JSON.stringify({ referralId: refs[0], decision: 'DECLINED', decidedAt: now() }),
    ];
    const res = await upload(lines.join('\n') + '\n', 'application/x-ndjson');
    expect(res.statusCode).toBe(202);
    const { id, status } = res.json();
    expect(status).toBe('QUEUED');
    expect(id).toMatch(OPAQUE_ID('dcf'));

    // Nothing is decided before a worker runs the job; the file says so.
    const queued = await view(id);
    expect(queued.statusCode).toBe(200);
    expect(queued.json()).toMatchObject({
      id,
      format: 'NDJSON',
      status: 'QUEUED',
      progress: { processed: 0, total: 6 },
      results: [],
      nextCursor: null,
    });
    expect(await statusOf(refs[0])).toBe('DELIVERED');

    const worker = await startWorker();
    let done: {
      status: string;
      progress: object;
      results: {
        line: number;
        referralId: string | null;
        status: number;
        problem?: { type: string; errors?: { field: string | null }[] };
      }[];
    };
    try {
      done = await eventually(() => completed(id), 30_000);
    } finally {
      await worker.close();
    }
    expect(done.progress).toEqual({ processed: 6, total: 6 });
    expect(done.results.map((r) => [r.line, r.referralId, r.status])).toEqual([
      [1, refs[0], 200],
      [2, null, 400],
      [3, refs[1], 400],
      [5, otherRefs[0], 404],
      [6, refs[1], 200],
      [7, refs[0], 409],
    ]);
    expect(done.results[0].problem).toBeUndefined();
    expect(done.results[1].problem?.errors).toEqual([{ field: null, message: 'is not valid JSON' }]);
    expect(done.results[2].problem?.errors?.map((e) => e.field)).toEqual(['decidedAt']);
    expect(done.results[3].problem?.type).toBe(typeOf('not-found'));
    expect(done.results[5].problem?.type).toBe(typeOf('decision-conflict'));
    expect([await statusOf(refs[0]), await statusOf(refs[1]), await statusOf(otherRefs[0])]).toEqual(['APPROVED', 'DECLINED', 'DELIVERED']);

    // Another partner's file is not found, exactly like a file that does not exist.
    for (const [fileId, t] of [
      [id, otherToken],
      ['dcf_999999999', token],
      ['ref_1', token],
    ]) {
      const r = await view(fileId, t);
      expect([fileId, r.statusCode]).toEqual([fileId, 404]);
    }

    // Pages of answers in line order.
    const first = await view(id, token, '?limit=4');
    expect(first.json().results.map((r: { line: number }) => r.line)).toEqual([1, 2, 3, 5]);
    const second = await view(id, token, `?limit=4&cursor=${first.json().nextCursor}`);
    expect(second.json().results.map((r: { line: number }) => r.line)).toEqual([6, 7]);
    expect(second.json().nextCursor).toBeNull();
    expect((await view(id, token, '?limit=0')).statusCode).toBe(400);
  });

  it('decides a CSV file: a wrong column count or a bad value is a 400 on its line and never stops the file', async () => {
    const csv = [
      'referralId,decision,decidedAt,creditLimit,cardLast4,declineReasons',
      `${refs[2]},APPROVED,${now()},15000.00,4242,`,
      `"${refs[3]}","DECLINED","${now()}",,,"INCOME;HISTORY"`,
      `${refs[4]},APPROVED,${now()},15000.00`,
      `${refs[5]},APPROVED,${now()},15000.00,42a2,`,
      `${refs[6]},"DECLINED,${now()},,,`,
      '',
      `${refs[7]},PENDING_REVIEW,${now()},,,`,
    ].join('\r\n');
    const res = await upload(csv, 'text/csv; charset=utf-8');
    expect(res.statusCode).toBe(202);
    const worker = await startWorker();
    let done: {
      format: string;
      progress: object;
      results: {
        line: number;
        referralId: string | null;
        status: number;
        problem?: { errors?: { field: string | null; message: string }[] };
      }[];
    };
    try {
      done = await eventually(() => completed(res.json().id), 30_000);
    } finally {
      await worker.close();
    }
    expect(done.format).toBe('CSV');
    expect(done.progress).toEqual({ processed: 6, total: 6 });
    // Numbered as the file's lines: the header is line 1.
    expect(done.results.map((r) => [r.line, r.referralId, r.status])).toEqual([
      [2, refs[2], 200],
      [3, refs[3], 200],
      [4, null, 400],
      [5, refs[5], 400],
      [6, null, 400],
      [8, refs[7], 200],
    ]);
    expect(done.results[2].problem?.errors).toEqual([{ field: null, message: 'has 4 columns; the header has 6' }]);
    expect(done.results[3].problem?.errors?.map((e) => e.field)).toEqual(['cardLast4']);
    expect(done.results[4].problem?.errors?.[0].message).toMatch(/quotes/);
    const [declined] = await db.query('SELECT status, decision FROM referrals WHERE id = ?', [key(refs[3])]);
    expect(declined.status).toBe('DECLINED');
    expect((typeof declined.decision === 'string' ? JSON.parse(declined.decision) : declined.decision).declineReasons).toEqual([
      'INCOME',
      'HISTORY',
    ]);
    expect([await statusOf(refs[2]), await statusOf(refs[4]), await statusOf(refs[5]), await statusOf(refs[7])]).toEqual([
      'APPROVED',
      'DELIVERED',
      'DELIVERED',
      'PENDING_REVIEW',
    ]);
  });

  it('refuses a file that is not one as a whole: bad CSV header, no lines, other media types', async () => {
    const badHeader = await upload(`referralId,decision,when\n${refs[8]},APPROVED,${now()}\n`, 'text/csv');
    expect(badHeader.statusCode).toBe(400);
    expect(badHeader.json().errors).toEqual(
      expect.arrayContaining([
        { field: 'header.3', message: expect.any(String) },
        { field: 'header', message: 'must name the column decidedAt' },
      ]),
    );
    expect((await upload('referralId,decision,decidedAt\n\n', 'text/csv')).statusCode).toBe(400);
    expect((await upload('\n\n', 'application/x-ndjson')).statusCode).toBe(400);
    expect((await upload(JSON.stringify([{ referralId: refs[8] }]), 'application/json')).statusCode).toBe(415);
    expect((await upload('referralId', 'text/plain')).statusCode).toBe(415);
    expect(Number((await db.query('SELECT COUNT(*) AS n FROM decision_files WHERE body LIKE ?', [`%${refs[8]}%`]))[0].n)).toBe(0);
  });

  it('answers each line once when the job runs twice, and resumes after the lines already answered', async () => {
    const lines = [8, 9, 10].map((i) => JSON.stringify({ referralId: refs[i], decision: 'APPROVED', decidedAt: now() }));
    const res = await upload(lines.join('\n'), 'application/x-ndjson');
    const fileId = key(res.json().id);
    // As if an earlier run had answered line 1 and died: the re-run keeps that answer and does not decide the line.
    await db.query('INSERT INTO decision_file_results (file_id, line, referral_id, status, problem) VALUES (?, 1, ?, 200, NULL)', [
      fileId,
      refs[8],
    ]);
    const processor = api.get(DecisionFileProcessor);
    const progress: object[] = [];
    expect(await processor.process({ fileId, correlationId: 'test' }, ctx(progress))).toEqual({ outcome: 'completed' });
    expect(progress).toEqual([{ processed: 3, total: 3 }]);
    expect(await processor.process({ fileId, correlationId: 'test' }, ctx())).toEqual({ outcome: 'finished-already' });

    expect(await db.query('SELECT line, status FROM decision_file_results WHERE file_id = ? ORDER BY line', [fileId])).toEqual([
      { line: 1, status: 200 },
      { line: 2, status: 200 },
      { line: 3, status: 200 },
    ]);
    expect([await statusOf(refs[8]), await statusOf(refs[9]), await statusOf(refs[10])]).toEqual(['DELIVERED', 'APPROVED', 'APPROVED']);
    const applyJobs = await db.query(
      "SELECT JSON_UNQUOTE(JSON_EXTRACT(payload, '$.referralId')) AS r FROM outbox WHERE queue = 'decisions' AND job_name = 'decision.apply' AND JSON_UNQUOTE(JSON_EXTRACT(payload, '$.referralId')) IN (?)",
      [[key(refs[9]), key(refs[10])]],
    );
    expect(applyJobs).toHaveLength(2);

    // Even a run that finds the file still PROCESSING (two deliveries at once) leaves one answer per line.
    await db.query("UPDATE decision_files SET status = 'PROCESSING' WHERE id = ?", [fileId]);
    await processor.process({ fileId, correlationId: 'test' }, ctx());
    expect(Number((await db.query('SELECT COUNT(*) AS n FROM decision_file_results WHERE file_id = ?', [fileId]))[0].n)).toBe(3);
    expect(await processor.process({ fileId: '999999999', correlationId: 'test' }, ctx())).toEqual({ outcome: 'missing' });
  });

  it("keeps a partner out of another partner's file: 404 over HTTP, and no partner-scoped read without a partner", async () => {
    const res = await upload(
      `${JSON.stringify({ referralId: refs[12], decision: 'DECLINED', decidedAt: now() })}\n`,
      'application/x-ndjson',
    );
    expect(res.statusCode).toBe(202);
    const { id } = res.json();
    const [{ id: fileKey, partner_id: owner }] = await db.query(
      'SELECT f.id, f.partner_id FROM decision_files f JOIN partners p ON p.id = f.partner_id WHERE p.code = ? ORDER BY f.id DESC LIMIT 1',
      [bank.code],
    );

    const theirs = await view(id, otherToken);
    expect(theirs.statusCode).toBe(404);
    expect(theirs.headers['content-type']).toContain('application/problem+json');
    expect(theirs.body).not.toContain(bank.code);
    expect((await view(id)).statusCode).toBe(200);

    // The partner-scoped read has no form that drops the partner filter: an empty partner id is refused outright.
    const files = api.get(DecisionFilesRepository);
    const [{ id: otherPartner }] = await db.query('SELECT id FROM partners WHERE code = ?', [other.code]);
    expect(await files.findOfPartner(String(otherPartner), String(fileKey))).toBeUndefined();
    expect((await files.findOfPartner(String(owner), String(fileKey)))?.id).toBe(String(fileKey));
    for (const missing of ['', undefined as unknown as string]) {
      await expect(files.findOfPartner(missing, String(fileKey))).rejects.toThrow(/partner/);
    }
  });

  it('lets an operator upload on a partner’s behalf, audited with the operator as actor', async () => {
    const operator = `operator-${uniqueCode('OP').toLowerCase()}`;
    const headers = { authorization: `Bearer ${platformToken(['admin'], operator)}`, 'content-type': 'text/csv' };
    const csv = `referralId,decision,decidedAt,declineReasons\n${refs[11]},DECLINED,${now()},POLICY\n`;
    const res = await inject(api, { method: 'POST', url: `/v1/admin/partners/${bank.code}/decision-files`, headers, payload: csv });
    expect(res.statusCode).toBe(202);
    const { id } = res.json();

    const worker = await startWorker();
    try {
      await eventually(() => completed(id), 30_000);
    } finally {
      await worker.close();
    }
    // The file is the partner's: the bank reads it, the other bank does not; operators read it through the admin API.
    expect((await view(id)).json().results).toEqual([{ line: 2, referralId: refs[11], status: 200 }]);
    expect((await view(id, otherToken)).statusCode).toBe(404);
    const adminView = await inject(api, { method: 'GET', url: `/v1/admin/decision-files/${id}`, headers: adminHeaders() });
    expect(adminView.json()).toMatchObject({ id, status: 'COMPLETED', progress: { processed: 1, total: 1 } });
    expect(await statusOf(refs[11])).toBe('DECLINED');

    const audited = async (action: string, resourceId: string) =>
      [
        ...(await db.query('SELECT actor_type, actor_id, partner_code, details FROM audit_inbox WHERE action = ? AND resource_id = ?', [
          action,
          resourceId,
        ])),
        ...(await db.query('SELECT actor_type, actor_id, partner_code, details FROM audit_events WHERE action = ? AND resource_id = ?', [
          action,
          resourceId,
        ])),
      ].map((r) => ({ ...r, details: typeof r.details === 'string' ? JSON.parse(r.details) : r.details }));
    expect(await audited('decision_file.uploaded', id)).toEqual([
      { actor_type: 'admin', actor_id: operator, partner_code: bank.code, details: expect.objectContaining({ format: 'CSV', lines: 1 }) },
    ]);
    const [decided] = await audited('referral.decided', refs[11]);
    expect(decided.details.uploadedBy).toEqual({ type: 'admin', id: operator });
    expect(
      await db.query('SELECT note FROM referral_timeline WHERE referral_id = ? AND to_status = ?', [key(refs[11]), 'DECLINED']),
    ).toEqual([{ note: 'decision file uploaded by an operator' }]);

    // An unknown partner, or a caller who is not an operator, cannot upload.
    expect(
      (await inject(api, { method: 'POST', url: '/v1/admin/partners/NO_SUCH_BANK/decision-files', headers, payload: csv })).statusCode,
    ).toBe(404);
    const asBank = await inject(api, {
      method: 'POST',
      url: `/v1/admin/partners/${bank.code}/decision-files`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
      payload: csv,
    });
    expect([401, 403]).toContain(asBank.statusCode);
  });
});
