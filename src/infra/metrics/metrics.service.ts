import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every Prometheus metric of the process, declared once so names and labels stay consistent. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly jobDuration = new Histogram({
    name: 'job_duration_seconds',
    help: 'Job handler duration by queue, job name and outcome',
    labelNames: ['queue', 'job', 'outcome'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [this.registry],
  });

  readonly jobFailures = new Counter({
    name: 'job_failures_total',
    help: 'Job attempts that threw, by queue, job name and whether retries are exhausted',
    labelNames: ['queue', 'job', 'final'],
    registers: [this.registry],
  });

  readonly queueDepth = new Gauge({
    name: 'queue_jobs',
    help: 'Jobs in each queue by state (read from Redis at scrape time)',
    labelNames: ['queue', 'state'],
    registers: [this.registry],
  });

  readonly outboxPending = new Gauge({
    name: 'outbox_rows',
    help: 'Outbox rows by status (read from MySQL at scrape time)',
    labelNames: ['status'],
    registers: [this.registry],
  });

  readonly eventPushes = new Counter({
    name: 'partner_event_push_attempts_total',
    help: 'RFC 8935 push attempts by outcome (delivered, rejected = 400 from the bank, failed = will retry, dead, refused = address not allowed)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  readonly referralSlaBreaches = new Counter({
    name: 'referral_sla_breaches_total',
    help: 'Referrals flagged late: no final decision at their decision SLA, by partner and product code',
    labelNames: ['partner', 'product'],
    registers: [this.registry],
  });

  /** Collectors that read live state at scrape time, registered by the modules that own that state. */
  private readonly scrapeHooks: Array<() => Promise<void>> = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  onScrape(hook: () => Promise<void>): void {
    this.scrapeHooks.push(hook);
  }

  async render(): Promise<string> {
    await Promise.allSettled(this.scrapeHooks.map((hook) => hook()));
    return this.registry.metrics();
  }
}
