import { syntheticNdjson } from '../../src/modules/credit-records/synthetic/synthetic-credit-records';
import { runPool, timed } from '../support/timing';

export const BENCH_SEED = 'bench';

/** The NDJSON request bodies of `users` synthetic users, `linesPerBatch` a body, prepared before the clock starts. */
export function ingestBodies(users: number, linesPerBatch: number, startIndex = 0, userIdPrefix = 'u_'): Buffer[] {
  const bodies: Buffer[] = [];
  for (let from = 0; from < users; from += linesPerBatch) {
    const lines = [
      ...syntheticNdjson({ users: Math.min(linesPerBatch, users - from), seed: BENCH_SEED, startIndex: startIndex + from, userIdPrefix }),
    ];
    bodies.push(Buffer.from(lines.join('\n') + '\n'));
  }
  return bodies;
}

export interface IngestFigures {
  rowsPerSec: number;
  seconds: number;
  accepted: number;
}

/**
 * POST /v1/platform/credit-records over real sockets, `connections` requests in flight. Every body must come back
 * fully accepted; anything else fails the bench rather than report a speed for work not done.
 */
export async function ingestOverHttp(
  baseUrl: string,
  platformToken: string,
  bodies: Buffer[],
  connections: number,
): Promise<IngestFigures> {
  let accepted = 0;
  const { seconds } = await timed(() =>
    runPool(bodies.length, connections, async (i) => {
      const res = await fetch(`${baseUrl}/v1/platform/credit-records`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${platformToken}` },
        body: bodies[i],
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`ingest batch ${i}: HTTP ${res.status} ${text.slice(0, 300)}`);
      const result = JSON.parse(text) as { accepted: number; ignored: number; rejected: unknown[] };
      if (result.rejected.length) throw new Error(`ingest batch ${i}: ${result.rejected.length} lines rejected`);
      accepted += result.accepted;
    }),
  );
  return { rowsPerSec: accepted / seconds, seconds, accepted };
}
