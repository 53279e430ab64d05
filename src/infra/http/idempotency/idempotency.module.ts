import { Module } from '@nestjs/common';

import { IdempotencyKeyRepository } from './idempotency-key.repository';
import { IdempotencyPurge } from './idempotency-purge.handler';

/**
 * The idempotency-key store, in every role: the api role claims and records keys (IdempotencyInterceptor, registered
 * by HttpConventionsModule), the worker role purges expired ones.
 */
@Module({ providers: [IdempotencyKeyRepository, IdempotencyPurge], exports: [IdempotencyKeyRepository] })
export class IdempotencyModule {}
