import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Queue } from 'bullmq';
import * as mysql from 'mysql2/promise';

import { QUEUE_NAMES } from '../../src/infra/queues/job-catalogue';
import { bullConnection } from '../../src/infra/queues/redis-connection';
import { Gateway, runStore, Store } from './support/gateway';
import { assertExactlyOnce, statuses } from './support/invariants';
import { PartnerEndpoint } from './support/partner-endpoints';
import { OwnedProcess, until } from './support/processes';
import { onboard } from './support/scenario';
import { soakChart } from './support/soak-chart';
import { paced, SoakLoad } from './support/soak-load';

type Rows = mysql.RowDataPacket[];

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const DURATION_MS = Math.round(MINUTES * 60_000);
const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_MS ?? 5000);
/** The warm-up, and the length of the first and last windows compared: a minute, or a fifth of a shorter soak. */
const WINDOW_MS = Math.min(60_000, DURATION_MS / 5);
const APPLY_EVERY_MS = 1000;
const ROOT = join(__dirname, '..', '..');

interface Sample {
  /** Milliseconds since the load started. */
  t: number;
  /** BullMQ jobs waiting or running, all queues; delayed ones (timers, push retries) apart. */
  queueDepth: number;
  delayed: number;
  outboxPending: number;
  outboxEnqueued: number;
  apiHeapMb: number | null;
  workerHeapMb: number | null;
  apiHandles: number | null;
  workerHandles: number | null;
}

type Measure = 'queueDepth' | 'outboxPending' | 'apiHeapMb' | 'workerHeapMb' | 'apiHandles' | 'workerHandles';

/**
 * How far the last window's mean may sit above the first window's (after the warm-up): a backlog or a leak grows past
 * these in ten minutes; GC's sawtooth and the requests in flight at a sample do not. Delayed jobs and ENQUEUED outbox
 * rows are charted but not bounded: every referral schedules its 72 h SLA timers, which by design accumulate until due.
 */
const BOUNDS: Record<Measure, { factor: number; slack: number }> = {
  queueDepth: { factor: 2, slack: 20 },
  outboxPending: { factor: 2, slack: 20 },
  apiHeapMb: { factor: 1.5, slack: 10 },
  workerHeapMb: { factor: 1.5, slack: 10 },
  apiHandles: { factor: 1.5, slack: 10 },
  workerHandles: { factor: 1.5, slack: 10 },
};

/** The sum of a metric's series in a Prometheus text exposition (null when absent). */
function metric(text: string, name: string): number | null {
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'gm'))].map((m) => Number(m[1]));
  return values.length ? values.reduce((a, b) => a + b, 0) : null;
}

async function scrape(target: Gateway): Promise<{ heapMb: number | null; handles: number | null }> {
  const res = await fetch(`${target.baseUrl}/metrics`, {
    headers: { authorization: `Bearer ${process.env.METRICS_TOKEN}` },
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  const heap = metric(text, 'nodejs_heap_size_used_bytes');
  return { heapMb: heap === null ? null : heap / 2 ** 20, handles: metric(text, 'nodejs_active_handles_total') };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * The bounded soak (issue 16): an api and a worker process under a steady mix — applications, packaging, the bank
 * fetching and deciding, event polling and pushes, token requests — for SOAK_MINUTES (10 by default), sampled every
 * SOAK_SAMPLE_MS: queue depth, outbox backlog, heap used and active handles of both processes. Afterwards every
 * referral made is decided once, and the last window's means stay within BOUNDS of the first window's after the
 * warm-up, with no measure rising window after window. Writes test/artifacts/soak.json and docs/soak.svg (the chart
 * in docs/RELIABILITY.md). Not in the fast subset.
 */
describe('bounded soak', () => {
  let store: Store;
  let api: Gateway;
  let worker: Gateway;
  let bankEndpoint: PartnerEndpoint;
  const queues = QUEUE_NAMES.map(
    (q) => new Queue(q, { connection: bullConnection({ redisUrl: process.env.REDIS_URL!, redis: {} }), prefix: process.env.REDIS_PREFIX! }),
  );

  beforeAll(async () => {
    store = runStore();
    [api, worker] = await Promise.all([Gateway.start('api', store), Gateway.start('worker', store)]);
    bankEndpoint = await PartnerEndpoint.start({ kind: 'accept' });
  });

  afterAll(async () => {
    await OwnedProcess.killAll();
    await bankEndpoint.close();
    await Promise.all(queues.map((q) => q.close()));
    await store.db.end();
  });

  async function sample(t: number): Promise<Sample> {
    const counts = await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'prioritized', 'delayed')));
    const [outbox] = await store.db.query<Rows>(
      "SELECT status, COUNT(*) AS n FROM outbox WHERE status IN ('PENDING', 'ENQUEUED') GROUP BY status",
    );
    const outboxCount = (status: string) => Number(outbox.find((r) => r.status === status)?.n ?? 0);
    const [a, w] = await Promise.all([scrape(api), scrape(worker)]);
    return {
      t,
      queueDepth: counts.reduce((sum, c) => sum + (c.waiting ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0), 0),
      delayed: counts.reduce((sum, c) => sum + (c.delayed ?? 0), 0),
      outboxPending: outboxCount('PENDING'),
      outboxEnqueued: outboxCount('ENQUEUED'),
      apiHeapMb: a.heapMb,
      workerHeapMb: w.heapMb,
      apiHandles: a.handles,
      workerHandles: w.handles,
    };
  }

  it(
    `${MINUTES} minutes of mixed load: queue depth, outbox backlog, heap and handles stay flat; every referral decided once`,
    async () => {
      const applicants = Math.ceil(DURATION_MS / APPLY_EVERY_MS) + 5;
      const cohort = await onboard(api.baseUrl, applicants, { pushEndpoint: bankEndpoint.url, applyNow: false, prefix: 'SOAK' });
      const load = new SoakLoad(api.baseUrl, cohort);
      const samples: Sample[] = [];
      const started = Date.now();
      const running = () => Date.now() - started < DURATION_MS;
      await Promise.all([
        paced(APPLY_EVERY_MS, running, () => load.applyNext(), load.tally),
        paced(1000, running, () => load.bankRound(), load.tally),
        paced(2000, running, () => load.poll(), load.tally),
        paced(3000, running, () => load.tokens(), load.tally),
        paced(SAMPLE_MS, running, async () => void samples.push(await sample(Date.now() - started)), load.tally),
      ]);
      samples.push(await sample(Date.now() - started));

      // The bank finishes what is left; then every referral made is decided once, its effects and events once.
      await until(
        'every referral decided',
        async () => {
          await load.bankRound();
          const now = await statuses(store.db, load.referrals);
          return [...now.values()].every((s) => s === 'APPROVED' || s === 'DECLINED');
        },
        { timeoutMs: 120_000, everyMs: 500, watch: [api.process, worker.process] },
      );

      const windows = analyse(samples);
      const report = {
        finishedAt: new Date().toISOString(),
        minutes: MINUTES,
        sampleMs: SAMPLE_MS,
        windowMs: WINDOW_MS,
        load: { ...load.tally, errors: load.tally.errors.length, firstErrors: load.tally.errors.slice(0, 10) },
        pushesReceived: bankEndpoint.received.length,
        windows,
        samples,
      };
      mkdirSync(join(ROOT, 'test', 'artifacts'), { recursive: true });
      writeFileSync(join(ROOT, 'test', 'artifacts', 'soak.json'), JSON.stringify(report, null, 2) + '\n');
      writeFileSync(join(ROOT, 'docs', 'soak.svg'), chart(samples, load.tally.applications));

      expect(load.tally.errors).toEqual([]);
      expect(load.tally.applications).toBeGreaterThan(0);
      for (const w of windows) expect(w).toMatchObject({ measure: w.measure, withinBound: true, risingThroughout: false });
      await assertExactlyOnce(store.db, api.baseUrl, { referrals: load.referrals, decided: load.decided });
    },
    DURATION_MS + 10 * 60_000,
  );
});

