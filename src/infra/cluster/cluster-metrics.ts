import cluster, { Worker } from 'node:cluster';

import { AggregatorRegistry, Registry } from 'prom-client';

/**
 * One Prometheus answer for the whole api role when it runs as a cluster (docs/DECISIONS.md "The api role as a
 * cluster"). The worker answering `GET /metrics` asks the primary over IPC; the primary collects every worker's
 * registry (`getMetricsAsJSON()`) and merges them with prom-client's `AggregatorRegistry.aggregate`, by each metric's
 * `aggregator`.
 *
 * Not `AggregatorRegistry#clusterMetrics()`: it asks every connected worker, including one that is still loading its
 * code after a restart and cannot answer yet, so every scrape during a worker's start-up failed after its 5 s timeout.
 * Here the primary asks only workers that said they are ready, and a worker that dies meanwhile is left out (its
 * counts died with it).
 */

const READY = 'rg:api-metrics:ready';
const REQUEST = 'rg:api-metrics:request';
const COLLECT = 'rg:api-metrics:collect';
const PART = 'rg:api-metrics:part';
const RESPONSE = 'rg:api-metrics:response';
/** How long one worker may take to hand over its registry: longer means its event loop is stuck, and the scrape fails. */
const COLLECT_TIMEOUT_MS = 5_000;
const ANSWER_TIMEOUT_MS = COLLECT_TIMEOUT_MS + 5_000;

type Metrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
type Message =
  | { type: typeof READY }
  | { type: typeof REQUEST; id: number }
  | { type: typeof COLLECT; id: number }
  | { type: typeof PART; id: number; metrics?: Metrics; error?: string }
  | { type: typeof RESPONSE; id: number; text?: string; error?: string };

/** True in a process forked by the api cluster's primary (the only code here that forks cluster workers). */
export const isApiClusterWorker = (): boolean => cluster.isWorker;

const send = (message: Message) => process.send!(message);

/** Worker side: the answers of the primary still awaited, by request id. */
const awaitedAnswers = new Map<number, (answer: { text?: string; error?: string }) => void>();
let nextRequestId = 0;

/** Worker side: from now on this registry is what the process contributes to the aggregate. */
export function shareWithPrimary(registry: Registry): void {
  process.on('message', (message: Message) => {
    if (message?.type === COLLECT) {
      registry.getMetricsAsJSON().then(
        (metrics) => send({ type: PART, id: message.id, metrics }),
        (error: Error) => send({ type: PART, id: message.id, error: error.message }),
      );
    } else if (message?.type === RESPONSE) {
      awaitedAnswers.get(message.id)?.(message);
    }
  });
  send({ type: READY });
}

/** Worker side: the aggregated metrics of every api process, in Prometheus text format. */
export function metricsOfAllApiProcesses(): Promise<string> {
  const id = nextRequestId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      awaitedAnswers.delete(id);
      reject(new Error('api cluster metrics: the primary did not answer'));
    }, ANSWER_TIMEOUT_MS);
    awaitedAnswers.set(id, (answer) => {
      awaitedAnswers.delete(id);
      clearTimeout(timer);
      if (answer.error !== undefined) reject(new Error(`api cluster metrics: ${answer.error}`));
      else resolve(answer.text ?? '');
    });
    send({ type: REQUEST, id });
  });
}

interface PendingPart {
  worker: Worker;
  /** undefined: the worker exited before answering. */
  settle: (metrics: Metrics | undefined, error?: Error) => void;
}

/** Primary side: answers each worker's request with the aggregate of every ready worker. */
export class ApiMetricsAggregator {
  private readonly ready = new Set<Worker>();
  private readonly pending = new Map<number, PendingPart>();
  private nextCollectId = 0;

  constructor() {
    cluster.on('message', (worker: Worker, message: Message) => this.onMessage(worker, message));
    cluster.on('exit', (worker: Worker) => {
      this.ready.delete(worker);
      for (const [id, part] of this.pending) {
        if (part.worker !== worker) continue;
        this.pending.delete(id);
        part.settle(undefined);
      }
    });
  }

  private onMessage(worker: Worker, message: Message): void {
    switch (message?.type) {
      case READY:
        this.ready.add(worker);
        return;
      case PART: {
        const part = this.pending.get(message.id);
        if (!part) return;
        this.pending.delete(message.id);
        part.settle(message.metrics, message.error === undefined ? undefined : new Error(message.error));
        return;
      }
      case REQUEST: {
        const reply = (answer: { text?: string; error?: string }) => {
          if (worker.isConnected()) worker.send({ type: RESPONSE, id: message.id, ...answer } satisfies Message);
        };
        this.aggregate().then(
          (text) => reply({ text }),
          (error: Error) => reply({ error: error.message }),
        );
        return;
      }
    }
  }

  private async aggregate(): Promise<string> {
    const workers = [...this.ready].filter((worker) => worker.isConnected());
    const parts = await Promise.all(workers.map((worker) => this.collect(worker)));
    return AggregatorRegistry.aggregate(parts.filter((part): part is Metrics => part !== undefined)).metrics();
  }

  private collect(worker: Worker): Promise<Metrics | undefined> {
    const id = this.nextCollectId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`api worker ${worker.process.pid} did not hand over its metrics within ${COLLECT_TIMEOUT_MS} ms`));
      }, COLLECT_TIMEOUT_MS);
      this.pending.set(id, {
        worker,
        settle: (metrics, error) => {
          clearTimeout(timer);
          if (error) reject(error);
          else resolve(metrics);
        },
      });
      worker.send({ type: COLLECT, id } satisfies Message);
    });
  }
}
