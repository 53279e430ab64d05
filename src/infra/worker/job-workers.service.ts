import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { ConnectionOptions, DelayedError, Job, Worker } from 'bullmq';
import { DataSource } from 'typeorm';

import { AppConfigService } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { AbandonedJob } from '../outbox/outbox.relay';
import { outboxIdOf } from '../outbox/outbox.service';
import { JOB_CATALOGUE, QUEUE_NAMES, QueueName } from '../queues/job-catalogue';
import { JOB_ABANDONED_HANDLER, JOB_HANDLER, JobContext, JobHandlerMetadata } from '../queues/job-handler.decorator';
import { BULL_CONNECTION } from '../queues/redis.module';
import { RedisPolicyCheck } from './redis-policy.check';

type BoundHandler = (payload: unknown, ctx: JobContext) => Promise<unknown>;
type BoundAbandonedHandler = (payload: unknown, reason: string) => Promise<void>;

/** Outbox DONE marks are written together: at most this many ids a statement, at most this long after the job. */
const DONE_MARKS_MAX = 500;
const DONE_MARKS_DELAY_MS = 5;

/**
 * Collects the outbox ids of completed jobs and marks them DONE in one UPDATE per few milliseconds instead of one
 * autocommit (and one redo-log flush) per job. A mark lost to a crash before its flush is what the outbox sweeper
 * already repairs: it finds the row ENQUEUED, sees the job completed in BullMQ and marks it DONE — or, once the
 * completed job has been trimmed from Redis, enqueues it again, and the job (idempotent like every job) is a no-op.
 */
