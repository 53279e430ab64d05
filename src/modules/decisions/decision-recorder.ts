import { Injectable, Logger } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { ConflictError, DomainError, NotFoundError, ValidationFailedError } from '../../common/errors';
import { keyOf, toPublicId } from '../../common/public-id';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { boundedErrors } from '../../infra/http/bulk-lines';
import { InternalLineError, lineFailed, LineResult as LineResults, notJsonLine } from '../../infra/http/line-results';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { AuditWriter } from '../audit/audit.writer';
import { AuditEntryInput } from '../audit/audit-entry';
import { ReferralTransitions } from '../referrals/referral-transitions';
import { decidedBeforeCreation, Decision, parseDecision, sameDecision } from './decision-input';
import { DecidableRow, decisionOf, DecisionsRepository } from './decisions.repository';

/** Who decides: always a partner (an operator uploading a file acts on the partner's behalf, named in `via`). */
export interface DecidingPartner {
  partnerId: string;
  partnerCode: string;
  requestId: string;
  clientIp?: string;
  /** Set when an operator uploaded the file for the partner. */
  via?: { type: 'admin'; id: string };
}

/** One line to decide: its number, and its JSON value or `notJson`. */
export type DecisionLine = { line: number; value: unknown; notJson?: false } | { line: number; notJson: true };

/** The answer to a decision (API.md). */
export interface DecisionView {
  id: string;
  productCode: string;
  status: string;
  createdAt: string;
  expiresAt: string;
  decision: Decision;
}

/** A line's answer: the status it would have had alone, and its body (a view) or problem. */
export type LineResult = LineResults<DecisionView>;

/** Lines per transaction in bulk: commits amortised, locks held briefly. */
const CHUNK = 200;
/** Chunks in flight at once per request (the pool has 10 connections by default; leave room for others). */
const PARALLEL_CHUNKS = 4;

type Outcome = { view: DecisionView; moved?: { from: string; to: string; userId: string } } | { error: DomainError };

/**
 * Records bank decisions: the one function behind the single endpoint, the bulk NDJSON endpoint and decision files,
 * so a line always gets the answer it would have had alone. Lines are validated on their own, the partner's referrals
 * for all lines are looked up in one query, and lines are decided in chunks: one transaction per chunk, each line's
 * move its own conditional update (ReferralTransitions.move) under the chunk's row locks. Chunks run at once, so one
 * referral's lines are never split between two: they run in one chunk, in line order. If a chunk fails for an
 * unexpected reason, its lines are retried one transaction each, so one bad line cannot sink its neighbours.
 */
@Injectable()
export class DecisionRecorder {
  private readonly logger = new Logger(DecisionRecorder.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly repository: DecisionsRepository,
    private readonly transitions: ReferralTransitions,
    private readonly outbox: OutboxService,
    private readonly audit: AuditWriter,
  ) {}

