import { createHash } from 'node:crypto';

import { Injectable } from '@nestjs/common';

import { ConflictError, DomainError, NotFoundError, ValidationFailedError } from '../../common/errors';
import { decodeCursor, encodeCursor } from '../../common/pagination';
import { keyOf, toPublicId } from '../../common/public-id';
import { AppConfigService } from '../../infra/config/app-config';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { ProblemDetails, toProblem } from '../../infra/http/problem-details';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { AuditWriter } from '../audit/audit.writer';
import { checkDecisionFile, DecisionFileFormat, decisionFileLines, isInvalidLine } from './decision-file-lines';
import { DecisionFileResultRow, DecisionFileRow, DecisionFilesRepository, DecisionFileStatus } from './decision-files.repository';
import { DecidingPartner, DecisionLine, DecisionRecorder, LineResult } from './decision-recorder';

/** Lines decided and answered per step of the job: progress is saved after each, a re-run resumes after the last. */
export const FILE_CHUNK_LINES = 1_000;

export const filePublicId = (key: string) => toPublicId('dcf', key);
const fileKeyOf = (publicId: string) => keyOf('dcf', publicId);

/** A referral id as the line gave it, stored only when it fits the column (printable ASCII, 1–64): never a crafted value. */
const storableReferralId = (id: string | null) => (id && /^[\x21-\x7e]{1,64}$/.test(id) ? id : null);

export interface DecisionFileLineAnswer {
  line: number;
  referralId: string | null;
  status: number;
  problem?: ProblemDetails;
}

export interface DecisionFileView {
  id: string;
  format: DecisionFileFormat;
  status: DecisionFileStatus;
  progress: { processed: number; total: number };
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Every answered line so far, in line order, a page at a time. */
  results: DecisionFileLineAnswer[];
  nextCursor: string | null;
}

/** Who uploads: the partner itself, or an operator on its behalf (audited as the operator). */
export type Uploader =
  | { type: 'partner'; partnerId: string; partnerCode: string; requestId: string; clientIp?: string }
  | { type: 'admin'; operatorId: string; partnerCode: string; requestId: string; clientIp?: string };

/**
 * Decision files: a bank's (or an operator's) file of decisions, accepted at once (202) and decided by the
 * `decisions/decision-file.process` job through DecisionRecorder.decide, the bulk endpoint's own function, so every
 * line gets the answer it would have had in POST /partner/v1/decisions.
 */
