import { Controller, Get, Header, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { FastifyReply, FastifyRequest } from 'fastify';

import { Readiness, ReadinessService } from './readiness.service';

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(private readonly readiness: ReadinessService) {}

  /** Liveness: the process answers. Dependencies are deliberately not checked, so a database outage never restarts pods. */
  @Get('live')
  @Header('cache-control', 'no-store')
  @ApiOkResponse({ description: 'The process is up' })
  live() {
    return { status: 'up' };
  }

  /** Readiness: MySQL and Redis answer within a second each. 503 (problem+json) names the dependency that did not. */
  @Get('ready')
  @Header('cache-control', 'no-store')
  @ApiOkResponse({ description: 'MySQL and Redis are reachable' })
  @ApiServiceUnavailableResponse({ description: 'MySQL or Redis is not reachable; `checks` says which' })
  async ready(@Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    const { ready, checks } = await this.readiness.check();
    if (ready) return { status: 'up', checks };
    const down = (Object.keys(checks) as Array<keyof Readiness['checks']>).filter((k) => checks[k] === 'down');
    reply.status(503).header('content-type', 'application/problem+json');
    return {
      type: 'https://errors.referral-gateway.dev/not-ready',
      title: 'Service not ready',
      status: 503,
      detail: `Not reachable: ${down.join(', ')}`,
      instance: request.id,
      checks,
    };
  }
}