  /**
   * `inTransaction`, when given, runs in each transaction that decides lines, with those lines' answers, before the
   * commit: a decision file stores its answers there, so a line's effect and its answer commit together.
   */
  async decide(
    partner: DecidingPartner,
    lines: DecisionLine[],
    withReferralId: boolean,
    fixedReferralId?: string,
    inTransaction?: (m: EntityManager, answered: LineResult[]) => Promise<void>,
  ): Promise<LineResult[]> {
    const now = new Date();
    const results = new Map<number, LineResult>();
    type Pending = { line: number; referralId: string; key: string; decision: Decision };
    const pending: Pending[] = [];
    for (const l of lines) {
      if (l.notJson) {
        results.set(l.line, this.failed(partner, l.line, null, notJsonLine()));
        continue;
      }
      const parsed = parseDecision(l.value, withReferralId, now);
      const referralId = fixedReferralId ?? parsed.referralId ?? null;
      if (!parsed.ok) {
        results.set(l.line, this.failed(partner, l.line, referralId, new ValidationFailedError(boundedErrors(parsed.errors))));
        continue;
      }
      const key = referralId ? keyOf('ref', referralId) : undefined;
      if (!key) {
        results.set(l.line, this.failed(partner, l.line, referralId, new NotFoundError('referral')));
        continue;
      }
      pending.push({ line: l.line, referralId: referralId!, key, decision: parsed.decision });
    }

    const keys = [...new Set(pending.map((p) => p.key))];
    const codes = await this.repository.productCodes(partner.partnerId, keys);
    const missing = pending.filter((p) => !codes.has(p.key));
    await this.auditProbes(
      partner,
      missing.map((p) => p.key),
    );
    for (const p of missing) results.set(p.line, this.failed(partner, p.line, p.referralId, new NotFoundError('referral')));

    // Same referral's lines stay in line order (a file may hold PENDING_REVIEW then APPROVED); ids ascending across chunks.
    const found = pending.filter((p) => codes.has(p.key)).sort((a, b) => cmpKey(a.key, b.key) || a.line - b.line);
    const chunks = chunksKeepingKeys(found, CHUNK);
    const resultOf = (p: Pending, o: Outcome): LineResult =>
      'error' in o
        ? this.failed(partner, p.line, p.referralId, o.error)
        : { line: p.line, referralId: p.referralId, status: 200, view: o.view };
    const decideIn = async (m: EntityManager, lines: Pending[]): Promise<Outcome[]> => {
      const outcomes = await this.decideChunk(m, partner, lines, codes);
      if (inTransaction)
        await inTransaction(
          m,
          lines.map((p, i) => resultOf(p, outcomes[i])),
        );
      return outcomes;
    };
    let next = 0;
    const worker = async () => {
      for (let c = next++; c < chunks.length; c = next++) {
        const chunk = chunks[c];
        let outcomes: Outcome[];
        try {
          outcomes = await this.tx.run((m) => decideIn(m, chunk));
        } catch (error) {
          if (chunk.length === 1) {
            this.logger.error({ requestId: partner.requestId, err: error }, 'decision failed');
            outcomes = [{ error: new InternalLineError() }];
          } else {
            // Retry alone: a line that fails on its own then fails alone, its neighbours succeed.
            outcomes = [];
            for (const p of chunk) {
              try {
                outcomes.push(...(await this.tx.run((m) => decideIn(m, [p]))));
              } catch (lineError) {
                this.logger.error({ requestId: partner.requestId, err: lineError }, 'decision failed');
                outcomes.push({ error: new InternalLineError() });
              }
            }
          }
        }
        chunk.forEach((p, i) => results.set(p.line, resultOf(p, outcomes[i])));
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_CHUNKS, chunks.length) }, worker));
    return lines.map((l) => results.get(l.line)!);
  }

  /** Decides a chunk's lines under one set of row locks; returns one outcome per line, in the chunk's order. */
  private async decideChunk(
    m: EntityManager,
    partner: DecidingPartner,
    chunk: { line: number; referralId: string; key: string; decision: Decision }[],
    codes: Map<string, string>,
  ): Promise<Outcome[]> {
    const rows = await this.repository.lockOfPartner(m, partner.partnerId, [...new Set(chunk.map((p) => p.key))]);
    const outcomes: Outcome[] = [];
    const audits: AuditEntryInput[] = [];
    for (const p of chunk) {
      const row = rows.get(p.key);
      if (!row) {
        outcomes.push({ error: new NotFoundError('referral') });
        continue;
      }
      const outcome = await this.decideOne(m, partner, { ...row, product_code: codes.get(p.key)! }, p.decision);
      outcomes.push(outcome);
      if ('view' in outcome && outcome.moved) {
        // The chunk sees its own moves: a later line on the same referral starts from the new state.
        rows.set(p.key, { ...row, status: outcome.view.status as DecidableRow['status'], decision: outcome.view.decision });
        audits.push({
          actorType: 'partner',
          actorId: partner.partnerCode,
          action: 'referral.decided',
          resourceType: 'referral',
          resourceId: p.referralId,
          subjectUserHash: this.audit.subjectHash(outcome.moved.userId),
          partnerCode: partner.partnerCode,
          requestId: partner.requestId,
          clientIp: partner.clientIp,
          outcome: 'SUCCESS',
          httpStatus: 200,
          details: { decision: p.decision.decision, statusBefore: outcome.moved.from, ...(partner.via ? { uploadedBy: partner.via } : {}) },
        });
      }
    }
    if (audits.length) await this.audit.appendMany(audits, m);
    return outcomes;
  }

  /** The state machine's answer for one decision on one locked referral. */
  private async decideOne(m: EntityManager, partner: DecidingPartner, row: DecidableRow, decision: Decision): Promise<Outcome> {
    if (decidedBeforeCreation(decision, new Date(row.created_at))) {
      return { error: new ValidationFailedError([{ field: 'decidedAt', message: 'may not be earlier than the referral was created' }]) };
    }
    const stored = decisionOf(row.decision);
    const view = (status: string, d: Decision): DecisionView => ({
      id: toPublicId('ref', row.id),
      productCode: row.product_code,
      status,
      createdAt: new Date(row.created_at).toISOString(),
      expiresAt: new Date(row.expires_at).toISOString(),
      decision: d,
    });
    switch (row.status) {
      case 'READY':
        return { error: new ConflictError('referral-not-delivered', 'Fetch the referral file before deciding on it') };
      case 'WITHDRAWN':
      case 'EXPIRED':
        return { error: new ConflictError('referral-closed', `The referral is ${row.status}`) };
      case 'APPROVED':
      case 'DECLINED':
        if (stored && sameDecision(stored, decision)) return { view: view(row.status, stored) };
        return { error: new ConflictError('decision-conflict', `The referral is already ${row.status}; a final decision cannot change`) };
      case 'PENDING_REVIEW':
        if (decision.decision === 'PENDING_REVIEW') return { view: view(row.status, stored ?? decision) };
        break;
      case 'DELIVERED':
      case 'ACKNOWLEDGED':
        break;
      default:
        return { error: new NotFoundError('referral') };
    }
    const to = decision.decision;
    const moved = await this.transitions.move(
      m,
      row.id,
      to,
      { type: 'partner', id: partner.partnerCode },
      {
        note: partner.via ? 'decision file uploaded by an operator' : undefined,
        set: { decision: JSON.stringify(decision) },
      },
    );
    if (!moved.moved) return { error: new ConflictError('referral-state-changed', 'The referral changed state; read it again') };
    if (to !== 'PENDING_REVIEW') {
      await this.outbox.enqueue(m, 'decisions', 'decision.apply', { referralId: row.id, correlationId: partner.requestId });
    }
    return { view: view(to, decision), moved: { from: moved.from!, to, userId: row.user_id } };
  }

  private failed(partner: DecidingPartner, line: number, referralId: string | null, error: DomainError): LineResult {
    return lineFailed(line, referralId, error, partner.requestId);
  }

  private async auditProbes(partner: DecidingPartner, keys: string[]): Promise<void> {
    const others = await this.repository.ownedByOthers(partner.partnerId, keys);
    if (!others.length) return;
    await this.audit.appendMany(
      others.map((id) => ({
        actorType: 'partner' as const,
        actorId: partner.partnerCode,
        action: 'referral.access.denied',
        resourceType: 'referral',
        resourceId: toPublicId('ref', id),
        partnerCode: partner.partnerCode,
        requestId: partner.requestId,
        clientIp: partner.clientIp,
        outcome: 'DENIED' as const,
        httpStatus: 404,
      })),
    );
  }
}

const cmpKey = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/**
 * Cuts lines sorted by key into chunks of about `size` lines, never splitting one key's lines: chunks run at once, so
 * lines of one referral in two chunks could be applied out of line order (an APPROVED before its PENDING_REVIEW).
 * A key with more than `size` lines gets a chunk of its own.
 */
export function chunksKeepingKeys<T extends { key: string }>(sorted: T[], size: number): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  for (let i = 0; i < sorted.length;) {
    let end = i + 1;
    while (end < sorted.length && sorted[end].key === sorted[i].key) end++;
    if (chunk.length > 0 && chunk.length + (end - i) > size) {
      chunks.push(chunk);
      chunk = [];
    }
    chunk.push(...sorted.slice(i, end));
    i = end;
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}
