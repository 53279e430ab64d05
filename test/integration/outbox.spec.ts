import { INestApplicationContext } from '@nestjs/common';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';

import { TransactionRunner } from '../../src/infra/database/transaction.runner';
import { OutboxRelay } from '../../src/infra/outbox/outbox.relay';
import { outboxJobId, OutboxService } from '../../src/infra/outbox/outbox.service';
import { OutboxProbe } from '../../src/infra/outbox/outbox-probe';
import { JobQueues } from '../../src/infra/queues/job-queues';
import { eventually, startHttpApp, startWorker } from '../support/app';
import { deleteKeys } from '../support/global-teardown';

/** The outbox guarantees: a committed change has its job exactly once; a rolled-back one has none; Redis may be lost. */
describe('transactional outbox', () => {
  let api: INestApplicationContext;
  let db: DataSource;
  let relay: OutboxRelay;
  let queues: JobQueues;
  let probes: OutboxProbe;
  let redis: Redis;

  beforeAll(async () => {
    api = await startHttpApp('api'); // no worker: the test drives the relay by hand
    db = api.get(DataSource);
    relay = api.get(OutboxRelay);
    queues = api.get(JobQueues);
    probes = api.get(OutboxProbe);
    redis = new Redis(process.env.REDIS_URL!);
  });

  afterAll(async () => {
    redis.disconnect();
    await api.close();
  });

  const flushRedis = () => deleteKeys(redis, `${process.env.REDIS_PREFIX}*`);
  const probeRow = async (id: string) => (await db.query('SELECT handled_at, deliveries FROM outbox_probes WHERE id = ?', [id]))[0];
  const outboxRow = async (id: string) => (await db.query('SELECT * FROM outbox WHERE id = ?', [id]))[0];
  const relayAll = async () => {
    while ((await relay.relayBatch(500)) > 0);
  };

  async function runWorkerUntilDone(outboxId: string) {
    const worker = await startWorker();
    try {
      await eventually(async () => (await outboxRow(outboxId)).status === 'DONE');
    } finally {
      await worker.close();
    }
  }

  it('relays a committed row once even when the relay runs twice and a job with its id already exists', async () => {
    const { probeId, outboxId } = await probes.start('relay-twice', 'test');
    // A relay that enqueued and then died before marking the row: the job exists, the row is still PENDING.
    await queues.get('maintenance').add('outbox.probe', { probeId, correlationId: 'test' }, { jobId: outboxJobId(outboxId) });
    await relayAll();
    await relayAll();
    expect((await outboxRow(outboxId)).status).toBe('ENQUEUED');
    const jobs = await queues.get('maintenance').getJobs(['waiting', 'delayed', 'active']);
    expect(jobs.filter((j) => j.id === outboxJobId(outboxId))).toHaveLength(1);

    await runWorkerUntilDone(outboxId);
    const row = await probeRow(probeId);
    expect(row.handled_at).not.toBeNull();
    expect(row.deliveries).toBe(1);
  });

  it('loses nothing when Redis is flushed between commit and relay', async () => {
    const { probeId, outboxId } = await probes.start('flush-before-relay', 'test');
    await flushRedis();
    await relayAll();
    await runWorkerUntilDone(outboxId);
    expect((await probeRow(probeId)).deliveries).toBe(1);
  });

  it('re-enqueues a relayed job that Redis lost, once, and keeps a delayed job delayed', async () => {
    const { probeId, outboxId } = await probes.start('flush-after-relay', 'test');
    const delayed = await db.transaction(async (m) =>
      api.get(OutboxService).enqueue(m, 'maintenance', 'outbox.probe', { probeId, correlationId: 'delayed' }, { delayMs: 3_600_000 }),
    );
    await relayAll();
    expect(await queues.get('maintenance').getJobState(outboxJobId(delayed))).toBe('delayed');
    await flushRedis();
    expect(await queues.get('maintenance').getJobState(outboxJobId(outboxId))).toBe('unknown');

    await eventually(async () => (await relay.sweep(0, 500)).reenqueued > 0);
    await relay.sweep(0, 500); // a second sweep finds the jobs present and adds nothing
    const job = await queues.get('maintenance').getJob(outboxJobId(delayed));
    expect(await job!.getState()).toBe('delayed');
    expect(job!.delay).toBeGreaterThan(3_500_000);
    expect(job!.delay).toBeLessThanOrEqual(3_600_000);

    await runWorkerUntilDone(outboxId);
    expect((await probeRow(probeId)).deliveries).toBe(1);
    expect((await outboxRow(delayed)).status).toBe('ENQUEUED');
    await job!.remove();
  });

  it('enqueues nothing for a rolled-back transaction', async () => {
    const before = (await db.query('SELECT COALESCE(MAX(id), 0) AS max FROM outbox'))[0].max;
    await expect(
      api.get(TransactionRunner).run(async (m) => {
        await api.get(OutboxService).enqueue(m, 'maintenance', 'outbox.probe', { probeId: '0', correlationId: 'rollback' });
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    await relayAll();
    const after = await db.query('SELECT id FROM outbox WHERE id > ?', [before]);
    expect(after).toHaveLength(0);
  });

  it('refuses to write an outbox row outside a transaction', async () => {
    await expect(
      api.get(OutboxService).enqueue(db.manager, 'maintenance', 'outbox.probe', { probeId: '0', correlationId: 'x' }),
    ).rejects.toThrow(/inside the business transaction/);
  });
});
