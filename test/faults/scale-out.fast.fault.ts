import * as mysql from 'mysql2/promise';

import { apply } from '../support/referral-flow';
import { Gateway, runStore, Store } from './support/gateway';
import { send, socketApp } from './support/http';
import { assertExactlyOnce, countReady, statuses } from './support/invariants';
import { OwnedProcess, until } from './support/processes';
import { decisionBody, onboard } from './support/scenario';

const APPLICANTS = 12;

/**
 * Two api and two worker processes on one database and one Redis, as a scaled deployment runs: a burst of
 * applications spread over both api processes, both workers packaging and relaying, then every decision sent twice
 * at once, once to each api process. Every referral, file, event, decision and audit entry exists exactly once.
 */
describe('two api and two worker processes', () => {
  let store: Store;
  let apis: Gateway[];
  let workers: Gateway[];

  beforeAll(async () => {
    store = runStore();
    [apis, workers] = await Promise.all([
      Promise.all([Gateway.start('api', store), Gateway.start('api', store)]),
      Promise.all([Gateway.start('worker', store), Gateway.start('worker', store)]),
    ]);
  });

  afterAll(async () => {
    await OwnedProcess.killAll();
    await store.db.end();
  });

  it('a burst of applications and doubled decisions: no duplicated effect', async () => {
    const all = [...apis, ...workers].map((g) => g.process);
    const cohort = await onboard(apis[0].baseUrl, APPLICANTS, { applyNow: false });
    cohort.referrals = await Promise.all(cohort.users.map((user, i) => apply(socketApp(apis[i % 2].baseUrl), user, cohort.productCode)));
    await until('every referral READY', async () => (await countReady(store.db, cohort.referrals)) === APPLICANTS, {
      timeoutMs: 90_000,
      watch: all,
    });

    const fetched = await Promise.all(cohort.referrals.map((id) => cohort.bank.fetchReferral(id)));
    expect(fetched.map((f) => f.status)).toEqual(cohort.referrals.map(() => 200));
    const token = await cohort.bank.token();
    const decided = new Map(cohort.referrals.map((id, i) => [id, i % 3 === 0 ? 'DECLINED' : 'APPROVED']));
    const answers = await Promise.all(
      [...decided].flatMap(([id, decision]) => {
        const body = decisionBody(decision as 'APPROVED' | 'DECLINED');
        return apis.map((api) =>
          send(api.baseUrl, 'POST', `/partner/v1/referrals/${id}/decision`, { headers: { authorization: `Bearer ${token}` }, body }),
        );
      }),
    );
    // The same decision twice: the first applies it; the second is answered as that decision (200) or refused (409).
    expect(answers.filter((a) => a.status !== 200 && a.status !== 409).map((a) => `${a.status} ${a.body}`)).toEqual([]);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(APPLICANTS);
    expect(await statuses(store.db, cohort.referrals)).toEqual(decided);

    // The decisions' own jobs (cardholder rows, the bank's events) ran on either worker, each once.
    await until(
      'decision outbox rows done',
      async () => {
        const [[row]] = await store.db.query<mysql.RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM outbox WHERE status IN ('PENDING', 'ENQUEUED') AND job_name = 'decision.apply'",
        );
        return Number(row.n) === 0;
      },
      { timeoutMs: 60_000, watch: all },
    );
    await assertExactlyOnce(store.db, apis[1].baseUrl, { referrals: cohort.referrals, decided });
  });
});
