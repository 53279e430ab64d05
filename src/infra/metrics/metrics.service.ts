import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import { isApiClusterWorker, metricsOfAllApiProcesses, shareWithPrimary } from '../cluster/cluster-metrics';

/**
 * Every Prometheus metric of the process, declared once so names and labels stay consistent.
 *
 * Two registries, because the api role may run as several processes (API_PROCESSES) answering as one:
 * - `registry`: what this process observed. In a cluster every process's copy is merged by the metric's
 *   `aggregator`: counters and histograms are summed (prom-client's default, stated below), `api_processes` too;
 *   prom-client's default metrics carry their own (`process_start_time_seconds` omitted, versions `first`,
 *   event-loop lag averaged, memory and CPU summed).
 * - `sharedState`: gauges of state that lives in Redis and MySQL, read at scrape time by the one process answering
 *   the scrape. They are never merged, so a queue's depth is never counted once per process.
 */
@Injectable()
export class MetricsService {
  private readonly registry = new Registry();
  private readonly sharedState = new Registry();

  readonly httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
    aggregator: 'sum',
  });

  /** 1 in every process serving the api role, so the aggregate says how many processes this answer covers. */
  readonly apiProcesses = new Gauge({
    name: 'api_processes',
    help: 'Processes of the api role whose metrics this answer includes (API_PROCESSES when all are up)',
    registers: [this.registry],
    aggregator: 'sum',
  });

  readonly jobDuration = new Histogram({
    name: 'job_duration_seconds',
    help: 'Job handler duration by queue, job name and outcome',
    labelNames: ['queue', 'job', 'outcome'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [this.registry],
    aggregator: 'sum',
  });

  readonly jobFailures = new Counter({
    name: 'job_failures_total',
    help: 'Job attempts that threw, by queue, job name and whether retries are exhausted',
    labelNames: ['queue', 'job', 'final'],
    registers: [this.registry],
    aggregator: 'sum',
  });

  readonly queueDepth = new Gauge({
    name: 'queue_jobs',
    help: 'Jobs in each queue by state (read from Redis at scrape time)',
    labelNames: ['queue', 'state'],
    registers: [this.sharedState],
  });

  readonly retriesAlerting = new Gauge({
    name: 'job_retries_alerting',
    help: "Jobs still being retried past their policy's alert threshold, failed within the last 2 h (read from Redis at scrape time)",
    labelNames: ['queue'],
    registers: [this.sharedState],
  });

  readonly outboxPending = new Gauge({
    name: 'outbox_rows',
    help: 'Outbox rows by status (read from MySQL at scrape time)',
    labelNames: ['status'],
    registers: [this.sharedState],
  });

  readonly eventPushes = new Counter({
    name: 'partner_event_push_attempts_total',
    help: 'RFC 8935 push attempts by outcome (delivered, rejected = 400 from the bank, failed = will retry, dead, refused = address not allowed)',
    labelNames: ['outcome'],
    registers: [this.registry],
    aggregator: 'sum',
  });

  readonly eventPushDeferrals = new Counter({
    name: 'partner_event_push_deferrals_total',
    help: "RFC 8935 pushes put back to wait without an attempt: lane_full = the partner's in-flight limit reached, circuit_open = its circuit open",
    labelNames: ['reason'],
    registers: [this.registry],
    aggregator: 'sum',
  });

  readonly pushCircuitState = new Gauge({
    name: 'partner_push_circuit_state',
    help: "Each pushing partner's circuit: 0 closed, 1 open (pushes deferred), 2 half-open (one probe allowed); read from Redis at scrape time",
    labelNames: ['partner'],
    registers: [this.sharedState],
  });

  readonly pushLaneInFlight = new Gauge({
    name: 'partner_push_in_flight',
    help: "Pushes in flight to each pushing partner (its lane's places taken; read from Redis at scrape time)",
    labelNames: ['partner'],
    registers: [this.sharedState],
  });

  readonly referralSlaBreaches = new Counter({
    name: 'referral_sla_breaches_total',
    help: 'Referrals flagged late: no final decision at their decision SLA, by partner and product code',
    labelNames: ['partner', 'product'],
    registers: [this.registry],
    aggregator: 'sum',
  });

  /** Collectors that read live state at scrape time, registered by the modules that own that state. */
  private readonly scrapeHooks: Array<() => Promise<void>> = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    if (isApiClusterWorker()) shareWithPrimary(this.registry);
  }

  onScrape(hook: () => Promise<void>): void {
    this.scrapeHooks.push(hook);
  }

  async render(): Promise<string> {
    await Promise.allSettled(this.scrapeHooks.map((hook) => hook()));
    const [processes, sharedState] = await Promise.all([
      isApiClusterWorker() ? metricsOfAllApiProcesses() : this.registry.metrics(),
      this.sharedState.metrics(),
    ]);
    return `${processes}\n${sharedState}`;
  }
}
