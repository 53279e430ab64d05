import { Global, Module } from '@nestjs/common';

import { JwksController } from './jwks.controller';
import { SigningService } from './signing.service';
import { SigningKeyRepository } from './signing-key.repository';
import { SigningKeyRotation } from './signing-key.rotation';
import { SigningKeysAdminController } from './signing-keys.admin.controller';

/** The gateway's signing keys, the JWKS and the one signing service every artefact goes through. */
@Global()
@Module({
  controllers: [JwksController, SigningKeysAdminController],
  providers: [SigningKeyRepository, SigningKeyRotation, SigningService],
  exports: [SigningService],
})
export class SigningModule {}
