import { Gateway, runStore, Store } from './support/gateway';
import { send } from './support/http';
import { OwnedProcess } from './support/processes';
import { onboard } from './support/scenario';

const LIMIT = 30;

/**
 * One partner flooding an api role of two processes (API_PROCESSES=2): the limit is one budget for that partner
 * across both processes (kept in Redis), the flood is answered 429 with retry-after, and another partner calling
 * meanwhile is not slowed down or refused.
 */
describe('a partner flooding two api processes', () => {
  let store: Store;
  let api: Gateway;

  beforeAll(async () => {
    store = runStore();
    const env = { API_PROCESSES: '2', RATE_LIMIT: String(LIMIT), RATE_LIMIT_WINDOW_SECONDS: '60' };
    [api] = await Promise.all([Gateway.start('api', store, env), Gateway.start('worker', store)]);
  });

  afterAll(async () => {
    await OwnedProcess.killAll();
    await store.db.end();
  });

  it('answers the flooding partner 429 past its budget and the other partner 200 throughout', async () => {
    const [flooder, neighbour] = [await onboard(api.baseUrl, 1, { prefix: 'FLOOD' }), await onboard(api.baseUrl, 1, { prefix: 'CALM' })];
    const [floodToken, calmToken] = [await flooder.bank.token(), await neighbour.bank.token()];
    const list = (token: string) =>
      send(api.baseUrl, 'GET', '/partner/v1/referrals?limit=1', { headers: { authorization: `Bearer ${token}` } });

    const [flood, calm] = await Promise.all([
      Promise.all(Array.from({ length: 3 * LIMIT }, () => list(floodToken))),
      Promise.all(Array.from({ length: LIMIT / 2 }, () => list(calmToken))),
    ]);
    expect(flood.filter((a) => a.status !== 200 && a.status !== 429).map((a) => `${a.status} ${a.body}`)).toEqual([]);
    // Two processes with a budget each would let up to 2 × LIMIT through.
    expect(flood.filter((a) => a.status === 200).length).toBeLessThanOrEqual(LIMIT);
    const refused = flood.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(2 * LIMIT);
    for (const answer of refused) expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(calm.map((a) => a.status)).toEqual(calm.map(() => 200));
  });
});
