import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';

import { MetricsService } from '../../src/infra/metrics/metrics.service';
import { OutboxRelay } from '../../src/infra/outbox/outbox.relay';
import { outboxJobId } from '../../src/infra/outbox/outbox.service';
import { JobQueues } from '../../src/infra/queues/job-queues';
import { ReferralSlaProcessor } from '../../src/modules/sla/referral-sla.processor';
import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { deleteKeys } from '../support/global-teardown';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import { apply, createProduct, ingest, prescreen, userIds } from '../support/referral-flow';

/**
 * Decision SLAs: a delayed check per referral at its product's SLA flags it late (metric, audit, operator listing);
 * past SLA + grace it becomes EXPIRED with referral.expired. One SLA hour lasts REFERRAL_SLA_HOUR_MS here.
 */
jest.setTimeout(120_000);

const HOUR_MS = 4_000; // end-to-end product: 1 h SLA + 1 h grace = 8 s
const OVERRIDES = { REFERRAL_SLA_HOUR_MS: String(HOUR_MS), REFERRAL_SLA_GRACE_HOURS: '1' };

const createSlaProduct = (api: NestFastifyApplication, partnerCode: string, decisionSlaHours: number) =>
  createProduct(api, partnerCode, ['creditRecord.score'], { decisionSlaHours });

