import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';

import { IdempotentReplay } from './idempotency/idempotent-replay';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem-details';

/**
 * The one place where failures become responses: RFC 9457 application/problem+json for everything thrown in a
 * controller, guard, pipe or interceptor, and also for what Fastify rejects before Nest runs (bad JSON, body
 * limits, media types, unknown routes), because Nest routes Fastify's error and not-found handlers through the
 * global filters. A server fault is logged here with the request id and answered with the request id only.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpErrors');

  catch(exception: unknown, host: ArgumentsHost) {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const request = host.switchToHttp().getRequest<FastifyRequest>();

    if (exception instanceof IdempotentReplay) {
      // Not an error: the stored response of an earlier request with the same Idempotency-Key (see the interceptor).
      reply.status(exception.status).header('content-type', exception.contentType).header('idempotent-replayed', 'true');
      reply.send(exception.body);
      return;
    }

    const { problem, headers, serverFault } = toProblem(exception, request.id);
    if (serverFault) {
      this.logger.error({ requestId: request.id, err: exception }, 'request failed with a server fault');
    }
    if (reply.sent) return; // a failure after the response went out: logged above, nothing left to tell the client
    reply.status(problem.status).headers(headers).header('content-type', PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  }
}
