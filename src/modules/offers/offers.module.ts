import { Module } from '@nestjs/common';

import { MeOffersController } from './me-offers.controller';
import { OffersRepository } from './offers.repository';
import { OffersService } from './offers.service';
import { OffersTimeline } from './offers-timeline';

/**
 * Pre-screened offers: made in bulk by pre-screen runs, listed to the applicant, withdrawn on opt-out, consumed by
 * an application (OffersRepository is exported for those use cases).
 */
@Module({
  controllers: [MeOffersController],
  providers: [OffersRepository, OffersService, OffersTimeline],
  exports: [OffersRepository, OffersService, OffersTimeline],
})
export class OffersModule {}
