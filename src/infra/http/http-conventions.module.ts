import { Module, OnModuleInit } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { FastifyInstance } from 'fastify';

import { AppConfigService } from '../config/app-config';
import { IdempotencyInterceptor, registerIdempotencyRecorder } from './idempotency/idempotency.interceptor';
import { IdempotencyModule } from './idempotency/idempotency.module';
import { PrincipalThrottlerGuard } from './rate-limit/principal-throttler.guard';
import { RateLimitStorage } from './rate-limit/rate-limit.storage';

/**
 * The per-route conventions of API.md for every controller of the api role: the per-client rate limit (shared
 * through Redis) and Idempotency-Key. The per-request ones (request id, body limits, problem+json, validation,
 * security headers) are applied in createHttpApp.
 */
@Module({
  imports: [
    IdempotencyModule,
    ThrottlerModule.forRootAsync({
      inject: [AppConfigService],
      useFactory: ({ values }: AppConfigService) => ({
        // Named 'default' so the headers are plain X-RateLimit-Limit / -Remaining / -Reset and Retry-After.
        throttlers: [{ name: 'default', limit: values.http.rateLimit.limit, ttl: values.http.rateLimit.windowSeconds * 1000 }],
        storage: new RateLimitStorage(values),
      }),
    }),
  ],
  providers: [
    { provide: APP_GUARD, useClass: PrincipalThrottlerGuard },
    { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
  ],
})
export class HttpConventionsModule implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit() {
    // Hooks added before Fastify is ready apply to every route, including those Nest registered just before.
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (fastify) registerIdempotencyRecorder(fastify);
  }
}
