import { Module } from '@nestjs/common';

import { PartnersModule } from '../partners/partners.module';
import { CardProductsController } from './card-products.controller';
import { CardProductsRepository } from './card-products.repository';
import { CardProductsService } from './card-products.service';

/** Card products of partner banks: versioned definitions (criteria, shared fields, consent text, terms). */
@Module({
  imports: [PartnersModule],
  controllers: [CardProductsController],
  providers: [CardProductsRepository, CardProductsService],
  exports: [CardProductsRepository, CardProductsService],
})
export class CardProductsModule {}
