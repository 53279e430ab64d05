import { applyDecorators, CanActivate, ExecutionContext, Injectable, SetMetadata, UseGuards } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { FastifyReply, FastifyRequest } from 'fastify';

import { ForbiddenError } from '../../common/errors';
import { PlatformRole } from './auth-context';
import { AuthenticationRequiredError } from './auth-errors';

const PLATFORM_ROLES_KEY = Symbol('PLATFORM_ROLES');

/**
 * Lets in a platform JWT holding any of `roles`: `@PlatformRoles('admin')` on /v1/admin controllers, 'compliance'
 * on /v1/compliance, 'user' on /v1/me, 'platform' on /v1/platform. No or a bad token is 401, another role 403.
 */
export const PlatformRoles = (...roles: [PlatformRole, ...PlatformRole[]]) =>
  applyDecorators(SetMetadata(PLATFORM_ROLES_KEY, roles), UseGuards(PlatformRolesGuard));

@Injectable()
export class PlatformRolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const roles = this.reflector.getAllAndOverride<PlatformRole[] | undefined>(PLATFORM_ROLES_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const principal = request.principal;
    if (!principal)
      throw challenge(context.switchToHttp().getResponse<FastifyReply>(), new AuthenticationRequiredError(request.authFailure));
    if (principal.type === 'partner' || !roles?.some((role) => principal.roles?.includes(role))) {
      throw new ForbiddenError('This token does not carry a role that may use this resource');
    }
    return true;
  }
}

/** The challenge goes on the reply too, so it survives whichever filter renders the error. */
export function challenge<E extends { headers?: Record<string, string> }>(reply: FastifyReply, error: E): E {
  for (const [name, value] of Object.entries(error.headers ?? {})) reply.header(name, value);
  return error;
}
