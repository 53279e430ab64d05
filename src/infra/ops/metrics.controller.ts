import { Controller, Get, Header, Req } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { FastifyRequest } from 'fastify';

import { AppConfigService } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { mayReadMetrics, MetricsAccessRefused } from './metrics-access';

/**
 * Prometheus scrape endpoint (text exposition format), for the scraper's METRICS_TOKEN or an operator's platform token
 * only (metrics-access.ts). Not part of the partner contract, so not in the OpenAPI document.
 */
@ApiExcludeController()
@Controller('metrics')
export class MetricsController {
  private readonly metricsToken: string | undefined;

  constructor(
    private readonly metrics: MetricsService,
    config: AppConfigService,
  ) {
    this.metricsToken = config.values.ops.metricsToken;
  }

  @Get()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  @Header('cache-control', 'no-store')
  scrape(@Req() request: FastifyRequest): Promise<string> {
    if (!mayReadMetrics(request.headers.authorization, this.metricsToken, request.principal)) throw new MetricsAccessRefused();
    return this.metrics.render();
  }
}
