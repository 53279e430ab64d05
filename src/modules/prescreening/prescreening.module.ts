import { Module } from '@nestjs/common';

import { CardProductsModule } from '../card-products/card-products.module';
import { OffersModule } from '../offers/offers.module';
import { CriteriaModule } from './criteria/criteria.module';
import { MePreferencesController } from './me-preferences.controller';
import { PrescreenExecution } from './prescreen-execution.service';
import { PrescreenJobsProcessor } from './prescreen-jobs.processor';
import { PrescreenRunsController } from './prescreen-runs.controller';
import { PrescreenRunsRepository } from './prescreen-runs.repository';
import { PrescreenRunsService } from './prescreen-runs.service';
import { UserPreferencesRepository } from './user-preferences.repository';
import { UserPreferencesService } from './user-preferences.service';

/**
 * Pre-screening: runs of a card product's criteria over every current credit record, in user-id-range chunks
 * shared by all workers (docs/PRESCREENING.md), and the applicant's opt-out. The criteria engine is ./criteria.
 */
@Module({
  imports: [CardProductsModule, OffersModule, CriteriaModule],
  controllers: [PrescreenRunsController, MePreferencesController],
  providers: [
    PrescreenRunsRepository,
    PrescreenRunsService,
    PrescreenExecution,
    PrescreenJobsProcessor,
    UserPreferencesRepository,
    UserPreferencesService,
  ],
  exports: [PrescreenRunsService, CriteriaModule],
})
export class PrescreeningModule {}
