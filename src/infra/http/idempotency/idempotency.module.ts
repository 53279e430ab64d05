import { Injectable, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JobHandler } from '../../queues/job-handler.decorator';

@Injectable()
export class IdempotencyPurge {
  constructor(private readonly dataSource: DataSource) {}

  @JobHandler('maintenance', 'idempotency-keys.purge')
  async purge(): Promise<void> {
    await this.dataSource.query('DELETE FROM idempotency_keys WHERE expires_at < NOW(3) LIMIT 10000');
  }
}

@Module({ providers: [IdempotencyPurge] })
export class IdempotencyModule {}
