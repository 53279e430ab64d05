import { DataSource } from 'typeorm';

import { keyOf, toPublicId } from '../../src/common/public-id';
import { mintDevelopmentPlatformToken } from '../../src/modules/auth/platform-token.dev';
import { HttpLoadFigures, runAutocannon } from '../support/autocannon';
import { BenchEnvironment } from '../support/env';
import { GatewayProcess, startGatewayProcess, stopChild } from '../support/processes';
import { fetchRetryingStaleSocket, runPool, sleep } from '../support/timing';
import { BenchBank } from './token';

/**
 * The referral paths of API.md end to end: applicants apply over HTTP (POST /v1/me/applications, one platform JWT
 * per user, for offers a real pre-screen run made), the packaging worker turns each referral into a signed file
 * (outbox → relay → BullMQ → worker → signed file stored → referral.ready event), and the bank fetches the files
 * (GET /partner/v1/referrals/{id}, authenticated, audited and recorded in the disclosure ledger before answering).
 */

export interface ApplyFigures {
  applicationsPerSec: number;
  seconds: number;
  referralIds: string[];
  /** Requests sent again (same Idempotency-Key) after failing on a stale keep-alive socket. */
  retried: number;
}

export interface PackagingFigures {
  referralsPerSec: number;
  seconds: number;
  referrals: number;
  /** Outbox rows of other kinds already waiting when the workers started (they compete for the same workers). */
  otherPending: number;
}

/**
 * `count` applicants, each with a LIVE offer of the product (from the pre-screen run), apply over real sockets to the
 * api process with the consent text version and digest the offer shows, `connections` requests in flight, each with
 * its own Idempotency-Key as an app would send. Tokens and bodies are prepared before the clock starts; every answer
 * must be 201. No worker runs meanwhile, so the outbox rows wait for the packaging figure.
 */
