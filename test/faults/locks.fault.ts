import { Job, Queue } from 'bullmq';
import * as mysql from 'mysql2/promise';

import { bullConnection } from '../../src/infra/queues/redis-connection';
import { rowKey } from '../support/public-ids';
import { Gateway, runStore, Store } from './support/gateway';
import { assertExactlyOnce, countReady, statuses } from './support/invariants';
import { OwnedProcess, until } from './support/processes';
import { applyAll, Cohort, onboard } from './support/scenario';
import { untilFound } from './support/waits';

type Rows = mysql.RowDataPacket[];

/** Rows the other writer of the deadlock case writes first: InnoDB rolls back the lighter of two deadlocked transactions. */
const OTHER_WRITER_ROWS = 2000;

/**
 * Lock faults on the referral path, with real worker processes: a deadlock InnoDB resolves by rolling the gateway's
 * transaction back (the TransactionRunner runs it again), and a job whose BullMQ lock runs out while its handler is
 * still inside its transaction (a second worker runs it again). Either way every referral is packaged once.
 */
describe('lock faults', () => {
  let store: Store;
  let api: Gateway;
  const held: mysql.PoolConnection[] = [];

  beforeAll(async () => {
    store = runStore();
    api = await Gateway.start('api', store);
  });

  afterAll(async () => {
    for (const c of held) c.destroy();
    await OwnedProcess.killAll();
    await store.db.query('DROP TABLE IF EXISTS fault_other_writer');
    await store.db.end();
  });

  /** A cohort whose referrals are applied for while no worker runs: PACKAGING, their jobs still in the outbox. */
  async function waitingCohort(n: number, prefix: string, env: Record<string, string> = {}): Promise<Cohort> {
    const worker = await Gateway.start('worker', store, env);
    const cohort = await onboard(api.baseUrl, n, { applyNow: false, prefix });
    await worker.stop();
    await applyAll(api.baseUrl, cohort);
    return cohort;
  }

  /** A connection of the suite's own holding, uncommitted, the referral.ready event key of a referral. */
  async function holdEventKey(cohort: Cohort, referralKey: string, conn?: mysql.PoolConnection): Promise<mysql.PoolConnection> {
    const [[partner]] = await store.db.query<Rows>('SELECT id FROM partners WHERE code = ?', [cohort.partnerCode]);
    const holder = conn ?? (await store.db.getConnection());
    if (!conn) {
      held.push(holder);
      await holder.beginTransaction();
    }
    await holder.query(
      "INSERT INTO partner_events (partner_id, event_type, txn, dedupe_key, set_jws) VALUES (?, 'referral.ready', 'fault-holder', ?, '')",
      [partner.id, `referral.ready:${referralKey}`],
    );
    return holder;
  }

  /** Waits until a packaging transaction has moved these referrals to READY, uncommitted (a dirty read sees it). */
  async function untilPackagingInFlight(keys: string[], worker: Gateway): Promise<void> {
    // A connection of its own: a pooled one would go back to the pool still reading uncommitted rows.
    const dirty = await mysql.createConnection({ uri: store.databaseUrl });
    try {
      await dirty.query('SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED');
      await until(
        'a packaging transaction holding READY rows uncommitted',
        async () => {
          const [[row]] = await dirty.query<Rows>("SELECT COUNT(*) AS n FROM referrals WHERE id IN (?) AND status = 'READY'", [keys]);
          return Number(row.n) === keys.length;
        },
        { timeoutMs: 60_000, watch: [worker.process] },
      );
    } finally {
      await dirty.end();
    }
  }

  it('a forced deadlock: InnoDB rolls the packaging transaction back, the TransactionRunner re-runs it, both writes land once', async () => {
    const cohort = await waitingCohort(3, 'DLK');
    const keys = cohort.referrals.map(rowKey);

    // The other writer: a transaction of the suite's own, heavier than the packaging batch (so InnoDB picks the
    // gateway's as the victim), holding the event key the batch will insert last.
    await store.db.query(
      'CREATE TABLE IF NOT EXISTS fault_other_writer (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, note VARCHAR(32) NOT NULL)',
    );
    const other = await store.db.getConnection();
    held.push(other);
    await other.beginTransaction();
    await other.query('INSERT INTO fault_other_writer (note) VALUES ?', [Array.from({ length: OTHER_WRITER_ROWS }, (_, i) => [`w${i}`])]);
    await holdEventKey(cohort, keys[keys.length - 1], other);

    // The batch locks the referrals, moves them to READY, then waits for the key the other writer holds ...
    const worker = await Gateway.start('worker', store);
    await untilPackagingInFlight(keys, worker);
    // ... and the other writer asks for a referral the batch holds: a cycle. InnoDB breaks it at once by rolling
    // back the lighter transaction; this statement returning (rather than failing with ER_LOCK_DEADLOCK) says the
    // gateway's was the one rolled back.
    const [locked] = await other.query<Rows>('SELECT id FROM referrals WHERE id = ? FOR UPDATE', [keys[0]]);
    expect(locked).toHaveLength(1);
    await until('the worker re-running its transaction after the deadlock', () =>
      worker.process.output().includes('deadlock, retrying transaction'),
    );
    // Nothing can package the referrals the other writer holds (the first one's row, the last one's event key).
    const now = await statuses(store.db, cohort.referrals);
    expect([now.get(cohort.referrals[0]), now.get(cohort.referrals[keys.length - 1])]).toEqual(['PACKAGING', 'PACKAGING']);

    // The other writer gives its key back and commits its own rows; the re-run batch (and the referral jobs that
    // waited) then package every referral.
    // By the unique key: a DELETE that scans would lock the gateway's fresh event rows and deadlock again.
    await other.query('DELETE FROM partner_events WHERE partner_id = (SELECT id FROM partners WHERE code = ?) AND dedupe_key = ?', [
      cohort.partnerCode,
      `referral.ready:${keys[keys.length - 1]}`,
    ]);
    await other.commit();
    await until('every referral READY', async () => (await countReady(store.db, cohort.referrals)) === keys.length, {
      timeoutMs: 60_000,
      watch: [worker.process],
    });
    // One deadlock, the forced one: the gateway's own transactions never formed a cycle among themselves.
    expect(worker.process.output().match(/deadlock, retrying transaction/g)).toHaveLength(1);
    await assertExactlyOnce(store.db, api.baseUrl, { referrals: cohort.referrals });
    const [[written]] = await store.db.query<Rows>('SELECT COUNT(*) AS n FROM fault_other_writer');
    expect(Number(written.n)).toBe(OTHER_WRITER_ROWS);
    await worker.stop();
  });

  it('a handler blocked past its lock: a second worker runs the job again, the referral is packaged once', async () => {
    // Short locks, checked as often (JobWorkers: stalledInterval = lockDuration), so the takeover comes quickly.
    const env = { WORKER_LOCK_DURATION_MS: '2000' };
    const cohort = await waitingCohort(1, 'STALL', env);
    const [key] = cohort.referrals.map(rowKey);
    const holder = await holdEventKey(cohort, key);
    const queue = new Queue('referrals', {
      connection: bullConnection({ redisUrl: store.redisUrl, redis: {} }),
      prefix: store.redisPrefix,
    });
    try {
      const first = await Gateway.start('worker', store, env);
      await untilPackagingInFlight([key], first);
      const job = await untilFound('the packaging job active', async () => {
        const active = await queue.getJobs(['active']);
        return active.find((j: Job) => j.name === 'referral.package' && String(j.data.referralId) === key) ?? false;
      });

      // The first worker stops renewing its lock, as a handler blocking the event loop (or a paused VM) would: its
      // transaction stays open, its job's lock runs out.
      first.process.signal('SIGSTOP');
      const second = await Gateway.start('worker', store, env);
      // The second worker's stall check finds the expired lock and runs the job again: the handler's second run.
      await until(
        'the stalled job taken over by the second worker',
        async () => {
          const again = await queue.getJob(job.id!);
          return again !== undefined && again.stalledCounter >= 1 && (await again.getState()) === 'active';
        },
        // Generous: on the busy shared machine a takeover has once taken over 30 s (docs/RELIABILITY.md).
        { timeoutMs: 90_000, watch: [second.process] },
      );

      // Both runs now go on: the first commits its batch, the second finds the referral READY under its lock.
      await holder.rollback();
      first.process.signal('SIGCONT');
      await until('the referral READY', async () => (await countReady(store.db, cohort.referrals)) === 1, {
        timeoutMs: 30_000,
        watch: [first.process, second.process],
      });
      await until('the job completed', async () => (await (await queue.getJob(job.id!))?.getState()) === 'completed', {
        timeoutMs: 30_000,
      });
      expect((await queue.getJob(job.id!))!.stalledCounter).toBe(1);
      await assertExactlyOnce(store.db, api.baseUrl, { referrals: cohort.referrals });
      await Promise.all([first.stop(), second.stop()]);
    } finally {
      await queue.close();
    }
  });
});
