import cluster, { Worker } from 'node:cluster';

import type { Logger } from 'pino';

import { ApiMetricsAggregator } from './cluster-metrics';
import { WorkerRestartPolicy } from './worker-restart.policy';

/**
 * How long workers get to finish after SIGTERM: Nest closes the HTTP server (in-flight requests finish, an event
 * poll waits at most EVENT_POLL_MAX_WAIT_MS, 10 s by default), then the pools. Past it the rest are killed.
 */
export const API_SHUTDOWN_TIMEOUT_MS = 20_000;

export interface ApiClusterOptions {
  processes: number;
  logger: Logger;
  shutdownTimeoutMs?: number;
}

/** Exit codes of the primary. */
const STOPPED = 0;
const FAILED = 1;

/**
 * The primary of the api role run as a cluster (API_PROCESSES > 1): forks that many workers, each the ordinary api
 * process (they share the port through node:cluster), and serves no HTTP itself. A worker that dies is replaced after
 * a growing delay (WorkerRestartPolicy); workers that keep failing at start-up stop the cluster with exit code 1.
 * SIGTERM or SIGINT is passed to every worker as SIGTERM (their Nest shutdown hooks drain and close), and the primary
 * exits 0 once all have exited, or kills the rest and exits 1 after `shutdownTimeoutMs`.
 */
export class ApiClusterSupervisor {
  private readonly slotOf = new Map<Worker, number>();
  private readonly policies: WorkerRestartPolicy[];
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private stopping = false;
  private exitCode = STOPPED;
  private finish!: (code: number) => void;

  constructor(private readonly options: ApiClusterOptions) {
    this.policies = Array.from({ length: options.processes }, () => new WorkerRestartPolicy());
  }

  /** Runs until the cluster has stopped; resolves with the primary's exit code. */
  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    new ApiMetricsAggregator();
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => this.stop(signal, STOPPED));
    this.options.logger.info({ processes: this.options.processes }, 'starting the api role as a cluster');
    for (let slot = 0; slot < this.options.processes; slot++) this.fork(slot);
    return done;
  }

  private fork(slot: number): void {
    const worker = cluster.fork();
    this.slotOf.set(worker, slot);
    this.policies[slot].started();
    worker.on('listening', () => {
      this.policies[slot].listening(Date.now());
      this.options.logger.info({ slot, workerPid: worker.process.pid }, 'api worker listening');
    });
    // A message to a worker that is going away fails here; without a listener the error would end the primary.
    worker.on('error', (error) =>
      this.options.logger.warn({ slot, workerPid: worker.process.pid, err: error.message }, 'api worker IPC error'),
    );
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const slot = this.slotOf.get(worker);
    this.slotOf.delete(worker);
    if (slot === undefined) return;
    const facts = { slot, workerPid: worker.process.pid, code, signal };
    if (this.stopping) {
      this.options.logger.info(facts, 'api worker stopped');
      if (this.slotOf.size === 0) this.finish(this.exitCode);
      return;
    }
    const decision = this.policies[slot].exited(Date.now());
    if ('giveUp' in decision) {
      this.options.logger.error({ ...facts, reason: decision.giveUp }, 'api workers keep failing at start-up; stopping the cluster');
      this.stop('SIGTERM', FAILED);
      return;
    }
    this.options.logger.error({ ...facts, restartInMs: decision.restartInMs }, 'api worker exited unexpectedly; restarting it');
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      this.fork(slot);
    }, decision.restartInMs);
    this.restartTimers.add(timer);
  }

  private stop(signal: NodeJS.Signals, exitCode: number): void {
    if (this.stopping) return;
    this.stopping = true;
    this.exitCode = exitCode;
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    const workers = [...this.slotOf.keys()];
    this.options.logger.info({ signal, workers: workers.length }, 'stopping the api workers');
    if (workers.length === 0) {
      this.finish(exitCode);
      return;
    }
    // SIGTERM whatever the primary got: the workers listen only to it (a terminal's SIGINT reaches them too, and is ignored).
    for (const worker of workers) worker.process.kill('SIGTERM');
    const timeoutMs = this.options.shutdownTimeoutMs ?? API_SHUTDOWN_TIMEOUT_MS;
    setTimeout(() => {
      const left = [...this.slotOf.keys()];
      this.options.logger.error(
        { workerPids: left.map((w) => w.process.pid), timeoutMs },
        'api workers did not stop in time; killing them',
      );
      for (const worker of left) worker.process.kill('SIGKILL');
      this.exitCode = FAILED;
    }, timeoutMs).unref();
  }
}
