import { Module } from '@nestjs/common';

import { CreditRecordsController } from './credit-records.controller';
import { CreditRecordsRepository } from './credit-records.repository';
import { CreditRecordsService } from './credit-records.service';
import { IdentityProtector } from './identity-protector';

/** Ingest and reading of the platform's credit records (the current record per user and its identity). */
@Module({
  controllers: [CreditRecordsController],
  providers: [CreditRecordsService, CreditRecordsRepository, IdentityProtector],
  exports: [CreditRecordsService, IdentityProtector],
})
export class CreditRecordsModule {}