/** Per bounded measure: first window after the warm-up vs the last window, and whether it rose in every fifth. */
function analyse(samples: Sample[]) {
  const end = samples[samples.length - 1].t;
  const after = samples.filter((s) => s.t >= WINDOW_MS);
  return (Object.keys(BOUNDS) as Measure[]).map((measure) => {
    const values = (from: number, to: number) =>
      samples.filter((s) => s.t >= from && s.t < to && s[measure] !== null).map((s) => s[measure] as number);
    const first = mean(values(WINDOW_MS, 2 * WINDOW_MS));
    const last = mean(values(end - WINDOW_MS, end + 1));
    const { factor, slack } = BOUNDS[measure];
    const bound = Math.max(first * factor, first + slack);
    // Five consecutive slices of the measured time: a leak rises in each; noise does not.
    const slice = (end - WINDOW_MS) / 5;
    const slices = Array.from({ length: 5 }, (_, i) =>
      mean(values(WINDOW_MS + i * slice, WINDOW_MS + (i + 1) * slice + (i === 4 ? 1 : 0))),
    );
    const risingThroughout = after.length >= 10 && slices.every((v, i) => i === 0 || v > slices[i - 1]) && slices[4] > slices[0] * 1.1;
    return {
      measure,
      first: round(first),
      last: round(last),
      bound: round(bound),
      withinBound: last <= bound,
      slices: slices.map(round),
      risingThroughout,
    };
  });
}

const round = (v: number) => Math.round(v * 100) / 100;

function chart(samples: Sample[], applications: number): string {
  const minutes = samples.map((s) => s.t / 60_000);
  const col = (k: keyof Sample) => samples.map((s) => s[k] as number | null);
  const title = `Soak: ${MINUTES} min, api + worker, ${applications} applications, sampled every ${SAMPLE_MS / 1000} s (dashed: compared windows)`;
  return soakChart(
    title,
    minutes,
    [
      {
        title: 'BullMQ jobs (all queues)',
        unit: 'jobs',
        series: [
          { name: 'waiting + active', colour: '#d62728', values: col('queueDepth') },
          { name: 'delayed (timers)', colour: '#7f7f7f', values: col('delayed') },
        ],
      },
      {
        title: 'Outbox rows',
        unit: 'rows',
        series: [
          { name: 'PENDING', colour: '#d62728', values: col('outboxPending') },
          { name: 'ENQUEUED', colour: '#7f7f7f', values: col('outboxEnqueued') },
        ],
      },
      {
        title: 'Heap used',
        unit: 'MiB',
        series: [
          { name: 'api', colour: '#1f77b4', values: col('apiHeapMb') },
          { name: 'worker', colour: '#ff7f0e', values: col('workerHeapMb') },
        ],
      },
      {
        title: 'Active handles',
        unit: 'handles',
        series: [
          { name: 'api', colour: '#1f77b4', values: col('apiHandles') },
          { name: 'worker', colour: '#ff7f0e', values: col('workerHandles') },
        ],
      },
    ],
    [WINDOW_MS, 2 * WINDOW_MS, samples[samples.length - 1].t - WINDOW_MS].map((t) => t / 60_000),
  );
}
