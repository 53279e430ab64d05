import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { AppConfigService } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';
import { LegacyPublicIdsLoader } from './legacy-public-ids';
import { TransactionRunner } from './transaction.runner';

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfigService],
      useFactory: (config: AppConfigService) => dataSourceOptions(config.values),
    }),
  ],
  providers: [TransactionRunner, LegacyPublicIdsLoader],
  exports: [TransactionRunner],
})
export class DatabaseModule {}
