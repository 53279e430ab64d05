import { FastifyInstance } from 'fastify';

import { DomainError } from '../../common/errors';
import { isBulkRoute } from './body-limits';
import { replyWithProblem } from './problem-details';

/**
 * The deepest nesting a JSON body may have. No body of API.md nests beyond a handful of levels (a partner's JWKS:
 * 3); a body nested a thousand levels deep is only ever an attack, and the recursive walks it meets (class-transformer
 * building a DTO, class-validator, canonical JSON for fingerprints) turned it into a 500.
 */
export const MAX_JSON_DEPTH = 32;

export class NestedTooDeepError extends DomainError {
  constructor() {
    super(400, 'nested-too-deep', 'The request is not valid', `The JSON body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
}

/** Whether `value` nests deeper than `max` arrays/objects. Iterative: the value may be deeper than the call stack. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Refuses a too-deep JSON body with 400 once Fastify has parsed it and before Nest runs anything (guards,
 * interceptors, pipes). Bulk routes are left to their own line parser, which answers such a line in its results.
 */
export function refuseDeepBodies(fastify: FastifyInstance): void {
  fastify.addHook('preValidation', async (request, reply) => {
    if (isBulkRoute(request.routeOptions.config) || !nestsDeeperThan(request.body, MAX_JSON_DEPTH)) return;
    return replyWithProblem(reply, new NestedTooDeepError(), request.id);
  });
}
