import { BenchEnvironment } from '../support/env';
import { startGatewayProcess, stopChild } from '../support/processes';
import { fetchRetryingStaleSocket, sleep } from '../support/timing';

/** The card product every pre-screen figure of the bench uses (rules on six fields, all exclusions). */
export const BENCH_CRITERIA = [
  { field: 'score', op: '>=', value: 650, reason: 'SCORE_TOO_LOW' },
  { field: 'repayment.maxDpd24m', op: '<=', value: 30, reason: 'PAST_DELINQUENCY' },
  { field: 'creditLimit', op: '>=', value: '5000.00', reason: 'LIMIT_TOO_LOW' },
  { field: 'riskGrade', op: 'in', value: ['A+', 'A', 'B'], reason: 'GRADE' },
  { field: 'accountAgeMonths', op: '>=', value: 6, reason: 'ACCOUNT_TOO_NEW' },
  { field: 'consumption.returnRate12m', op: '<=', value: '0.20', reason: 'HIGH_RETURNS' },
];

export async function createBenchCardProduct(baseUrl: string, adminToken: string, partnerCode: string): Promise<string> {
  const code = `BENCH_CARD_${Date.now().toString(36).toUpperCase()}`;
  const res = await fetchRetryingStaleSocket(`${baseUrl}/v1/admin/card-products`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}`, 'idempotency-key': `bench-product-${code}` },
    body: JSON.stringify({
      code,
      partnerCode,
      name: 'Bench Platinum',
      criteria: BENCH_CRITERIA,
      sharedFields: ['applicant.name', 'creditRecord.score', 'creditRecord.repayment'],
      consentText: 'I agree that my name, score and repayment history are shared with the bank.',
      purpose: 'Benchmark',
    }),
  });
  if (res.status !== 201) throw new Error(`card product: HTTP ${res.status} ${await res.text()}`);
  return code;
}

export interface PrescreenFigures {
  rowsPerSec: number;
  seconds: number;
  evaluated: number;
  eligible: number;
  offersCreated: number;
}

/**
 * A pre-screen run through the operator API (API.md): POST /v1/admin/card-products/{code}/prescreen-runs, then
 * GET /v1/admin/prescreen-runs/{id} until COMPLETED, its offers all written. A worker-role process does the work.
 * Returns null when this build has no pre-screen runs yet (the route answers 404).
 */
export async function prescreenRun(
  bench: BenchEnvironment,
  baseUrl: string,
  adminToken: string,
  productCode: string,
): Promise<PrescreenFigures | null> {
  const headers = { authorization: `Bearer ${adminToken}` };
  const worker = await startGatewayProcess(bench, 'worker');
  try {
    await sleep(2000); // the worker's start-up (BullMQ connections) stays out of the measured time
    const start = process.hrtime.bigint();
    const created = await fetchRetryingStaleSocket(`${baseUrl}/v1/admin/card-products/${productCode}/prescreen-runs`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': `bench-run-${productCode}` },
      body: '{}',
    });
    if (created.status === 404) return null;
    if (created.status !== 202) throw new Error(`prescreen run: HTTP ${created.status} ${await created.text()}`);
    const { id } = (await created.json()) as { id: string };
    for (;;) {
      const res = await fetchRetryingStaleSocket(`${baseUrl}/v1/admin/prescreen-runs/${id}`, { headers });
      const run = (await res.json()) as {
        status: string;
        progress: { evaluated: number; total: number };
        counts: { eligible: number; offersCreated: number };
      };
      if (run.status === 'FAILED') throw new Error(`prescreen run ${id} FAILED`);
      if (run.status === 'COMPLETED') {
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        return {
          rowsPerSec: run.progress.total / seconds,
          seconds,
          evaluated: run.progress.evaluated,
          eligible: run.counts.eligible,
          offersCreated: run.counts.offersCreated,
        };
      }
      await sleep(100);
    }
  } finally {
    await stopChild(worker.child);
  }
}
