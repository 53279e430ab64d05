import { FastifyReply, FastifyRequest } from 'fastify';

import { BadRequestError } from '../../common/errors';
import { replyWithProblem } from './problem-details';

/**
 * Only origin-form request targets (`/path?query`, RFC 9112 §3.2.1) are served. The absolute form
 * (`GET http://host/v1/admin/partners`) is for requests to proxies; Fastify's router accepts it and routes by its path,
 * so anything that reads the target itself (the route-group gate once did) sees a different path from the one that runs.
 * The asterisk form (`OPTIONS *`) is refused too: no route answers it.
 */
export function refuseNonOriginForm(request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  if (request.raw.url?.startsWith('/')) return undefined;
  return replyWithProblem(reply, new BadRequestError('The request target must be a path (origin-form), not an absolute URL'), request.id);
}