export async function applyOverHttp(
  db: DataSource,
  bench: BenchEnvironment,
  baseUrl: string,
  productCode: string,
  opts: { count: number; connections: number },
): Promise<ApplyFigures> {
  const offers: { id: string; user_id: string; text_version: number; text_sha256: string }[] = await db.query(
    `SELECT o.id, o.user_id, v.text_version, v.text_sha256
       FROM offers o JOIN card_products cp ON cp.id = o.product_id
       JOIN card_product_versions v ON v.product_id = o.product_id AND v.version = o.product_version
      WHERE cp.code = ? AND o.status = 'LIVE' AND o.expires_at > NOW(3)
      ORDER BY o.id LIMIT ?`,
    [productCode, opts.count],
  );
  if (offers.length < opts.count)
    throw new Error(`apply: ${offers.length} live offers of ${productCode}, ${opts.count} needed (ingest more users)`);
  const requests = offers.map((o, i) => ({
    token: mintDevelopmentPlatformToken(bench.config, { sub: o.user_id, roles: ['user'], expiresInSeconds: 7200 }),
    body: JSON.stringify({
      offerId: toPublicId('ofr', o.id),
      consent: { textVersion: Number(o.text_version), textSha256: o.text_sha256, accepted: true },
    }),
    key: `bench-apply-${i}`,
  }));
  const referralIds: string[] = new Array(requests.length);
  let retried = 0;
  const started = process.hrtime.bigint();
  await runPool(requests.length, opts.connections, async (i) => {
    const { token, body, key } = requests[i];
    const res = await fetchRetryingStaleSocket(
      `${baseUrl}/v1/me/applications`,
      { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': key }, body },
      () => retried++,
    );
    const text = await res.text();
    if (res.status !== 201) throw new Error(`apply ${i}: HTTP ${res.status} ${text.slice(0, 300)}`);
    referralIds[i] = (JSON.parse(text) as { id: string }).id;
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { applicationsPerSec: requests.length / seconds, seconds, referralIds, retried };
}

/**
 * Starts `workers` worker-role processes on the referrals waiting in PACKAGING and waits until every one is READY
 * with its file and its referral.ready event. The time is taken from the database, so process start-up stays out:
 * from the first referral.package outbox row handed to BullMQ (outbox.enqueued_at) to the last referral READY
 * (referrals.ready_at).
 */
export async function packageReferrals(
  db: DataSource,
  bench: BenchEnvironment,
  referralIds: string[],
  opts: { workers: number; timeoutMs: number },
): Promise<PackagingFigures> {
  const keys = referralIds.map((id) => keyOf('ref', id)!);
  const sorted = keys.map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const lo = String(sorted[0]);
  const hi = String(sorted[sorted.length - 1]);
  // Nothing else applies meanwhile, so the applied referrals are exactly one id range.
  const [range] = await db.query('SELECT COUNT(*) AS n FROM referrals WHERE id BETWEEN ? AND ?', [lo, hi]);
  if (Number(range.n) !== keys.length) throw new Error(`packaging: ${range.n} referrals in the id range of the ${keys.length} applied`);
  const [{ other }] = await db.query(
    "SELECT COUNT(*) AS other FROM outbox WHERE status = 'PENDING' AND job_name NOT IN ('referral.package', 'referral.sla-check')",
  );
  const workers: GatewayProcess[] = [];
  try {
    for (let i = 0; i < opts.workers; i++) workers.push(await startGatewayProcess(bench, 'worker'));
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const [{ waiting }] = await db.query("SELECT COUNT(*) AS waiting FROM referrals WHERE id BETWEEN ? AND ? AND status = 'PACKAGING'", [
        lo,
        hi,
      ]);
      if (Number(waiting) === 0) break;
      for (const w of workers) if (w.child.exitCode !== null) throw new Error(`packaging: a worker exited with ${w.child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`packaging: ${waiting} referrals still PACKAGING after ${opts.timeoutMs} ms`);
      await sleep(200);
    }
    // Outside the measured time: let the workers finish the jobs of referrals a batch already packaged (each a no-op
    // now), so that they do not spill into the next path's worker processes and compete with what that path measures.
    const drainDeadline = Date.now() + 300_000;
    for (;;) {
      const [{ open }] = await db.query(
        "SELECT COUNT(*) AS open FROM outbox WHERE job_name = 'referral.package' AND status IN ('PENDING', 'ENQUEUED') AND CAST(JSON_VALUE(payload, '$.referralId') AS UNSIGNED) BETWEEN ? AND ?",
        [lo, hi],
      );
      if (Number(open) === 0 || Date.now() > drainDeadline) break;
      await sleep(500);
    }
  } finally {
    for (const w of workers) await stopChild(w.child);
  }
  const [done] = await db.query(
    `SELECT COUNT(*) AS n, SUM(status = 'READY' AND file_enc IS NOT NULL AND file_sha256 IS NOT NULL) AS ready,
            MAX(ready_at) AS last_ready
       FROM referrals WHERE id BETWEEN ? AND ?`,
    [lo, hi],
  );
  if (Number(done.ready) !== keys.length) throw new Error(`packaging: ${done.ready} of ${keys.length} referrals READY with a file`);
  const [{ events }] = await db.query("SELECT COUNT(*) AS events FROM partner_events WHERE event_type = 'referral.ready' AND txn IN (?)", [
    referralIds,
  ]);
  if (Number(events) !== keys.length) throw new Error(`packaging: ${events} referral.ready events for ${keys.length} referrals`);
  const [{ first }] = await db.query(
    "SELECT MIN(enqueued_at) AS first FROM outbox WHERE job_name = 'referral.package' AND CAST(JSON_VALUE(payload, '$.referralId') AS UNSIGNED) BETWEEN ? AND ?",
    [lo, hi],
  );
  const seconds = (new Date(done.last_ready).getTime() - new Date(first).getTime()) / 1000;
  return { referralsPerSec: keys.length / seconds, seconds, referrals: keys.length, otherPending: Number(other) };
}

/** A partner access token with the read scope, through the real token endpoint (RFC 7523 assertion). */
export async function readToken(baseUrl: string, publicBaseUrl: string, bank: BenchBank): Promise<string> {
  const body = `${bank.tokenRequestBody(`${publicBaseUrl}/oauth/token`)}&scope=referrals%3Aread`;
  const res = await fetchRetryingStaleSocket(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  if (res.status !== 200) throw new Error(`read token: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/**
 * GET /partner/v1/referrals/{id} under autocannon, cycling over the given READY/DELIVERED referrals (the first fetch
 * of each moves it to DELIVERED; every fetch writes its disclosure row and audit entry before the answer).
 * `overallRate` fixes the offered load (requests/s over all connections); without it, as fast as it answers.
 */
export async function partnerFetchLoad(
  baseUrl: string,
  accessToken: string,
  referralIds: string[],
  opts: { seconds: number; connections: number; overallRate?: number },
): Promise<HttpLoadFigures> {
  let next = 0;
  return runAutocannon({
    url: baseUrl,
    connections: opts.connections,
    duration: opts.seconds,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
    requests: [
      {
        method: 'GET',
        headers: { authorization: `Bearer ${accessToken}` },
        setupRequest: (req) => ({ ...req, path: `/partner/v1/referrals/${referralIds[next++ % referralIds.length]}` }),
      },
    ],
  });
}
