import * as mysql from 'mysql2/promise';

import { rowKey } from '../support/public-ids';
import { Gateway, runStore, Store } from './support/gateway';
import { assertExactlyOnce, statuses } from './support/invariants';
import { Exit, OwnedProcess, until } from './support/processes';
import { applyAll, onboard } from './support/scenario';

type Rows = mysql.RowDataPacket[];

/** Docker's default stop timeout (docker-compose.yml sets none): SIGTERM, then SIGKILL this long after. */
const GRACE_MS = 10_000;

/**
 * SIGTERM, as an orchestrator stops a worker, while a job is active: the worker takes no new job, lets the active
 * one finish and commit, and exits within the grace period, before anything would SIGKILL it.
 */
describe('worker stopped with SIGTERM', () => {
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

  it('with packaging jobs active: they finish and commit, the process exits within the grace period', async () => {
    let worker = await Gateway.start('worker', store);
    const cohort = await onboard(api.baseUrl, 6, { applyNow: false });
    await worker.stop();
    await applyAll(api.baseUrl, cohort);

    // As in worker-crash: the packaging transaction of the last referral's batch writes READY, then waits on that
    // referral's event key, held here. (Jobs of other referrals may wait behind that batch's row locks, or be done.)
    const [[partner]] = await store.db.query<Rows>('SELECT id FROM partners WHERE code = ?', [cohort.partnerCode]);
    const last = cohort.referrals[cohort.referrals.length - 1];
    blocker = await store.db.getConnection();
    await blocker.beginTransaction();
    await blocker.query(
      "INSERT INTO partner_events (partner_id, event_type, txn, dedupe_key, set_jws) VALUES (?, 'referral.ready', 'blocker', ?, '')",
      [partner.id, `referral.ready:${rowKey(last)}`],
    );
    worker = await Gateway.start('worker', store);
    await until(
      'a packaging job active, waiting on the held key',
      async () => {
        const [[row]] = await store.db.query<Rows>(
          `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t
             JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
            WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE() AND t.trx_query LIKE 'INSERT INTO partner_events%'`,
        );
        return Number(row.n) === 1;
      },
      { watch: [worker.process] },
    );

    worker.process.signal('SIGTERM');
    // That job cannot have finished: its transaction still waits on the key held here.
    expect((await statuses(store.db, [last])).get(last)).toBe('PACKAGING');
    await blocker.rollback();
    blocker.release();
    blocker = undefined;

    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      worker.process.exited,
      new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), GRACE_MS))),
    ]);
    clearTimeout(timer);
    expect(outcome).not.toBe('still running');
    // Nest's shutdown hooks re-raise the signal once the application has closed: a clean stop ends "killed by
    // SIGTERM" (status 143), as orchestrators expect. Not SIGKILL, no error code.
    const { code, signal } = outcome as Exit;
    expect({ code, signal }).toEqual(code === 0 ? { code: 0, signal: null } : { code: null, signal: 'SIGTERM' });
    // No other worker ran meanwhile: the stopped worker finished the job and committed its batch before it exited.
    expect((await statuses(store.db, [last])).get(last)).toBe('READY');

    // A next worker relays what the packaging committed (events, timers) and chains the audit entries.
    worker = await Gateway.start('worker', store);
    await assertExactlyOnce(store.db, api.baseUrl, { referrals: cohort.referrals });
    await worker.stop();
  });
});
