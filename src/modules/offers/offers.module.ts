import { Module } from '@nestjs/common';

import { MeOffersController } from './me-offers.controller';
import { OffersRepository } from './offers.repository';
import { OffersService } from './offers.service';

/**
 * Pre-screened offers: made in bulk by pre-screen runs, listed to the applicant, withdrawn on opt-out, consumed by
 * an application (OffersRepository is exported for those use cases).
 */
@Module({
  controllers: [MeOffersController],
  providers: [OffersRepository, OffersService],
  exports: [OffersRepository, OffersService],
})
export class OffersModule {}
