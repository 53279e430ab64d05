import { createServer, Server } from 'node:http';

import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';

import { AppConfigService } from '../config/app-config';
import { PROCESS_ROLE, ProcessRole } from '../config/process-role';
import { MetricsService } from '../metrics/metrics.service';

/**
 * A worker-only process has no HTTP server, yet its job durations and failures live in its own registry: this
 * serves them for Prometheus on WORKER_METRICS_PORT (GET /metrics). In the `all` role the api's /metrics already does.
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
    if (this.role !== 'worker' || port === 0) return;
    this.server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end();
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
