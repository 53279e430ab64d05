import { randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';

import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';

import { AppConfigService } from '../config/app-config';
import { PROCESS_ROLE, ProcessRole } from '../config/process-role';
import { PROBLEM_CONTENT_TYPE, problemType } from '../http/problem-details';
import { MetricsService } from '../metrics/metrics.service';
import { MetricsAccessRefused, presentsMetricsToken } from '../ops/metrics-access';

/**
 * A worker-only process has no HTTP server, yet its job durations and failures live in its own registry: this
 * serves them for Prometheus on WORKER_METRICS_PORT (GET /metrics). In the `all` role the api's /metrics already does.
 * Like the api's, it answers only `Authorization: Bearer <METRICS_TOKEN>`; with no platform-token verification here,
 * a process without METRICS_TOKEN (development, test) answers nobody.
 */
@Injectable()
export class WorkerMetricsServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WorkerMetricsServer.name);
  private server?: Server;

  constructor(
    private readonly metrics: MetricsService,
    private readonly config: AppConfigService,
    @Inject(PROCESS_ROLE) private readonly role: ProcessRole,
  ) {}

  onApplicationBootstrap() {
    const port = this.config.values.worker.metricsPort;
    const token = this.config.values.ops.metricsToken;
    if (this.role !== 'worker' || port === 0) return;
    if (!token) this.logger.warn({ port }, 'METRICS_TOKEN is not set: the worker metrics server refuses every scrape');
    this.server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      if (!presentsMetricsToken(req.headers.authorization, token)) {
        const refused = new MetricsAccessRefused();
        const problem = {
          type: problemType(refused.code),
          title: refused.title,
          status: 401,
          detail: refused.detail,
          instance: randomUUID(),
        };
        res.writeHead(401, { ...refused.headers, 'content-type': PROBLEM_CONTENT_TYPE }).end(JSON.stringify(problem));
        return;
      }
      this.metrics.render().then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    this.server.on('error', (err) => this.logger.error({ err: err.message, port }, 'worker metrics server failed'));
    this.server.listen(port);
  }

  async onModuleDestroy() {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
