import { Module } from '@nestjs/common';

/** Placeholder: rate limiting and idempotency for every route of the api role. */
@Module({})
export class HttpConventionsModule {}
