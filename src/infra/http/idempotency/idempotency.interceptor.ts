import { createHash } from 'node:crypto';

import { CallHandler, ExecutionContext, Injectable, Logger, NestInterceptor, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Observable } from 'rxjs';

import { BadRequestError, ConflictError, UnprocessableError } from '../../../common/errors';
import { principalKey } from '../../../common/principal';
import { AppConfigService } from '../../config/app-config';
import { TransactionParticipant, withTransactionParticipant } from '../../database/transaction-participant';
import { IdempotencyKeyRepository } from './idempotency-key.repository';
import { IdempotentReplay } from './idempotent-replay';
import { requestFingerprint } from './request-fingerprint';

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** API.md exempts the OAuth token endpoint: RFC 6749 clients do not send the header, and tokens must not be replayed. */
const EXEMPT_ROUTES = new Set(['POST /oauth/token']);
/** 1–255 printable ASCII characters (API.md). */
const KEY_FORMAT = /^[\x20-\x7E]{1,255}$/;
/** An IN_FLIGHT claim older than this was left by a process that died mid-request; the key is free again. */
export const ABANDONED_AFTER_MINUTES = 10;
const PRINCIPAL_COLUMN_LENGTH = 160;
/** Waits before each further attempt to store an answer (a database blip); the response waits for them. */
const STORE_RETRY_DELAYS_MS = [100, 400];

const SKIP_IDEMPOTENCY = Symbol('SKIP_IDEMPOTENCY');
/** For an unsafe route that must never replay (like the token endpoint). */
export const SkipIdempotency = () => SetMetadata(SKIP_IDEMPOTENCY, true);

type Recorder = (status: number, payload: unknown, contentType: string) => Promise<void>;
const RECORDER = Symbol('idempotencyRecorder');
type RecordingRequest = FastifyRequest & { [RECORDER]?: Recorder };

