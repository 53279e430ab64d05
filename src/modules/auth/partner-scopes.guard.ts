import { applyDecorators, CanActivate, ExecutionContext, Injectable, SetMetadata, UseGuards } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { FastifyReply, FastifyRequest } from 'fastify';

import { ForbiddenError } from '../../common/errors';
import { PartnerScope } from '../partners/partner';
import { AuthenticationRequiredError, InsufficientScopeError } from './auth-errors';
import { challenge } from './platform-roles.guard';

const PARTNER_SCOPES_KEY = Symbol('PARTNER_SCOPES');

/**
 * Lets in a partner access token holding every one of `scopes` (none: any authenticated partner). No or a bad token
 * is 401 (RFC 6750 invalid_token), a missing scope 403 insufficient_scope, a platform token 403.
 */
export const PartnerScopes = (...scopes: PartnerScope[]) =>
  applyDecorators(SetMetadata(PARTNER_SCOPES_KEY, scopes), UseGuards(PartnerScopesGuard));

@Injectable()
export class PartnerScopesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const needed = this.reflector.getAllAndMerge<PartnerScope[]>(PARTNER_SCOPES_KEY, [context.getHandler(), context.getClass()]) ?? [];
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    const principal = request.principal;
    if (!principal) throw challenge(reply, new AuthenticationRequiredError(request.authFailure));
    if (principal.type !== 'partner') throw new ForbiddenError('Only a partner access token may use this resource');
    const missing = needed.filter((scope) => !principal.scopes?.includes(scope));
    if (missing.length > 0) throw challenge(reply, new InsufficientScopeError(missing));
    return true;
  }
}
