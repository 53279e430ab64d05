import { STATUS_CODES } from 'node:http';

import { HttpException } from '@nestjs/common';
import { FastifyReply } from 'fastify';

import { DomainError, FieldError } from '../../common/errors';
import { isDatabaseUnavailable } from '../database/database-unavailable';

/** RFC 9457 problem details as API.md defines them. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  /** The request id, so a client can quote it and an operator can find the logs. */
  instance: string;
  errors?: FieldError[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const problemType = (code: string) => `https://errors.referral-gateway.dev/${code}`;

export interface MappedProblem {
  problem: ProblemDetails;
  headers: Record<string, string>;
  /** A server fault: the client sees only the request id, the log gets the real error. */
  serverFault: boolean;
}

type Known = { code: string; title: string; detail: string };

/** Fixed wording per status for HTTP errors that do not come from our own DomainErrors. */
const BY_STATUS: Record<number, Known> = {
  400: { code: 'bad-request', title: 'The request is not valid', detail: 'The request could not be understood' },
  401: { code: 'unauthorized', title: 'Authentication required', detail: 'A valid credential is required' },
  403: { code: 'forbidden', title: 'Forbidden', detail: 'This credential may not use this resource' },
  404: { code: 'not-found', title: 'Not found', detail: 'No such resource' },
  405: { code: 'method-not-allowed', title: 'Method not allowed', detail: 'This resource does not support the method' },
  406: { code: 'not-acceptable', title: 'Not acceptable', detail: 'No acceptable representation is available' },
  408: { code: 'request-timeout', title: 'Request timeout', detail: 'The request took too long to arrive' },
  409: { code: 'conflict', title: 'Conflict with the current state', detail: 'The request conflicts with the current state' },
  413: {
    code: 'payload-too-large',
    title: 'Request body too large',
    detail: 'The body exceeds the limit of this endpoint (1 MiB; 10 MiB for bulk endpoints)',
  },
  415: {
    code: 'unsupported-media-type',
    title: 'Unsupported media type',
    detail: 'Send application/json (or application/x-ndjson where an endpoint accepts it)',
  },
  422: { code: 'unprocessable', title: 'Unprocessable request', detail: 'The request cannot be processed' },
  429: { code: 'rate-limited', title: 'Too many requests', detail: 'The rate limit of this client is exhausted; retry later' },
  503: { code: 'service-unavailable', title: 'Service unavailable', detail: 'The service is temporarily unavailable' },
};

/** Errors Fastify raises before our code runs (body parsing, limits), by their stable code. */
const FASTIFY_CODES: Record<string, Known> = {
  FST_ERR_CTP_BODY_TOO_LARGE: BY_STATUS[413],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: BY_STATUS[415],
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'malformed-body', title: 'The request is not valid', detail: 'The JSON body is empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'malformed-json', title: 'The request is not valid', detail: 'The body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'bad-request',
    title: 'The request is not valid',
    detail: 'Content-Length does not match the body',
  },
};

/** The database is down, restarting, full or every pooled connection busy: the client should come back shortly. */
const UNAVAILABLE: Known = {
  code: 'service-unavailable',
  title: 'Service unavailable',
  detail: 'The service is temporarily unavailable; retry later',
};
const UNAVAILABLE_RETRY_AFTER_SECONDS = '5';

const INTERNAL: Known = {
  code: 'internal-error',
  title: 'Internal server error',
  detail: 'An unexpected error occurred; quote the instance (request id) when reporting it',
};

interface StatusError {
  statusCode: number;
  code?: string;
}

const hasStatus = (e: unknown): e is Error & StatusError =>
  e instanceof Error && typeof (e as Partial<StatusError>).statusCode === 'number';

/** The client error Fastify produced, whether it reaches us raw or wrapped by Nest's FastifyAdapter.mapException. */
function fastifyClientError(exception: unknown): (Error & StatusError) | undefined {
  const candidate = exception instanceof HttpException ? exception.cause : exception;
  return hasStatus(candidate) && candidate.statusCode >= 400 && candidate.statusCode < 500 ? candidate : undefined;
}

function fromKnown(k: Known, status: number, instance: string): ProblemDetails {
  return { type: problemType(k.code), title: k.title, status, detail: k.detail, instance };
}

function fromStatus(status: number, instance: string): ProblemDetails {
  return fromKnown(
    BY_STATUS[status] ?? { code: `http-${status}`, title: 'Request failed', detail: 'The request failed' },
    status,
    instance,
  );
}

/**
 * Maps anything thrown while serving a request to problem details. Only our own wording reaches the client:
 * messages of unknown errors (which may hold SQL, stack frames or class names) are never copied.
 */
export function toProblem(exception: unknown, instance: string): MappedProblem {
  if (exception instanceof DomainError) {
    const problem: ProblemDetails = {
      type: problemType(exception.code),
      title: exception.title,
      status: exception.status,
      instance,
    };
    if (exception.detail !== undefined) problem.detail = exception.detail;
    if (exception.errors?.length) problem.errors = exception.errors;
    return { problem, headers: { ...exception.headers }, serverFault: exception.status >= 500 };
  }

  const fastifyError = fastifyClientError(exception);
  if (fastifyError) {
    const known =
      (fastifyError.code && FASTIFY_CODES[fastifyError.code]) ||
      // Fastify's JSON parser reports a syntax error as a plain SyntaxError with statusCode 400.
      (fastifyError instanceof SyntaxError ? FASTIFY_CODES.FST_ERR_CTP_INVALID_JSON_BODY : undefined);
    const problem = known ? fromKnown(known, fastifyError.statusCode, instance) : fromStatus(fastifyError.statusCode, instance);
    return { problem, headers: {}, serverFault: false };
  }

  if (exception instanceof HttpException && exception.getStatus() < 500) {
    const status = exception.getStatus();
    const problem = fromStatus(status, instance);
    // 404 and 429 messages from Nest echo the URL or name the exception class; other 4xx messages are written for clients.
    if (status !== 404 && status !== 429 && exception.message && exception.message !== STATUS_CODES[status]) {
      problem.detail = exception.message;
    }
    return { problem, headers: {}, serverFault: false };
  }

  if (exception instanceof HttpException && exception.getStatus() === 503) {
    return { problem: fromStatus(503, instance), headers: {}, serverFault: true };
  }

  if (isDatabaseUnavailable(exception)) {
    return {
      problem: fromKnown(UNAVAILABLE, 503, instance),
      headers: { 'retry-after': UNAVAILABLE_RETRY_AFTER_SECONDS },
      serverFault: true,
    };
  }

  return { problem: fromKnown(INTERNAL, 500, instance), headers: {}, serverFault: true };
}

/** Answers a client error from a Fastify hook (before Nest runs) with the problem+json the global filter would give. */
export function replyWithProblem(reply: FastifyReply, error: DomainError, instance: string): FastifyReply {
  const { problem, headers } = toProblem(error, instance);
  return reply.status(problem.status).headers(headers).header('content-type', PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}
