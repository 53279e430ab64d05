import { Controller, Get, Header } from '@nestjs/common';

import { SigningService } from './signing.service';

/** Public: partners verify every artefact with these keys. Cached briefly so a rotation shows up within a minute. */
@Controller('.well-known')
export class JwksController {
  constructor(private readonly signing: SigningService) {}

  @Get('jwks.json')
  @Header('Cache-Control', 'public, max-age=60')
  @Header('Content-Type', 'application/jwk-set+json')
  jwks() {
    return this.signing.jwks();
  }
}
