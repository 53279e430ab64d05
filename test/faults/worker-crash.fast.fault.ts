import * as mysql from 'mysql2/promise';

import { rowKey } from '../support/public-ids';
import { Gateway, runStore, Store } from './support/gateway';
import { assertExactlyOnce, countReady, statuses } from './support/invariants';
import { OwnedProcess, until } from './support/processes';
import { PushReceiver } from './support/push-receiver';
import { applyAll, onboard } from './support/scenario';

type Rows = mysql.RowDataPacket[];

/**
 * A worker process killed with SIGKILL (no shutdown hook, its BullMQ lock left to expire) at the worst moments of the
 * referral path: inside the packaging transaction, before it could relay committed outbox rows, and after a bank
 * answered a push but before the worker recorded it. Another worker
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
    await blocker?.rollback().catch(() => undefined);
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

    // Hold the event key of the last referral in an open transaction: the packaging transaction of its batch has then
    // moved the batch's referrals to READY and waits on that key, so the worker dies with the batch written and
    // uncommitted. (The jobs may split the referrals into several batches; the others may commit or wait behind it.)
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
    let inFlight: string[];
    try {
      worker = await Gateway.start('worker', store);
      await until(
        'a packaging transaction waiting on the held key',
        async () => {
          const [[row]] = await dirty.query<mysql.RowDataPacket[]>(
            `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t
               JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
              WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE() AND t.trx_query LIKE 'INSERT INTO partner_events%'`,
          );
          return Number(row.n) === 1;
        },
        { watch: [worker.process] },
      );
      const [written] = await dirty.query<mysql.RowDataPacket[]>("SELECT id FROM referrals WHERE id IN (?) AND status = 'READY'", [keys]);
      const committed = await statuses(store.db, cohort.referrals);
      // The blocked batch: READY written, not committed.
      inFlight = cohort.referrals.filter((id) => written.some((w) => String(w.id) === rowKey(id)) && committed.get(id) === 'PACKAGING');
      expect(inFlight).toContain(cohort.referrals[cohort.referrals.length - 1]);
      await worker.kill9();
    } finally {
      dirty.destroy(); // not back into the pool: its session reads uncommitted rows
    }
    await blocker.rollback();
    blocker.release();
    blocker = undefined;
    // Nothing of the killed batch was committed.
    expect([...(await statuses(store.db, inFlight)).values()].filter((s) => s !== 'PACKAGING')).toEqual([]);

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

  it('right after a push got its answer: the bank sees the same SET again (same jti), the event is delivered once', async () => {
    // The first push's event row is locked before the bank answers it: the worker gets its 202, then waits to
    // record the delivery, and is killed there. The bank has the SET; MySQL still says PENDING.
    const receiver = new PushReceiver(async (push, index) => {
      if (index > 0) return;
      blocker = await store.db.getConnection();
      await blocker.beginTransaction();
      await blocker.query('SELECT id FROM partner_events WHERE id = ? FOR UPDATE', [rowKey(push.jti)]);
    });
    const pushEndpoint = await receiver.start();
    try {
      let worker = await Gateway.start('worker', store);
      const cohort = await onboard(api.baseUrl, 2, { pushEndpoint });
      await until(
        'the first push answered and its record waiting on the lock',
        async () => {
          const [[row]] = await store.db.query<Rows>(
            `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t
             JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
            WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE() AND t.trx_query LIKE 'UPDATE partner_events%'`,
          );
          return Number(row.n) === 1;
        },
        { timeoutMs: 60_000, watch: [worker.process, api.process] },
      );
      await worker.kill9();
      const killedAfter = receiver.received[0];
      await blocker!.rollback();
      blocker!.release();
      blocker = undefined;
      const [[unrecorded]] = await store.db.query<Rows>('SELECT push_status, push_attempts FROM partner_events WHERE id = ?', [
        rowKey(killedAfter.jti),
      ]);
      expect({ ...unrecorded }).toEqual({ push_status: 'PENDING', push_attempts: 0 });

      worker = await Gateway.start('worker', store);
      const [events] = await store.db.query<Rows>(
        "SELECT id, set_jws FROM partner_events WHERE txn IN (?) AND event_type = 'referral.ready'",
        [cohort.referrals],
      );
      expect(events).toHaveLength(2);
      await until(
        'every event delivered',
        async () => {
          const [rows] = await store.db.query<Rows>("SELECT id FROM partner_events WHERE id IN (?) AND push_status = 'DELIVERED'", [
            events.map((e) => e.id),
          ]);
          return rows.length === events.length;
        },
        { timeoutMs: 90_000, watch: [worker.process] },
      );

      // Decided: a push is at least once. The bank may get an event twice, but only as the same SET (same jti, same
      // bytes), which RFC 8935 receivers dedupe by jti; the gateway's own record of it stays single.
      const byJti = new Map<string, Set<string>>();
      for (const push of receiver.received) byJti.set(push.jti, (byJti.get(push.jti) ?? new Set()).add(push.body));
      const storedSets = new Set(events.map((e) => String(e.set_jws)));
      expect([...byJti.values()].map((bodies) => bodies.size)).toEqual([1, 1]);
      expect(receiver.received.every((push) => storedSets.has(push.body))).toBe(true);
      expect(receiver.received.filter((push) => push.jti === killedAfter.jti).length).toBeGreaterThanOrEqual(2);
      const [rows] = await store.db.query<Rows>('SELECT push_status, push_attempts FROM partner_events WHERE id IN (?)', [
        events.map((e) => e.id),
      ]);
      expect(rows.map((r) => ({ ...r }))).toEqual([
        { push_status: 'DELIVERED', push_attempts: 1 },
        { push_status: 'DELIVERED', push_attempts: 1 },
      ]);
      await until('the audit inbox chained', async () => {
        const [[row]] = await store.db.query<Rows>('SELECT COUNT(*) AS n FROM audit_inbox');
        return Number(row.n) === 0;
      });
      const [pushed] = await store.db.query<Rows>(
        "SELECT resource_id, COUNT(*) AS n FROM audit_events WHERE action = 'partner_event.pushed' AND resource_id IN (?) GROUP BY resource_id",
        [[...byJti.keys()]],
      );
      expect(pushed.map((r) => Number(r.n))).toEqual([1, 1]);
      await assertExactlyOnce(store.db, api.baseUrl, { referrals: cohort.referrals });
      await worker.stop();
    } finally {
      await receiver.stop();
    }
  });
});
