import { DataSource } from 'typeorm';

import { bulkDecisionBodies, seedDeliveredReferrals } from '../../src/modules/decisions/decisions.bench';
import { fetchRetryingStaleSocket } from '../support/timing';
import { BenchBank } from './token';

export interface BulkDecisionsFigures {
  decisionsPerSec: number;
  seconds: number;
  decisions: number;
}

/** A partner access token with the decide scope, through the real token endpoint (RFC 7523 assertion). */
async function decideToken(baseUrl: string, publicBaseUrl: string, bank: BenchBank): Promise<string> {
  const body = `${bank.tokenRequestBody(`${publicBaseUrl}/oauth/token`)}&scope=referrals%3Adecide`;
  const res = await fetchRetryingStaleSocket(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  if (res.status !== 200) throw new Error(`decide token: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/**
 * Bulk decisions end to end: `count` DELIVERED referrals of the bank's product are seeded set-based (apply and
 * packaging are measured elsewhere), one decision each (half APPROVED, half DECLINED) is prepared as NDJSON bodies of
 * `linesPerBody` lines before the clock starts, then POST /partner/v1/decisions over real sockets, `connections` in
 * flight. The clock covers the requests only; every line must come back 200 (postBulkDecisions throws otherwise).
 */
export async function bulkDecisionsOverHttp(
  db: DataSource,
  api: { baseUrl: string; publicBaseUrl: string },
  bank: BenchBank,
  productCode: string,
  opts: { count: number; linesPerBody: number; connections: number },
): Promise<BulkDecisionsFigures> {
  const referralIds = await seedDeliveredReferrals(db, { partnerCode: bank.code, productCode, count: opts.count, userIdPrefix: 'bd_' });
  const bodies = bulkDecisionBodies(referralIds, opts.linesPerBody);
  // Access tokens live at most 15 minutes; the full run's 100,000 decisions take well under that.
  const token = await decideToken(api.baseUrl, api.publicBaseUrl, bank);
  const figures = await postBulkDecisions(api.baseUrl, token, bodies, opts.connections);
  if (figures.lines !== opts.count) throw new Error(`bulk decisions: ${figures.lines} lines answered, ${opts.count} sent`);
  return { decisionsPerSec: figures.linesPerSec, seconds: figures.seconds, decisions: figures.lines };
}

export interface BulkDecisionFigures {
  lines: number;
  seconds: number;
  linesPerSec: number;
}

/**
 * POSTs the bodies to /partner/v1/decisions at `baseUrl` with a partner access token (scope referrals:decide),
 * `connections` requests in flight. Every line must come back 200, else it throws: no speed for work not done.
 */
export async function postBulkDecisions(
  baseUrl: string,
  accessToken: string,
  bodies: Buffer[],
  connections = 2,
): Promise<BulkDecisionFigures> {
  let lines = 0;
  let next = 0;
  const started = process.hrtime.bigint();
  const lane = async () => {
    for (let i = next++; i < bodies.length; i = next++) {
      const res = await fetchRetryingStaleSocket(`${baseUrl}/partner/v1/decisions`, {
        method: 'POST',
        // One key per body: a body sent again after a stale socket is answered from the idempotency store.
        headers: {
          'content-type': 'application/x-ndjson',
          authorization: `Bearer ${accessToken}`,
          'idempotency-key': `bench-decisions-${i}`,
        },
        body: bodies[i],
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`bulk decisions body ${i}: HTTP ${res.status} ${text.slice(0, 300)}`);
      const { results } = JSON.parse(text) as { results: { status: number }[] };
      const bad = results.filter((r) => r.status !== 200);
      if (bad.length)
        throw new Error(`bulk decisions body ${i}: ${bad.length} lines not 200 (first: ${JSON.stringify(bad[0]).slice(0, 300)})`);
      lines += results.length;
    }
  };
  await Promise.all(Array.from({ length: Math.min(connections, bodies.length) }, lane));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { lines, seconds, linesPerSec: lines / seconds };
}
