import { generateKeyPairSync, KeyObject, sign } from 'node:crypto';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

/** ES256 signatures (P-256, SHA-256, JOSE's raw r||s encoding) over a JWT-sized input for `ms` milliseconds. */
function signFor(ms: number, key?: KeyObject): number {
  const privateKey = key ?? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const input = Buffer.from('eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.' + 'x'.repeat(300));
  const deadline = Date.now() + ms;
  let n = 0;
  while (Date.now() < deadline) {
    for (let i = 0; i < 50; i++) sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    n += 50;
  }
  return n;
}

/** Signatures/s on one core (this thread), then on `threads` worker threads at once. */
export async function es256SignaturesPerSecond(ms: number, threads: number): Promise<{ oneCore: number; allCores: number }> {
  const oneCore = signFor(ms) / (ms / 1000);
  const counts = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<number>((resolve, reject) => {
          const worker = new Worker(join(__dirname, 'raw-crypto.js'), { workerData: { ms } });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  return { oneCore, allCores: counts.reduce((a, b) => a + b, 0) / (ms / 1000) };
}

if (!isMainThread && parentPort && workerData?.ms) parentPort.postMessage(signFor(workerData.ms));
