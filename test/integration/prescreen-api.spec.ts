import { randomBytes } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Command } from 'commander';
import { DataSource } from 'typeorm';

import { register as registerPrescreenCli } from '../../src/cli/commands/prescreen';
import { AppConfigService } from '../../src/infra/config/app-config';
import { outboxJobId } from '../../src/infra/outbox/outbox.service';
import { JobContext } from '../../src/infra/queues/job-handler.decorator';
import { JobQueues } from '../../src/infra/queues/job-queues';
import { importLines, syntheticLines } from '../../src/modules/credit-records/credit-records.bulk-import';
import { CreditRecordsService } from '../../src/modules/credit-records/credit-records.service';
import { PrescreenExecution } from '../../src/modules/prescreening/prescreen-execution.service';
import { PrescreenJobsProcessor } from '../../src/modules/prescreening/prescreen-jobs.processor';
import { eventually, startHttpApp, startWorker } from '../support/app';
import { failJobForGood } from '../support/lost-job';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';
import { OPAQUE_ID, rowKey } from '../support/public-ids';

/**
 * The operator and applicant endpoints of pre-screening, their refusals, and the job handlers driven by hand (no
 * worker here): planning and chunks are idempotent, and a chunk's final failure fails the run visibly.
 */
describe('pre-screen runs: API, refusals, idempotent and failing jobs', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let jobs: PrescreenJobsProcessor;
  let bankCode: string;
  const prefix = `pa${randomBytes(3).toString('hex')}_`;

  const bearer = (roles: Parameters<typeof platformToken>[0], sub?: string) => ({ authorization: `Bearer ${platformToken(roles, sub)}` });
  const startRun = (code: string, payload?: object, headers: Record<string, string> = adminHeaders()) =>
    inject(api, { method: 'POST', url: `/v1/admin/card-products/${code}/prescreen-runs`, headers, payload });
  const getRun = (id: string, headers: Record<string, string> = adminHeaders()) =>
    inject(api, { method: 'GET', url: `/v1/admin/prescreen-runs/${id}`, headers });
  const putPreferences = (sub: string, payload: unknown, headers: Record<string, string> = bearer(['user'], sub)) =>
    inject(api, { method: 'PUT', url: '/v1/me/preferences', headers, payload: payload as object });
  const ctx = (attempt: number): JobContext => ({
    jobId: `test-${attempt}`,
    attempt,
    progress: async () => undefined,
    defer: () => Promise.reject(new Error('not deferred here')),
  });
  const createProduct = async (extra: Record<string, unknown> = {}) => {
    const code = uniqueCode('CARD');
    const res = await inject(api, {
      method: 'POST',
      url: '/v1/admin/card-products',
      headers: adminHeaders(),
      payload: {
        code,
        partnerCode: bankCode,
        name: 'Gold',
        criteria: [{ field: 'score', op: '>=', value: 600, reason: 'SCORE_TOO_LOW' }],
        sharedFields: ['creditRecord.score'],
        consentText: 'I agree.',
        purpose: 'Credit card application',
        ...extra,
      },
    });
    expect(res.statusCode).toBe(201);
    return code;
  };

  beforeAll(async () => {
    api = await startHttpApp('api');
    db = api.get(DataSource);
    jobs = api.get(PrescreenJobsProcessor);
    await importLines(api.get(CreditRecordsService), syntheticLines({ users: 2500, seed: 'prescreen-api', userIdPrefix: prefix }));
    const bank = new BankClient(uniqueCode());
    await bank.register(api);
    bankCode = bank.code;
  });

  afterAll(async () => {
    // Runs this spec started and left to the queue finish here, not in a later spec's worker over that spec's users.
    const worker = await startWorker();
    try {
      await eventually(async () => {
        const [{ open }] = await db.query(`SELECT COUNT(*) AS open FROM prescreen_runs WHERE status IN ('QUEUED', 'RUNNING')`);
        return Number(open) === 0;
      }, 120_000);
    } finally {
      await worker.close();
      await api.close();
    }
  }, 180_000);

  describe('POST /v1/admin/card-products/{code}/prescreen-runs', () => {
    it('queues a run pinned to the current version: run row, planning job in the outbox and audit entry together', async () => {
      const code = await createProduct();
      const headers = { ...bearer(['admin'], 'ops-lee'), 'idempotency-key': `k-${code}` };
      const res = await startRun(code, undefined, headers);
      expect(res.statusCode).toBe(202);
      const { id } = res.json();
      expect(id).toMatch(OPAQUE_ID('run'));

      const view = await getRun(id);
      expect(view.statusCode).toBe(200);
      expect(view.json()).toEqual({
        id,
        productCode: code,
        productVersion: 1,
        status: 'QUEUED',
        progress: { evaluated: 0, total: null, chunksDone: 0, chunks: null },
        counts: { eligible: 0, ineligible: 0, offersCreated: 0 },
        reasons: {
          SCORE_TOO_LOW: 0,
          PRESCREEN_OPT_OUT: 0,
          CURRENTLY_OVERDUE: 0,
          OPEN_APPLICATION: 0,
          EXISTING_CARDHOLDER: 0,
          PARTNER_DELINQUENCY: 0,
        },
        createdAt: expect.any(String),
        startedAt: null,
        finishedAt: null,
      });
      const outbox = await db.query(
        "SELECT queue, status FROM outbox WHERE job_name = 'prescreen.plan' AND JSON_VALUE(payload, '$.runId') = ?",
        [rowKey(id)],
      );
      expect(outbox).toEqual([{ queue: 'prescreening', status: 'PENDING' }]);
      const audit = await db.query(
        `SELECT actor_type, http_status, details FROM audit_inbox WHERE action = 'prescreen_run.created' AND resource_id = ?
         UNION ALL SELECT actor_type, http_status, details FROM audit_events WHERE action = 'prescreen_run.created' AND resource_id = ?`,
        [id, id],
      );
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ actor_type: 'admin', http_status: 202 });
      expect(JSON.parse(audit[0].details)).toEqual({ productCode: code, productVersion: 1, chunkSize: 10_000 });

      // The same Idempotency-Key replays the answer instead of starting a second run.
      const again = await startRun(code, undefined, headers);
      expect(again.statusCode).toBe(202);
      expect(again.json()).toEqual({ id });
      const [count] = await db.query(
        'SELECT COUNT(*) AS n FROM prescreen_runs r JOIN card_products p ON p.id = r.product_id WHERE p.code = ?',
        [code],
      );
      expect(Number(count.n)).toBe(1);
    });

    it('refuses without an admin token, for an unknown or suspended product, and with a bad body', async () => {
      const code = await createProduct();
      expect((await startRun(code, undefined, {})).statusCode).toBe(401);
      expect((await startRun(code, undefined, bearer(['user']))).statusCode).toBe(403);

      const unknown = await startRun('NO_SUCH_PRODUCT');
      expect(unknown.statusCode).toBe(404);
      expect(unknown.headers['content-type']).toContain('application/problem+json');

      const small = await startRun(code, { chunkSize: 10 });
      expect(small.statusCode).toBe(400);
      expect(small.json().errors).toEqual([expect.objectContaining({ field: 'chunkSize' })]);
      const extra = await startRun(code, { productVersion: 1 });
      expect(extra.statusCode).toBe(400);
      expect(extra.json().errors).toEqual([{ field: 'productVersion', message: 'is not an accepted field' }]);

      const suspended = await createProduct({ status: 'SUSPENDED' });
      const refused = await startRun(suspended);
      expect(refused.statusCode).toBe(409);
      expect(refused.json().type).toBe('https://errors.referral-gateway.dev/card-product-suspended');
      const [runs] = await db.query(
        'SELECT COUNT(*) AS n FROM prescreen_runs r JOIN card_products p ON p.id = r.product_id WHERE p.code IN (?)',
        [[code, suspended]],
      );
      expect(Number(runs.n)).toBe(0);
    });
  });

  describe('GET /v1/admin/prescreen-runs/{id}', () => {
    it('answers 404 for ids it never issued and 403 for non-admins', async () => {
      for (const id of ['run_999999999', 'run_0', 'run_abc', '42', 'ofr_1']) {
        const res = await getRun(id);
        expect(res.statusCode).toBe(404);
        expect(res.json()).toMatchObject({ status: 404, detail: 'No such pre-screen run' });
      }
      expect((await getRun('run_1', bearer(['compliance']))).statusCode).toBe(403);
    });
  });

  describe('job handlers', () => {
    it('plan and chunks are idempotent: run twice, every user is counted and offered once', async () => {
      const code = await createProduct();
      // About four chunks whatever else this test run's database holds.
      const [all] = await db.query('SELECT COUNT(*) AS n FROM credit_records');
      const chunkSize = Math.max(1000, Math.ceil(Number(all.n) / 4));
      const { id } = (await startRun(code, { chunkSize })).json();
      const runId = rowKey(id);

      const planned = (await jobs.plan({ runId, correlationId: 't' }, ctx(1))) as { planned: boolean; chunks: number };
      expect(planned).toMatchObject({ planned: true });
      expect(await jobs.plan({ runId, correlationId: 't' }, ctx(2))).toEqual({ planned: false, reason: 'already-planned' });
      const chunks = planned.chunks;
      const [rows] = await db.query('SELECT COUNT(*) AS n FROM prescreen_chunks WHERE run_id = ?', [runId]);
      expect(Number(rows.n)).toBe(chunks);
      const [queued] = await db.query(
        "SELECT COUNT(*) AS n FROM outbox WHERE job_name = 'prescreen.chunk' AND JSON_VALUE(payload, '$.runId') = ?",
        [runId],
      );
      expect(Number(queued.n)).toBe(chunks);
      expect((await getRun(id)).json()).toMatchObject({
        status: 'RUNNING',
        progress: { chunksDone: 0, chunks },
        startedAt: expect.any(String),
      });

      for (let chunkNo = 0; chunkNo < chunks; chunkNo++) {
        expect(await jobs.chunk({ runId, chunkNo, correlationId: 't' }, ctx(1))).toMatchObject({ evaluated: expect.any(Number) });
      }
      const done = (await getRun(id)).json();
      for (let chunkNo = 0; chunkNo < chunks; chunkNo++) {
        expect(await jobs.chunk({ runId, chunkNo, correlationId: 't' }, ctx(2))).toEqual({ skipped: 'already-done' });
      }
      const after = (await getRun(id)).json();
      expect(after).toEqual(done);
      expect(after.status).toBe('COMPLETED');
      const [users] = await db.query('SELECT COUNT(*) AS n FROM credit_records');
      expect(after.progress.evaluated).toBe(Number(users.n));
      expect(after.counts.eligible + after.counts.ineligible).toBe(Number(users.n));
      const [offers] = await db.query('SELECT COUNT(*) AS n, COUNT(DISTINCT user_id) AS users FROM offers WHERE run_id = ?', [runId]);
      expect(Number(offers.n)).toBe(after.counts.offersCreated);
      expect(Number(offers.users)).toBe(after.counts.offersCreated);
      expect(after.counts.offersCreated).toBe(after.counts.eligible);
    });

    it('a chunk that fails is retried until it succeeds; one BullMQ gives up on makes the run FAILED with a reason an operator can read', async () => {
      const code = await createProduct();
      const { id } = (await startRun(code)).json();
      const runId = rowKey(id);
      await jobs.plan({ runId, correlationId: 't' }, ctx(1));
      // A pinned definition the engine cannot compile (stored rules are normally validated): every attempt fails.
      await db.query(`UPDATE card_product_versions v JOIN card_products p ON p.id = v.product_id SET v.criteria = ? WHERE p.code = ?`, [
        JSON.stringify([{ field: 'no.such.field', op: '>=', value: 1, reason: 'X' }]),
        code,
      ]);
      await expect(jobs.chunk({ runId, chunkNo: 0, correlationId: 't' }, ctx(1))).rejects.toThrow();
      expect((await getRun(id)).json()).toMatchObject({ status: 'RUNNING', finishedAt: null });
      // Past the old last attempt (8) the run is still RUNNING: the chunk's policy retries it until it succeeds.
      await expect(jobs.chunk({ runId, chunkNo: 0, correlationId: 't' }, ctx(9))).rejects.toThrow();
      expect((await getRun(id)).json()).toMatchObject({ status: 'RUNNING', finishedAt: null });

      // BullMQ gives up on the chunk (here: its attempts run out at once): the worker's final-failure hook tells the run.
      await api.get(JobQueues).add('prescreening', 'prescreen.chunk', { runId, chunkNo: 0, correlationId: 't' }, { attempts: 1 });
      const worker = await startWorker();
      try {
        await eventually(async () => (await getRun(id)).json().status === 'FAILED');
      } finally {
        await worker.close();
      }
      const failed = (await getRun(id)).json();
      expect(failed).toMatchObject({
        status: 'FAILED',
        failureReason: 'chunk 0 was abandoned by the job queue',
        finishedAt: expect.any(String),
      });
      expect(JSON.stringify(failed)).not.toContain('no.such.field');
      // Later deliveries of the run's jobs change nothing.
      expect(await jobs.chunk({ runId, chunkNo: 0, correlationId: 't' }, ctx(1))).toEqual({ skipped: 'run-ended' });
      expect((await getRun(id)).json()).toEqual(failed);
      const [audit] = await db.query(
        `SELECT COUNT(*) AS n FROM (SELECT id FROM audit_inbox WHERE action = 'prescreen_run.failed' AND resource_id = ?
          UNION ALL SELECT seq FROM audit_events WHERE action = 'prescreen_run.failed' AND resource_id = ?) a`,
        [id, id],
      );
      expect(Number(audit.n)).toBe(1);
    });
    it('a run whose job BullMQ abandoned (it stalled too often) becomes FAILED once the outbox sweeper finds it', async () => {
      const code = await createProduct();
      const { id } = (await startRun(code)).json();
      const runId = rowKey(id);
      const [{ id: outboxId, job_token }] = await db.query(
        `SELECT id, job_token FROM outbox WHERE job_name = 'prescreen.plan' AND JSON_UNQUOTE(JSON_EXTRACT(payload, '$.runId')) = ?`,
        [runId],
      );
      const jobId = outboxJobId(String(outboxId), job_token);
      // Relayed a minute ago (job in BullMQ, row ENQUEUED); lifo, so the manual fetch below takes this job and no other.
      await api.get(JobQueues).get('prescreening').add('prescreen.plan', { runId, correlationId: 't' }, { jobId, lifo: true, attempts: 1 });
      await db.query(`UPDATE outbox SET status = 'ENQUEUED', enqueued_at = NOW(3) - INTERVAL 1 MINUTE WHERE id = ?`, [outboxId]);
      // What BullMQ does to a job whose workers keep dying mid-job: fails it for good, without any handler or hook of ours.
      await failJobForGood(api.get(AppConfigService).values, 'prescreening', jobId, 'job stalled more than allowable limit');
      expect(await api.get(JobQueues).get('prescreening').getJobState(jobId)).toBe('failed');
      expect((await getRun(id)).json()).toMatchObject({ status: 'QUEUED' });

      // The first attempt to fail the run hits a database error: the row stays ENQUEUED and the next sweep tries again.
      const fail = jest.spyOn(PrescreenExecution.prototype, 'fail').mockRejectedValueOnce(new Error('connection lost'));
      const worker = await startWorker({ OUTBOX_SWEEP_AFTER_SECONDS: '1', OUTBOX_SWEEP_INTERVAL_MS: '200' });
      let attempts: number;
      try {
        await eventually(async () => (await getRun(id)).json().status === 'FAILED');
      } finally {
        await worker.close();
        attempts = fail.mock.calls.filter(([run]) => String(run) === runId).length;
        fail.mockRestore();
      }
      expect(attempts).toBeGreaterThanOrEqual(2);
      const failed = (await getRun(id)).json();
      expect(failed).toMatchObject({
        status: 'FAILED',
        failureReason: 'planning was abandoned by the job queue',
        finishedAt: expect.any(String),
      });
      expect(await db.query('SELECT status, last_error FROM outbox WHERE id = ?', [outboxId])).toEqual([
        { status: 'FAILED', last_error: 'job stalled more than allowable limit' },
      ]);
      const [audit] = await db.query(
        `SELECT COUNT(*) AS n FROM (SELECT id FROM audit_inbox WHERE action = 'prescreen_run.failed' AND resource_id = ?
          UNION ALL SELECT seq FROM audit_events WHERE action = 'prescreen_run.failed' AND resource_id = ?) a`,
        [id, id],
      );
      expect(Number(audit.n)).toBe(1);
    });
  });

  describe('PUT /v1/me/preferences', () => {
    it('upserts the opt-out and back, and reads it back', async () => {
      const sub = `${prefix}pref_7`; // no credit record: other specs' runs are not affected
      expect((await inject(api, { method: 'GET', url: '/v1/me/preferences', headers: bearer(['user'], sub) })).json()).toEqual({
        prescreenOptOut: false,
        updatedAt: null,
      });
      expect((await putPreferences(sub, { prescreenOptOut: true })).json()).toMatchObject({ prescreenOptOut: true });
      expect(await db.query('SELECT prescreen_opt_out FROM user_preferences WHERE user_id = ?', [sub])).toEqual([{ prescreen_opt_out: 1 }]);
      const back = await putPreferences(sub, { prescreenOptOut: false });
      expect(back.statusCode).toBe(200);
      expect(back.json()).toEqual({ prescreenOptOut: false, offersWithdrawn: 0, updatedAt: expect.any(String) });
      expect((await inject(api, { method: 'GET', url: '/v1/me/preferences', headers: bearer(['user'], sub) })).json()).toMatchObject({
        prescreenOptOut: false,
      });
    });

    it('refuses bad bodies and principals other than the user', async () => {
      const sub = `${prefix}pref_8`;
      for (const body of [{}, { prescreenOptOut: 'yes' }, { prescreenOptOut: null }, { prescreenOptOut: true, userId: 'someone-else' }]) {
        const res = await putPreferences(sub, body);
        expect(res.statusCode).toBe(400);
        expect(res.headers['content-type']).toContain('application/problem+json');
      }
      expect((await putPreferences(sub, { prescreenOptOut: true }, {})).statusCode).toBe(401);
      expect((await putPreferences(sub, { prescreenOptOut: true }, bearer(['admin'], sub))).statusCode).toBe(403);
      expect(await db.query('SELECT 1 FROM user_preferences WHERE user_id = ?', [sub])).toEqual([]);
    });
  });

  describe('CLI', () => {
    let logs: string[];
    const run = async (...args: string[]) => {
      const program = new Command().exitOverride();
      registerPrescreenCli(program);
      await program.parseAsync(['node', 'cli', ...args]);
    };
    beforeEach(() => {
      logs = [];
      jest.spyOn(console, 'log').mockImplementation((line: string) => void logs.push(line));
      jest.spyOn(console, 'error').mockImplementation(() => undefined);
      jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    });
    afterEach(() => jest.restoreAllMocks());

    it('prescreen:run queues a run (audited as the operator) and prescreen:status shows it', async () => {
      const code = await createProduct();
      await run('prescreen:run', code);
      const started = JSON.parse(logs[0]);
      expect(started).toMatchObject({ id: expect.stringMatching(/^run_/), productCode: code, status: 'QUEUED' });
      await run('prescreen:status', started.id);
      expect(JSON.parse(logs[1])).toEqual(started);
      const [audit] = await db.query(
        `SELECT actor_type, actor_id FROM audit_inbox WHERE action = 'prescreen_run.created' AND resource_id = ?
         UNION ALL SELECT actor_type, actor_id FROM audit_events WHERE action = 'prescreen_run.created' AND resource_id = ?`,
        [started.id, started.id],
      );
      expect(audit).toMatchObject({ actor_type: 'admin', actor_id: expect.stringMatching(/^cli:/) });
    });

    it('refuses a bad chunk size, an unknown product and an unknown run', async () => {
      await expect(run('prescreen:run', 'ANY', '--chunk-size', '5')).rejects.toThrow(/chunk-size/);
      await expect(run('prescreen:run', 'NO_SUCH_PRODUCT')).rejects.toThrow(/No such card product/);
      await expect(run('prescreen:status', 'run_999999999')).rejects.toThrow(/No such pre-screen run/);
    });
  });
});
