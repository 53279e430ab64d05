import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { FastifyRequest } from 'fastify';

import { Principal } from '../../common/principal';
import { AuthenticationRequiredError } from './auth-errors';

/** Who acts, and through which request: what a use case needs to authorise itself and write its audit entry. */
export interface RequestActor {
  principal: Principal;
  requestId: string;
  clientIp: string;
}

/** `@Actor() actor: RequestActor` in a guarded controller. */
export const Actor = createParamDecorator((_: unknown, ctx: ExecutionContext): RequestActor => {
  const request = ctx.switchToHttp().getRequest<FastifyRequest>();
  if (!request.principal) throw new AuthenticationRequiredError(request.authFailure);
  return { principal: request.principal, requestId: request.id, clientIp: request.ip };
});

/** The audit columns that say who acted through which request, for a partner caller (actor and partner are its code). */
export const partnerAuditFields = (actor: RequestActor) =>
  ({
    actorType: 'partner',
    actorId: actor.principal.id,
    partnerCode: actor.principal.id,
    requestId: actor.requestId,
    clientIp: actor.clientIp,
  }) as const;