describe('decision SLA and expiry', () => {
  let api: NestFastifyApplication;
  let worker: INestApplicationContext | undefined;
  let db: DataSource;
  let processor: ReferralSlaProcessor;
  const bank = new BankClient(uniqueCode('SLA'));
  const otherBank = new BankClient(uniqueCode('SLAX'));
  let shortProduct: string; // 1 h SLA: runs out during the test
  let longProduct: string; // 72 h SLA (~5 min here): driven by hand
  const users = userIds(6);
  const key = rowKey;

  const referral = async (id: string) =>
    (await db.query('SELECT status, sla_breached_at, expires_at, created_at FROM referrals WHERE id = ?', [key(id)]))[0];
  const slaOutbox = async (id: string, job: string) =>
    db.query(
      `SELECT id, status, delay_ms FROM outbox WHERE queue = 'sla' AND job_name = ? AND JSON_UNQUOTE(JSON_EXTRACT(payload, '$.referralId')) = ? ORDER BY id`,
      [job, key(id)],
    );
  const events = async (id: string, type: string) =>
    db.query('SELECT id, dedupe_key FROM partner_events WHERE txn = ? AND event_type = ?', [id, type]);
  const openApplication = async (id: string) =>
    db.query(`SELECT 1 FROM partner_relationships WHERE referral_id = ? AND kind = 'OPEN_APPLICATION'`, [key(id)]);
  const auditActions = async (id: string) =>
    (
      await db.query(
        `SELECT action FROM audit_inbox WHERE resource_id = ? AND actor_id = 'sla' UNION ALL SELECT action FROM audit_events WHERE resource_id = ? AND actor_id = 'sla'`,
        [id, id],
      )
    ).map((r: { action: string }) => r.action);
  const lateList = (query: string, headers: Record<string, string> = adminHeaders()) =>
    inject(api, { method: 'GET', url: `/v1/admin/referrals/late${query}`, headers });
  const pastDeadline = (id: string, ms: number) =>
    db.query('UPDATE referrals SET expires_at = NOW(3) - INTERVAL ? MICROSECOND WHERE id = ?', [ms * 1000, key(id)]);
  const waitReady = (id: string) => eventually(async () => (await referral(id)).status === 'READY', 30_000, 100);

  beforeAll(async () => {
    api = await startHttpApp('api', OVERRIDES);
    worker = await startWorker(OVERRIDES);
    db = dataSourceOf(api);
    processor = api.get(ReferralSlaProcessor);
    await bank.register(api);
    await otherBank.register(api);
    shortProduct = await createSlaProduct(api, bank.code, 1);
    longProduct = await createSlaProduct(api, bank.code, 72);
    await ingest(api, users);
    await prescreen(api, shortProduct);
    await prescreen(api, longProduct);
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
  });

  it('writes the check with the referral: deadline = createdAt + SLA, a delayed outbox row of the same length', async () => {
    const id = await apply(api, users[0], longProduct);
    const r = await referral(id);
    expect(new Date(r.expires_at).getTime() - new Date(r.created_at).getTime()).toBe(72 * HOUR_MS);
    expect(await slaOutbox(id, 'referral.sla-check')).toEqual([expect.objectContaining({ delay_ms: 72 * HOUR_MS })]);
  });

  it('flags a referral late at its SLA and expires it past SLA + grace, telling the bank once', async () => {
    const id = await apply(api, users[1], shortProduct);
    await waitReady(id);
    const flagged = await eventually(async () => ((await referral(id)).sla_breached_at ? referral(id) : undefined), 30_000, 100);
    expect(flagged.sla_breached_at).not.toBeNull();
    const expired = await eventually(async () => ((await referral(id)).status === 'EXPIRED' ? referral(id) : undefined), 30_000, 100);
    expect(expired.status).toBe('EXPIRED');
    expect(await events(id, 'referral.expired')).toEqual([expect.objectContaining({ dedupe_key: `referral.expired:${key(id)}` })]);
    expect(await openApplication(id)).toEqual([]);
    expect(await auditActions(id)).toEqual(expect.arrayContaining(['referral.sla.breached', 'referral.expired']));
    // The applicant's timeline shows the move, made by the system.
    const app = await inject(api, {
      method: 'GET',
      url: `/v1/me/applications/${id}`,
      headers: { authorization: `Bearer ${platformToken(['user'], users[1])}` },
    });
    expect(app.json().status).toBe('EXPIRED');
    // No longer late: an expired referral is final.
    expect(await lateList(`?partner=${bank.code}`).then((res) => res.json().data.map((r: { id: string }) => r.id))).not.toContain(id);
  });

  it('a check before the deadline writes itself again for the remaining time; after it, flags once', async () => {
    const id = await apply(api, users[2], longProduct);
    await waitReady(id);
    expect(await processor.check({ referralId: key(id), correlationId: 'test' })).toEqual({ outcome: 'early' });
    const rows = await slaOutbox(id, 'referral.sla-check');
    expect(rows).toHaveLength(2);
    expect(rows[1].delay_ms).toBeGreaterThan(0);
    expect(rows[1].delay_ms).toBeLessThanOrEqual(72 * HOUR_MS);
    expect((await referral(id)).sla_breached_at).toBeNull();

    const metrics = api.get(MetricsService);
    const breaches = async () =>
      (await metrics.referralSlaBreaches.get()).values.find((v) => v.labels.partner === bank.code && v.labels.product === longProduct)
        ?.value ?? 0;
    const before = await breaches();
    await pastDeadline(id, 1_000);
    expect(await processor.check({ referralId: key(id), correlationId: 'test' })).toEqual({ outcome: 'flagged' });
    expect(await processor.check({ referralId: key(id), correlationId: 'test' })).toEqual({ outcome: 'already-flagged' });
    expect(await breaches()).toBe(before + 1);
    expect((await referral(id)).sla_breached_at).not.toBeNull();
    expect((await referral(id)).status).toBe('READY');
    // One expiry, scheduled for deadline + grace.
    const expiry = await slaOutbox(id, 'referral.expire');
    expect(expiry).toHaveLength(1);
    expect(expiry[0].delay_ms).toBeGreaterThan(0);
    expect(expiry[0].delay_ms).toBeLessThanOrEqual(HOUR_MS);
    expect(await auditActions(id)).toEqual(['referral.sla.breached']);

    // Late listing: past SLA, not final; filters by partner and product; another partner's filter excludes it.
    const listed = (await lateList(`?partner=${bank.code}&product=${longProduct}`)).json();
    expect(listed.data).toContainEqual({
      id,
      partnerCode: bank.code,
      productCode: longProduct,
      status: 'READY',
      createdAt: expect.any(String),
      expiresAt: expect.any(String),
      slaBreachedAt: expect.any(String),
    });
    expect((await lateList(`?partner=${otherBank.code}`)).json()).toEqual({ data: [], nextCursor: null });

    // Expiry before deadline + grace is early; after it, EXPIRED with one event; again: nothing more.
    expect(await processor.expire({ referralId: key(id), correlationId: 'test' })).toEqual({ outcome: 'early' });
    await pastDeadline(id, HOUR_MS + 1_000);
    expect(await processor.expire({ referralId: key(id), correlationId: 'test' })).toEqual({ outcome: 'expired' });
    expect(await processor.expire({ referralId: key(id), correlationId: 'test' })).toEqual({ outcome: 'final' });
    expect((await referral(id)).status).toBe('EXPIRED');
    expect(await events(id, 'referral.expired')).toHaveLength(1);
    expect(await openApplication(id)).toEqual([]);
    expect((await lateList(`?product=${longProduct}`)).json().data.map((r: { id: string }) => r.id)).not.toContain(id);
  });

  it('leaves a referral decided before the timers alone (the decision wins the race)', async () => {
    const id = await apply(api, users[3], longProduct);
    await waitReady(id);
    await db.query(`UPDATE referrals SET status = 'APPROVED', decided_at = NOW(3) WHERE id = ?`, [key(id)]);
    await pastDeadline(id, HOUR_MS + 1_000);
    expect(await processor.check({ referralId: key(id), correlationId: 'test' })).toEqual({ outcome: 'final' });
    expect(await processor.expire({ referralId: key(id), correlationId: 'test' })).toEqual({ outcome: 'final' });
    const r = await referral(id);
    expect(r).toMatchObject({ status: 'APPROVED', sla_breached_at: null });
    expect(await events(id, 'referral.expired')).toEqual([]);
    expect(await slaOutbox(id, 'referral.expire')).toEqual([]);
    expect(await processor.check({ referralId: '999999999', correlationId: 'test' })).toEqual({ outcome: 'missing' });
  });

  it('late listing: operators only, validated query', async () => {
    expect((await lateList('', { authorization: `Bearer ${platformToken(['platform'])}` })).statusCode).toBe(403);
    expect((await lateList('', {})).statusCode).toBe(401);
    expect((await lateList('?limit=0')).statusCode).toBe(400);
    expect((await lateList('?partner=not%20a%20code')).statusCode).toBe(400);
    expect((await lateList('?cursor=garbage!')).statusCode).toBe(400);
  });

  it('recreates a delayed SLA check lost with Redis once it is due, not before', async () => {
    const id = await apply(api, users[4], longProduct);
    const [row] = await slaOutbox(id, 'referral.sla-check');
    await eventually(async () => (await db.query('SELECT status FROM outbox WHERE id = ?', [row.id]))[0].status === 'ENQUEUED', 20_000, 50);
    // Stop the worker (its own sweeper would race us), then lose Redis.
    await worker!.close();
    worker = undefined;
    const redis = new Redis(process.env.REDIS_URL!);
    try {
      await deleteKeys(redis, `${process.env.REDIS_PREFIX}*`);
    } finally {
      redis.disconnect();
    }
    const queue = api.get(JobQueues).get('sla');
    const [{ job_token }] = await db.query('SELECT job_token FROM outbox WHERE id = ?', [row.id]);
    const jobId = outboxJobId(row.id, job_token);
    expect(await queue.getJobState(jobId)).toBe('unknown');

    // Not due: the sweeper does not ask Redis about it.
    await api.get(OutboxRelay).sweep(0, 500);
    expect(await queue.getJobState(jobId)).toBe('unknown');

    // Its deadline reached (the row's clock moved back instead): added again, due at once.
    await db.query(
      `UPDATE outbox SET created_at = created_at - INTERVAL delay_ms * 1000 MICROSECOND,
              check_at = check_at - INTERVAL delay_ms * 1000 MICROSECOND WHERE id = ?`,
      [row.id],
    );
    await eventually(
      async () => (await api.get(OutboxRelay).sweep(0, 500)).reenqueued > 0 && (await queue.getJobState(jobId)) !== 'unknown',
      10_000,
      50,
    );
    const job = (await queue.getJob(jobId))!;
    expect(job.data).toEqual({ referralId: key(id), correlationId: expect.any(String) });
    expect(job.opts.delay).toBe(0);
  });
});
