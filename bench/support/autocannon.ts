/** The few parts of autocannon 8 the bench uses (the package ships no typings). */
export interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest;
}

export interface AutocannonOptions {
  url: string;
  connections?: number;
  duration?: number;
  amount?: number;
  pipelining?: number;
  /** Requests/s over all connections (a fixed offered load); 0 or absent: as fast as answers come. */
  overallRate?: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  requests?: AutocannonRequest[];
}

export interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}

export interface HttpLoadFigures {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon: (opts: AutocannonOptions) => Promise<AutocannonResult> = require('autocannon');

export async function runAutocannon(opts: AutocannonOptions): Promise<HttpLoadFigures> {
  const r = await autocannon(opts);
  const completed = r['2xx'] + r.non2xx;
  return {
    // Completed requests over the measured time: autocannon's per-second average drops a partial last second.
    reqPerSec: completed / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests: completed,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}
