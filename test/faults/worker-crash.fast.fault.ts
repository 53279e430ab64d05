import * as mysql from 'mysql2/promise';

import { rowKey } from '../support/public-ids';
import { Gateway, runStore, Store } from './support/gateway';
import { assertExactlyOnce, countReady } from './support/invariants';
import { OwnedProcess, until } from './support/processes';
import { applyAll, onboard } from './support/scenario';

/**
 * A worker process killed with SIGKILL (no shutdown hook, its BullMQ lock left to expire) at the worst moments of the
 * referral path: inside the packaging transaction, and before it could relay committed outbox rows. Another worker
 * picks the work up; every referral still ends READY once, with one file, one event and one audit entry.
 */
describe('worker killed with kill -9', () => {
  let store: Store;
  let api: Gateway;
  let blocker: mysql.PoolConnection | undefined;

  beforeAll(async () => {
    store = runStore();
    api = await Gateway.start('api', store);
  });

  afterAll(async () => {
    blocker?.release();
    await OwnedProcess.killAll();
    await store.db.end();
  });

  it('mid-packaging: the batch rolls back and the next worker packages each referral once, one file each', async () => {
    let worker = await Gateway.start('worker', store);
    const cohort = await onboard(api.baseUrl, 12, { applyNow: false });
    await worker.kill9();
    await applyAll(api.baseUrl, cohort);
    const keys = cohort.referrals.map(rowKey);

    // Hold the event key of the batch's last referral in an open transaction: the packaging transaction has then
    // moved its referrals to READY and waits on that key, so the worker dies with the batch written and uncommitted.
    const [[partner]] = await store.db.query<mysql.RowDataPacket[]>('SELECT id FROM partners WHERE code = ?', [cohort.partnerCode]);
    const last = keys[keys.length - 1];
    blocker = await store.db.getConnection();
    await blocker.beginTransaction();
    await blocker.query(
      "INSERT INTO partner_events (partner_id, event_type, txn, dedupe_key, set_jws) VALUES (?, 'referral.ready', 'blocker', ?, '')",
      [partner.id, `referral.ready:${last}`],
    );
    const dirty = await store.db.getConnection();
    await dirty.query('SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED');
    try {
      worker = await Gateway.start('worker', store);
      await until(
        'the packaging transaction holding READY rows uncommitted',
        async () => {
          const [[row]] = await dirty.query<mysql.RowDataPacket[]>(
            "SELECT COUNT(*) AS n FROM referrals WHERE id IN (?) AND status = 'READY'",
            [keys],
          );
          return Number(row.n) === keys.length;
        },
        { watch: [worker.process] },
      );
      expect(await countReady(store.db, cohort.referrals)).toBe(0);
      await worker.kill9();
    } finally {
      dirty.release();
    }
    await blocker.rollback();
    blocker.release();
    blocker = undefined;
    expect(await countReady(store.db, cohort.referrals)).toBe(0);

    // The killed worker's jobs stall; the next worker (or the sweeper) runs them again.
    worker = await Gateway.start('worker', store);
    await until('every referral READY', async () => (await countReady(store.db, cohort.referrals)) === keys.length, {
      timeoutMs: 60_000,
      watch: [worker.process, api.process],
    });
    await assertExactlyOnce(store.db, api.baseUrl, { referrals: cohort.referrals });
    await worker.stop();
  });

  it('between commit and relay: rows committed while no worker runs are relayed by the next one', async () => {
    let worker = await Gateway.start('worker', store);
    const cohort = await onboard(api.baseUrl, 6, { applyNow: false });
    await worker.kill9();
    await applyAll(api.baseUrl, cohort);
    const [pending] = await store.db.query<mysql.RowDataPacket[]>(
      "SELECT id FROM outbox WHERE status = 'PENDING' AND job_name = 'referral.package' AND JSON_VALUE(payload, '$.referralId') IN (?)",
      [cohort.referrals.map(rowKey)],
    );
    expect(pending).toHaveLength(cohort.referrals.length);

    worker = await Gateway.start('worker', store);
    await until('every referral READY', async () => (await countReady(store.db, cohort.referrals)) === cohort.referrals.length, {
      timeoutMs: 60_000,
      watch: [worker.process],
    });
    await assertExactlyOnce(store.db, api.baseUrl, { referrals: cohort.referrals });
    await worker.stop();
  });
});
