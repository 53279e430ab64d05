/** Runs task(0..count-1) with at most `concurrency` in flight; the first failure stops the rest and is thrown. */
export async function runPool(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const lane = async () => {
    while (failed === undefined && next < count) {
      const i = next++;
      try {
        await task(i);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  if (failed !== undefined) throw failed;
}

/** Seconds taken by `work`. */
export async function timed<T>(work: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await work();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, value };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A pooled keep-alive socket the server had already closed: the request never reached it. */
const isStaleSocket = (error: unknown) =>
  error instanceof TypeError && (error.cause as { code?: string } | undefined)?.code === 'UND_ERR_SOCKET';

/**
 * fetch for requests that may be sent twice — GETs, POSTs carrying an Idempotency-Key (at most one effect), token
 * requests (a replayed assertion is refused loudly, never counted) — sent again when they failed on a stale keep-alive
 * socket, as an HTTP client library would. After the full run's long idle minutes between paths (the bench process
 * busy preparing the next path's requests) Node's fetch reused sockets the api had already closed.
 */
export async function fetchRetryingStaleSocket(
  url: string,
  init: RequestInit = {},
  onRetry: () => void = () => undefined,
  attempts = 3,
): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (!isStaleSocket(error) || attempt >= attempts) throw error;
      onRetry();
    }
  }
}
