import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { ConnectionOptions, DelayedError, Job, Worker } from 'bullmq';
import { DataSource } from 'typeorm';

import { AppConfigService } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { AbandonedJob } from '../outbox/outbox.relay';
import { outboxRowOf } from '../outbox/outbox.service';
import { JOB_CATALOGUE, QUEUE_NAMES, QueueName } from '../queues/job-catalogue';
import { JOB_ABANDONED_HANDLER, JOB_HANDLER, JobContext, JobHandlerMetadata } from '../queues/job-handler.decorator';
import { BULL_CONNECTION, REDIS } from '../queues/redis.module';
import { redisAnswers, RedisClient } from '../queues/redis-connection';
import { retryAlertsKey, retryBackoffStrategy, retryPolicyOf } from '../queues/retry-policies';
import { RedisPolicyCheck } from './redis-policy.check';

type BoundHandler = (payload: unknown, ctx: JobContext) => Promise<unknown>;
type BoundAbandonedHandler = (payload: unknown, reason: string) => Promise<void>;

/** While a worker closes, how often Redis is asked whether it still answers, and how long an answer may take. */
const CLOSE_PING_EVERY_MS = 1_000;
const CLOSE_PING_TIMEOUT_MS = 1_000;

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
  /** `<id>-<token>` of each row: a job of an older row with the same id (a reused id) must not close this one. */
  private pending = new Set<string>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
  ) {}

  add(row: { id: string; token: string }): void {
    this.pending.add(`${row.id}-${row.token}`);
    if (this.pending.size >= DONE_MARKS_MAX) this.flushSoon(0);
    else this.flushSoon(DONE_MARKS_DELAY_MS);
  }

  /** Writes everything collected so far; resolves once it is written (or failed and was logged). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const keys = [...this.pending];
    const ids = keys.map((key) => key.slice(0, key.indexOf('-')));
    this.pending = new Set();
    // One flush at a time, in order: keeps the connection use of the marks to one at most.
    this.flushing = this.flushing.then(async () => {
      if (ids.length === 0) return;
      await this.dataSource
        .query(
          `UPDATE outbox SET status = 'DONE', finished_at = NOW(3), last_error = NULL
            WHERE id IN (?) AND CONCAT(id, '-', job_token) IN (?) AND status <> 'DONE'`,
          [ids, keys],
        )
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
    @Inject(REDIS) private readonly redis: RedisClient,
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
        settings: { backoffStrategy: retryBackoffStrategy(queue, settings.retryDelayScale) },
      });
      worker.on('failed', (job, error) => void this.onFailed(queue, job, error));
      worker.on('completed', (job) => void this.onCompleted(queue, job));
      worker.on('error', (error) => this.logger.error({ queue, err: error.message }, 'worker error'));
      this.workers.push(worker);
    }
  }

  async onModuleDestroy() {
    await Promise.all(this.workers.map((w) => this.closeWorker(w)));
    await this.doneMarks.flush();
  }

  /**
   * close() waits for active jobs to finish, so a normal stop never abandons a job half done. It also waits for Redis,
   * forever while Redis does not answer (SIGTERM would hang): so while it waits, Redis is asked for a PING every second,
   * and once one goes unanswered the worker's connections are dropped, which ends close(). A job cut off that way keeps
   * its lock until it expires, then another worker takes it over (every job is idempotent).
   */
  private async closeWorker(worker: Worker): Promise<void> {
    let closed = false;
    const closing = worker.close().finally(() => (closed = true));
    while (!closed) {
      if (!(await Promise.race([redisAnswers(this.redis, CLOSE_PING_TIMEOUT_MS), closing.then(() => true)]))) {
        this.logger.warn({ queue: worker.name }, 'Redis does not answer: dropping the worker connections instead of waiting');
        // Not awaited: disconnect() itself waits on the connections' close, which an unreachable Redis never answers.
        void worker.disconnect().catch(() => undefined);
        break;
      }
      await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, CLOSE_PING_EVERY_MS).unref())]);
    }
    await Promise.race([closing.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, CLOSE_PING_TIMEOUT_MS).unref())]);
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
    const outboxRow = outboxRowOf(job.id);
    const started = process.hrtime.bigint();
    const ctx: JobContext = {
      jobId: job.id ?? '',
      attempt: job.attemptsMade + 1,
      outboxId: outboxRow?.id,
      progress: (value) => job.updateProgress(value),
      defer: async (delayMs) => {
        await job.moveToDelayed(Date.now() + Math.max(0, Math.round(delayMs)), token);
        throw new DelayedError();
      },
    };
    try {
      const result = await handler(job.data, ctx);
      if (outboxRow) this.doneMarks.add(outboxRow);
      this.observe(queue, job.name, 'completed', started);
      return result ?? null;
    } catch (error) {
      // A deferred job neither failed nor completed: BullMQ keeps it delayed and its outbox row stays ENQUEUED.
      this.observe(queue, job.name, error instanceof DelayedError ? 'deferred' : 'failed', started);
      throw error;
    }
  }

  /**
   * A job BullMQ gave up on (final failure), found by the final-failure hook or by the outbox sweeper (a job that
   * stalled more often than allowed never reaches the hook): handed to its @JobAbandonedHandler, if it has one, so the
   * row's owner records the failure, and counted as a final failure. Throws what the handler throws, so the sweeper
   * leaves the job for its next pass.
   */
  async abandoned(job: AbandonedJob): Promise<void> {
    const handler = this.abandonedHandlers.get(`${job.queue}/${job.jobName}`);
    if (handler) await handler(job.payload, job.reason);
    this.metrics.jobFailures.inc({ queue: job.queue, job: job.jobName, final: 'true' });
  }

  /**
   * Every failed attempt. Past the policy's alert threshold the failure is an error and the job joins the alerting set
   * (job_retries_alerting). A final failure goes to the owner's abandoned-job handler first; once that succeeded the
   * outbox row becomes FAILED. If the owner cannot be told now (its database is down), the row stays ENQUEUED and the
   * sweeper finds the failed job and tells the owner again (OutboxPump).
   */
  private async onFailed(queue: QueueName, job: Job | undefined, error: Error) {
    if (!job) {
      this.logger.warn({ queue, err: error.message }, 'job failed');
      return;
    }
    const policy = retryPolicyOf(queue, job.name);
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || error.name === 'UnrecoverableError';
    const alerting = !final && job.attemptsMade >= policy.alertAfterAttempts;
    const log = { queue, job: job.name, jobId: job.id, attempt: job.attemptsMade, final, err: error.message };
    if (alerting) this.logger.error(log, 'job keeps failing: retried past its alert threshold');
    else this.logger.warn(log, 'job failed');
    const key = retryAlertsKey(this.config.values.redisPrefix, queue);
    if (alerting) await this.bestEffort(this.redis.zadd(key, Date.now(), job.id ?? ''), 'could not record a retry alert');
    if (!final) {
      this.metrics.jobFailures.inc({ queue, job: job.name, final: 'false' });
      return;
    }
    if (job.attemptsMade >= policy.alertAfterAttempts)
      await this.bestEffort(this.redis.zrem(key, job.id ?? ''), 'could not clear a retry alert');
    const outboxRow = outboxRowOf(job.id);
    const abandoned: AbandonedJob = {
      outboxId: outboxRow?.id ?? '',
      jobToken: outboxRow?.token ?? '',
      queue,
      jobName: job.name,
      payload: job.data as object,
      reason: error.message,
    };
    try {
      await this.abandoned(abandoned);
    } catch (e) {
      this.logger.error(
        { queue, job: job.name, jobId: job.id, err: (e as Error).message },
        'owner of a failed job not told; the sweeper will',
      );
      return;
    }
    if (!outboxRow) return;
    // The token too: a row re-run since (outbox:retry) has a new one, and this old job's failure is not its own.
    await this.dataSource
      .query(
        `UPDATE outbox SET status = 'FAILED', finished_at = NOW(3), last_error = ? WHERE id = ? AND job_token = ? AND status <> 'DONE'`,
        [error.message.slice(0, 1000), outboxRow.id, outboxRow.token],
      )
      .catch((e: Error) => this.logger.error({ err: e.message, outboxId: outboxRow.id }, 'could not record final job failure'));
  }

  /** A job that had been alerting succeeded: it leaves the alerting set. */
  private async onCompleted(queue: QueueName, job: Job) {
    // attemptsMade counts this successful attempt too.
    if (job.attemptsMade - 1 < retryPolicyOf(queue, job.name).alertAfterAttempts) return;
    this.logger.log({ queue, job: job.name, jobId: job.id, attempts: job.attemptsMade }, 'job succeeded after alerting retries');
    await this.bestEffort(
      this.redis.zrem(retryAlertsKey(this.config.values.redisPrefix, queue), job.id ?? ''),
      'could not clear a retry alert',
    );
  }

  private async bestEffort(op: Promise<unknown>, message: string): Promise<void> {
    await op.catch((e: Error) => this.logger.warn({ err: e.message }, message));
  }

  private observe(queue: string, job: string, outcome: string, started: bigint) {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics.jobDuration.observe({ queue, job, outcome }, seconds);
  }
}