@Injectable()
export class DecisionFilesService {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly files: DecisionFilesRepository,
    private readonly recorder: DecisionRecorder,
    private readonly outbox: OutboxService,
    private readonly audit: AuditWriter,
    private readonly config: AppConfigService,
  ) {}

  /**
   * Stores the file, its job's outbox row and the audit entry in one transaction: a file exists iff it is queued.
   * A file over the bulk line cap is refused (413) before anything is stored, since every line gets a stored answer.
   */
  async upload(uploader: Uploader, format: DecisionFileFormat, body: string): Promise<{ id: string; status: 'QUEUED' }> {
    const total = checkDecisionFile(format, body, this.config.values.bulk.maxLines);
    const partnerId = uploader.type === 'partner' ? uploader.partnerId : await this.operatorTarget(uploader.partnerCode);
    const sha256 = createHash('sha256').update(body, 'utf8').digest('hex');
    const id = await this.tx.run(async (m) => {
      const fileId = await this.files.insert(m, {
        partnerId,
        format,
        body,
        bodySha256: sha256,
        totalLines: total,
        uploadedBy:
          uploader.type === 'partner' ? { type: 'partner', id: uploader.partnerCode } : { type: 'admin', id: uploader.operatorId },
        requestId: uploader.requestId,
      });
      await this.outbox.enqueue(m, 'decisions', 'decision-file.process', { fileId, correlationId: uploader.requestId });
      await this.audit.append(
        {
          actorType: uploader.type,
          actorId: uploader.type === 'partner' ? uploader.partnerCode : uploader.operatorId,
          action: 'decision_file.uploaded',
          resourceType: 'decision_file',
          resourceId: filePublicId(fileId),
          partnerCode: uploader.partnerCode,
          requestId: uploader.requestId,
          clientIp: uploader.clientIp,
          outcome: 'SUCCESS',
          httpStatus: 202,
          details: { format, lines: total, sha256 },
        },
        m,
      );
      return fileId;
    });
    return { id: filePublicId(id), status: 'QUEUED' };
  }

  /** One of the partner's own files with a page of its answers; another partner's file is a 404. */
  async viewOfPartner(partnerId: string, publicId: string, page: { limit: number; cursor?: string }): Promise<DecisionFileView> {
    const key = fileKeyOf(publicId);
    return this.render(key ? await this.files.findOfPartner(partnerId, key) : undefined, page);
  }

  /** Any partner's file, for operators. */
  async viewAnyPartner(publicId: string, page: { limit: number; cursor?: string }): Promise<DecisionFileView> {
    const key = fileKeyOf(publicId);
    return this.render(key ? await this.files.findAnyPartner(key) : undefined, page);
  }

  private async render(file: DecisionFileRow | undefined, page: { limit: number; cursor?: string }): Promise<DecisionFileView> {
    if (!file) throw new NotFoundError('decision file');
    const after = Number(decodeCursor(page.cursor) ?? 0);
    const rows = await this.files.results(file.id, after, page.limit);
    const hasMore = rows.length > page.limit;
    const pageRows = hasMore ? rows.slice(0, page.limit) : rows;
    const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
    return {
      id: filePublicId(file.id),
      format: file.format,
      status: file.status,
      progress: { processed: Number(file.processed_lines), total: Number(file.total_lines) },
      createdAt: new Date(file.created_at).toISOString(),
      startedAt: iso(file.started_at),
      finishedAt: iso(file.finished_at),
      results: pageRows.map(toAnswer),
      nextCursor: hasMore ? encodeCursor(pageRows[pageRows.length - 1].line) : null,
    };
  }

  /**
   * Decides the file's lines not answered yet, FILE_CHUNK_LINES at a time, saving each chunk's answers before the
   * next: a job killed half way resumes where it stopped, and a second run (BullMQ delivers at least once) finds
   * every line answered and changes nothing. A decided line's answer commits in the transaction that decided it, so
   * no crash can leave a line applied but unanswered (a re-run would decide it again and store the state machine's
   * answer to a repeat: a PENDING_REVIEW line already followed by its APPROVED would read 409). Lines without an effect
   * (invalid, unknown referral) are answered after, and answered alike if a crash makes a re-run decide them again.
   */
  async process(
    fileKey: string,
    onProgress: (p: { processed: number; total: number }) => Promise<void>,
  ): Promise<'missing' | 'finished-already' | 'completed'> {
    const file = await this.files.findAnyPartner(fileKey);
    if (!file) return 'missing';
    if (file.status === 'COMPLETED' || file.status === 'FAILED') return 'finished-already';
    await this.files.markProcessing(file.id);
    const answered = await this.files.answeredLines(file.id);
    const lines = decisionFileLines(file.format, await this.files.body(file.id)).filter((l) => !answered.has(l.line));
    const partner: DecidingPartner = {
      partnerId: file.partner_id,
      partnerCode: file.partner_code,
      requestId: file.request_id ?? filePublicId(file.id),
      via: file.uploaded_by_type === 'admin' ? { type: 'admin', id: file.uploaded_by_id } : undefined,
    };
    const total = Number(file.total_lines);
    for (let from = 0; from < lines.length; from += FILE_CHUNK_LINES) {
      const chunk = lines.slice(from, from + FILE_CHUNK_LINES);
      const answers = await this.answer(file.id, partner, chunk);
      const processed = await this.tx.run((m) => this.files.saveResults(m, file.id, answers));
      await onProgress({ processed, total });
    }
    await this.files.finish(file.id, 'COMPLETED');
    return 'completed';
  }

  /** Marks the file FAILED (the job gave up); the lines answered so far keep their answers. */
  async fail(fileKey: string, reason: string): Promise<void> {
    await this.files.finish(fileKey, 'FAILED', reason.slice(0, 500));
  }

  private async answer(
    fileId: string,
    partner: DecidingPartner,
    chunk: ReturnType<typeof decisionFileLines>,
  ): Promise<DecisionFileLineAnswer[]> {
    const broken = chunk
      .filter(isInvalidLine)
      .map((l) => problemAnswer(partner, l.line, new ValidationFailedError(l.invalid, 'The line is not a valid CSV decision line')));
    const decisionLines = chunk.filter((l): l is DecisionLine => !isInvalidLine(l));
    const decided = (
      await this.recorder.decide(partner, decisionLines, true, undefined, (m, answered) =>
        this.files.insertResults(m, fileId, answered.map(fileAnswer)),
      )
    ).map(fileAnswer);
    return [...broken, ...decided].sort((a, b) => a.line - b.line);
  }

  private async operatorTarget(partnerCode: string): Promise<string> {
    const partner = await this.files.partnerByCode(partnerCode);
    if (!partner) throw new NotFoundError('partner');
    // A suspended partner's own calls are refused; an operator does not decide for it in its place.
    if (partner.status !== 'ACTIVE') throw new ConflictError('partner-not-active', `The partner is ${partner.status}`);
    return partner.id;
  }
}

const fileAnswer = (r: LineResult): DecisionFileLineAnswer => ({
  line: r.line,
  referralId: storableReferralId(r.referralId),
  status: r.status,
  ...(r.problem ? { problem: r.problem } : {}),
});

const problemAnswer = (partner: DecidingPartner, line: number, error: DomainError): DecisionFileLineAnswer => ({
  line,
  referralId: null,
  status: error.status,
  problem: toProblem(error, partner.requestId).problem,
});

function toAnswer(r: DecisionFileResultRow): DecisionFileLineAnswer {
  const problem = typeof r.problem === 'string' ? (JSON.parse(r.problem) as ProblemDetails) : r.problem;
  return { line: Number(r.line), referralId: r.referral_id, status: Number(r.status), ...(problem ? { problem } : {}) };
}
