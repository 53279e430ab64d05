import { Module } from '@nestjs/common';

import { PartnerDirectory } from './partner-directory';
import { PartnerSelfController } from './partner-self.controller';
import { PartnersController } from './partners.controller';
import { PartnersRepository } from './partners.repository';
import { PartnersService } from './partners.service';
import { PushEndpointPolicy } from './push-endpoint.policy';

/** Partner banks: their registration (operator API), client keys, scopes and settings. */
@Module({
  controllers: [PartnersController, PartnerSelfController],
  providers: [PartnersRepository, PartnersService, PartnerDirectory, PushEndpointPolicy],
  exports: [PartnersRepository, PartnerDirectory, PushEndpointPolicy],
})
export class PartnersModule {}