export class OutboxDoneMarks {
  private pending = new Set<string>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
  ) {}

  add(outboxId: string): void {
    this.pending.add(outboxId);
    if (this.pending.size >= DONE_MARKS_MAX) this.flushSoon(0);
    else this.flushSoon(DONE_MARKS_DELAY_MS);
  }

  /** Writes everything collected so far; resolves once it is written (or failed and was logged). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const ids = [...this.pending];
    this.pending = new Set();
    // One flush at a time, in order: keeps the connection use of the marks to one at most.
    this.flushing = this.flushing.then(async () => {
      if (ids.length === 0) return;
      await this.dataSource
        .query(`UPDATE outbox SET status = 'DONE', finished_at = NOW(3), last_error = NULL WHERE id IN (?) AND status <> 'DONE'`, [ids])
        .catch((e: Error) => this.logger.warn({ err: e.message, count: ids.length }, 'could not mark outbox rows done; the sweeper will'));
    });
    return this.flushing;
  }

  private flushSoon(delayMs: number) {
    if (delayMs === 0) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), delayMs);
  }
}

/** Finds every @JobHandler, refuses a catalogue job with none or two, and runs one BullMQ worker per queue. */
@Injectable()
export class JobWorkers implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(JobWorkers.name);
  private readonly handlers = new Map<string, BoundHandler>();
  private readonly abandonedHandlers = new Map<string, BoundAbandonedHandler>();
  private readonly workers: Worker[] = [];
  private readonly doneMarks: OutboxDoneMarks;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly config: AppConfigService,
    private readonly dataSource: DataSource,
    private readonly metrics: MetricsService,
    private readonly redisPolicy: RedisPolicyCheck,
    @Inject(BULL_CONNECTION) private readonly connection: ConnectionOptions,
  ) {
    this.doneMarks = new OutboxDoneMarks(dataSource, this.logger);
  }

  async onApplicationBootstrap() {
    await this.redisPolicy.assertSafe();
    this.collectHandlers();
    const { redisPrefix, worker: settings } = this.config.values;
    for (const queue of QUEUE_NAMES) {
      const worker = new Worker(queue, (job, token) => this.process(queue, job, token), {
        connection: this.connection,
        prefix: redisPrefix,
        concurrency: settings.concurrency,
        lockDuration: settings.lockDurationMs,
        stalledInterval: settings.lockDurationMs,
      });
      worker.on('failed', (job, error) => void this.onFailed(queue, job, error));
      worker.on('error', (error) => this.logger.error({ queue, err: error.message }, 'worker error'));
      this.workers.push(worker);
    }
  }

  async onModuleDestroy() {
    // close() waits for active jobs to finish, so a normal stop never abandons a job half done.
    await Promise.all(this.workers.map((w) => w.close()));
    await this.doneMarks.flush();
  }

  private collectHandlers() {
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || typeof instance !== 'object') continue;
      const proto = Object.getPrototypeOf(instance);
      for (const method of this.scanner.getAllMethodNames(proto)) {
        const meta = this.reflector.get<JobHandlerMetadata | undefined>(JOB_HANDLER, proto[method]);
        if (meta) {
          const key = `${meta.queue}/${meta.name}`;
          if (this.handlers.has(key)) throw new Error(`job ${key} has two handlers`);
          this.handlers.set(key, (proto[method] as BoundHandler).bind(instance));
        }
        const abandonedMeta = this.reflector.get<JobHandlerMetadata | undefined>(JOB_ABANDONED_HANDLER, proto[method]);
        if (abandonedMeta) {
          const key = `${abandonedMeta.queue}/${abandonedMeta.name}`;
          if (this.abandonedHandlers.has(key)) throw new Error(`job ${key} has two abandoned-job handlers`);
          this.abandonedHandlers.set(key, (proto[method] as BoundAbandonedHandler).bind(instance));
        }
      }
    }
    const missing = QUEUE_NAMES.flatMap((q) => (JOB_CATALOGUE[q] as string[]).map((j) => `${q}/${j}`)).filter(
      (key) => !this.handlers.has(key),
    );
    if (missing.length > 0) throw new Error(`jobs without a handler: ${missing.join(', ')}`);
  }

  private async process(queue: QueueName, job: Job, token: string | undefined): Promise<unknown> {
    const handler = this.handlers.get(`${queue}/${job.name}`);
    if (!handler) throw new Error(`no handler for ${queue}/${job.name}`);
    const outboxId = outboxIdOf(job.id);
    const started = process.hrtime.bigint();
    const ctx: JobContext = {
      jobId: job.id ?? '',
      attempt: job.attemptsMade + 1,
      outboxId,
      progress: (value) => job.updateProgress(value),
      defer: async (delayMs) => {
        await job.moveToDelayed(Date.now() + Math.max(0, Math.round(delayMs)), token);
        throw new DelayedError();
      },
    };
    try {
      const result = await handler(job.data, ctx);
      if (outboxId) this.doneMarks.add(outboxId);
      this.observe(queue, job.name, 'completed', started);
      return result ?? null;
    } catch (error) {
      // A deferred job neither failed nor completed: BullMQ keeps it delayed and its outbox row stays ENQUEUED.
      this.observe(queue, job.name, error instanceof DelayedError ? 'deferred' : 'failed', started);
      throw error;
    }
  }

  /**
   * A job the outbox sweeper found failed in BullMQ without this hook having seen its last attempt (a job that stalled
   * more often than allowed): handed to its @JobAbandonedHandler, if it has one, and counted as a final failure.
   * Throws what the handler throws, so the sweeper leaves the job for its next pass.
   */
  async abandoned(job: AbandonedJob): Promise<void> {
    const handler = this.abandonedHandlers.get(`${job.queue}/${job.jobName}`);
    if (handler) await handler(job.payload, job.reason);
    this.metrics.jobFailures.inc({ queue: job.queue, job: job.jobName, final: 'true' });
  }

  /** The final-failure hook: retries exhausted, the outbox row records it so the failure stays visible. */
  private async onFailed(queue: QueueName, job: Job | undefined, error: Error) {
    const final = !!job && job.attemptsMade >= (job.opts.attempts ?? 1);
    this.metrics.jobFailures.inc({ queue, job: job?.name ?? 'unknown', final: String(final) });
    this.logger.warn({ queue, job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, final, err: error.message }, 'job failed');
    const outboxId = outboxIdOf(job?.id);
    if (final && outboxId) {
      await this.dataSource
        .query(`UPDATE outbox SET status = 'FAILED', finished_at = NOW(3), last_error = ? WHERE id = ? AND status <> 'DONE'`, [
          error.message.slice(0, 1000),
          outboxId,
        ])
        .catch((e: Error) => this.logger.error({ err: e.message, outboxId }, 'could not record final job failure'));
    }
  }

  private observe(queue: string, job: string, outcome: string, started: bigint) {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics.jobDuration.observe({ queue, job, outcome }, seconds);
  }
}