/**
 * Idempotency-Key for every unsafe call (API.md): the first request claims the key with an INSERT (the primary key
 * decides races), runs, and its response (status, body, content type, exactly as sent, problems included) is stored
 * by the onSend hook below; the same key with the same request replays it, with a different request is 422, and
 * while the first is still running is 409. Keys are per principal, so runs after authentication (interceptors follow
 * guards).
 * The request's first committed transaction (TransactionRunner) also marks the key COMMITTED, in that transaction:
 * once the effect is in the database the key is never freed again, so a failed store of the answer, or a crash before
 * it, cannot make the request run twice. A response >= 500 releases a key without a committed effect, so the client
 * can retry; an answer that cannot be stored after a committed effect (over `IDEMPOTENCY_MAX_ANSWER_BYTES`, a 5xx, a
 * store that keeps failing) is answered `409 idempotency-key-answer-not-kept` to the same key (docs/RELIABILITY.md).
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private readonly logger = new Logger(IdempotencyInterceptor.name);

  constructor(
    private readonly keys: IdempotencyKeyRepository,
    private readonly config: AppConfigService,
    private readonly reflector: Reflector,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<RecordingRequest>();
    const header = request.headers['idempotency-key'];
    if (header === undefined || !UNSAFE_METHODS.has(request.method)) return next.handle();
    if (EXEMPT_ROUTES.has(`${request.method} ${request.routeOptions.url}`)) return next.handle();
    if (this.reflector.getAllAndOverride<boolean>(SKIP_IDEMPOTENCY, [context.getHandler(), context.getClass()])) {
      return next.handle();
    }

    if (typeof header !== 'string' || !KEY_FORMAT.test(header)) {
      throw new BadRequestError('Idempotency-Key must be one header of 1 to 255 printable ASCII characters', [
        { field: 'Idempotency-Key', message: 'must be 1 to 255 printable ASCII characters' },
      ]);
    }
    const key = header;
    const principal = storedPrincipal(principalKey(request.principal, request.ip));
    const hash = requestFingerprint(request.method, request.url, request.body);

    await this.claimOrAnswer(principal, key, hash);
    request[RECORDER] = (status, payload, contentType) => this.record(principal, key, status, payload, contentType);
    return withTransactionParticipant(this.effectMark(principal, key), () => next.handle());
  }

  /** Marks the key COMMITTED in the request's transactions until one of them has committed (then the mark is there). */
  private effectMark(principal: string, key: string): TransactionParticipant {
    let marked = false;
    return {
      beforeCommit: async (m) => {
        if (!marked) await this.keys.markCommitted(m, principal, key);
      },
      afterCommit: () => {
        marked = true;
      },
    };
  }

  /** Returns once this request owns the key; otherwise throws the answer (replay, 409 or 422). */
  private async claimOrAnswer(principal: string, key: string, hash: string): Promise<void> {
    const ttlHours = this.config.values.http.idempotencyTtlHours;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await this.keys.claim(principal, key, hash, ttlHours)) return;
      // Expired or abandoned rows do not bind the client: drop them and claim once more.
      if (attempt === 0 && (await this.keys.deleteIfStale(principal, key, ABANDONED_AFTER_MINUTES))) continue;
      const stored = await this.keys.find(principal, key, ABANDONED_AFTER_MINUTES);
      // Gone between INSERT and SELECT (the first request failed with a 5xx and released it): claim again.
      if (!stored) continue;
      if (stored.requestHash !== hash) {
        throw new UnprocessableError(
          'idempotency-key-reused',
          'This Idempotency-Key was already used with a different request; use a new key for a new request',
        );
      }
      if (stored.state === 'COMPLETED' && stored.responseStatus !== null) {
        throw new IdempotentReplay(stored.responseStatus, stored.responseBody ?? '', stored.responseContentType ?? 'application/json');
      }
      // A COMMITTED claim that old lost its answer (the process died, or the store kept failing, after the commit).
      if (stored.state === 'ANSWER_NOT_KEPT' || (stored.state === 'COMMITTED' && stored.old)) throw answerNotKept();
      throw new ConflictError('idempotency-key-in-flight', 'A request with this Idempotency-Key is still being processed; retry later');
    }
    throw new ConflictError('idempotency-key-in-flight', 'A request with this Idempotency-Key is still being processed; retry later');
  }

  private async record(principal: string, key: string, status: number, payload: unknown, contentType: string): Promise<void> {
    try {
      const body =
        typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : payload == null ? '' : undefined;
      if (status >= 500 || body === undefined) {
        // A server fault is not an answer worth replaying; a streamed body cannot be stored. Either way the key is
        // freed, unless the effect committed: then it must never run again.
        if (!(await this.keys.release(principal, key))) await this.keys.markAnswerNotKept(principal, key);
        return;
      }
      const maxBytes = this.config.values.http.idempotencyMaxAnswerBytes;
      const bytes = Buffer.byteLength(body, 'utf8');
      if (bytes > maxBytes) {
        this.logger.warn({ bytes, maxBytes }, 'an idempotent answer is too large to keep; the same key will answer 409');
        await this.keys.markAnswerNotKept(principal, key);
        return;
      }
      await this.storeAnswer(principal, key, status, body, contentType);
    } catch (error) {
      // The client still gets its response. A COMMITTED claim is never run again (answer-not-kept once old); an
      // IN_FLIGHT one had no committed effect and is freed once it counts as abandoned.
      this.logger.error({ err: error }, 'could not record the response of an idempotent request');
    }
  }

  /** Stores the answer, retried over a blip; if it cannot be stored, marks it not kept (when even that works). */
  private async storeAnswer(principal: string, key: string, status: number, body: string, contentType: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.keys.complete(principal, key, status, body, contentType);
        return;
      } catch (error) {
        if (attempt >= STORE_RETRY_DELAYS_MS.length) {
          this.logger.error({ err: error }, 'could not store the answer of an idempotent request; the same key will answer 409');
          await this.keys.markAnswerNotKept(principal, key);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, STORE_RETRY_DELAYS_MS[attempt]));
      }
    }
  }
}

const answerNotKept = () =>
  new ConflictError(
    'idempotency-key-answer-not-kept',
    'The request with this Idempotency-Key was carried out, but its answer could not be kept for replay; read the resources it changed, or send a new request with a new key',
  );

/** Principals longer than the column (long JWT subjects) are stored by digest. */
function storedPrincipal(key: string): string {
  return key.length <= PRINCIPAL_COLUMN_LENGTH ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/**
 * Stores each claimed request's response as it is sent. onSend sees the final status and serialized body, whether
 * the controller answered or ProblemDetailsFilter did; awaiting the write means a retry after the response finds
 * the row COMPLETED, never still IN_FLIGHT.
 */
export function registerIdempotencyRecorder(fastify: FastifyInstance): void {
  fastify.addHook('onSend', async (request: RecordingRequest, reply: FastifyReply, payload: unknown) => {
    const recorder = request[RECORDER];
    if (recorder) {
      request[RECORDER] = undefined;
      const contentType = reply.getHeader('content-type');
      await recorder(reply.statusCode, payload, typeof contentType === 'string' ? contentType : 'application/json');
    }
    return payload;
  });
}
