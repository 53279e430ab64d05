import { Controller, Header, HttpCode, Post, Req, UseFilters } from '@nestjs/common';
import { FastifyRequest } from 'fastify';

import { OAuthErrorFilter } from './oauth-error';
import { OAuthTokenService, TokenResponse } from './oauth-token.service';

/** POST /oauth/token (API.md): form-encoded in, RFC 6749 JSON out, never cached. */
@Controller('oauth')
@UseFilters(OAuthErrorFilter)
export class OAuthTokenController {
  constructor(private readonly tokens: OAuthTokenService) {}

  @Post('token')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  token(@Req() request: FastifyRequest): Promise<TokenResponse> {
    return this.tokens.issue(request.body, { contentType: request.headers['content-type'], requestId: request.id, clientIp: request.ip });
  }
}
