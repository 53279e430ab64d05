import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { FastifyInstance } from 'fastify';
import { DataSource } from 'typeorm';

import { MetricsService } from '../metrics/metrics.service';
import { OUTBOX_STATUSES, OutboxStatsRepository } from './outbox-stats.repository';

/** Requests that matched no route share one label, so random URLs cannot blow up the metric's cardinality. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Feeds the api role's metrics: one latency observation per HTTP response, labelled by route pattern
 * (`/partner/v1/referrals/:id`, never the raw URL), this process counted in `api_processes` once it listens, and
 * outbox row counts read from MySQL at scrape time.
 */
@Injectable()
export class OpsMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly adapterHost: HttpAdapterHost,
    private readonly dataSource: DataSource,
  ) {}

  onModuleInit() {
    // Absent when the module runs in a plain application context (e.g. a CLI command): nothing to observe then.
    const fastify = this.adapterHost.httpAdapter?.getInstance?.() as FastifyInstance | undefined;
    fastify?.addHook('onResponse', async (request, reply) => {
      this.metrics.httpRequestDuration.observe(
        { method: request.method, route: request.routeOptions.url ?? UNMATCHED_ROUTE, status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
    fastify?.addHook('onListen', async () => this.metrics.apiProcesses.set(1));

    const outboxStats = new OutboxStatsRepository(this.dataSource);
    this.metrics.onScrape(async () => {
      const { counts } = await outboxStats.read();
      for (const status of OUTBOX_STATUSES) this.metrics.outboxPending.set({ status }, counts[status]);
    });
  }
}
