import { createHash } from 'node:crypto';

import { Logger } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { GroupedCalls } from '../../../common/grouped-calls';
import { toPublicId } from '../../../common/public-id';
import { jsonColumn } from '../../../infra/database/json-column';
import { TransactionRunner } from '../../../infra/database/transaction.runner';
import { AuditWriter } from '../../audit/audit.writer';
import { AuditEntryInput } from '../../audit/audit-entry';
import { partnerAuditFields, RequestActor } from '../../auth/actor.decorator';
import { NewDisclosure } from '../../disclosures/disclosure';
import { DisclosureLedger } from '../../disclosures/disclosure-ledger';
import { ReferralFileSealer } from '../referral-file.sealer';
import { ReferralStatus } from '../referral-state';
import { ReferralTransitions } from '../referral-transitions';
import { DeliverableRow, PartnerReferralsRepository } from './partner-referrals.repository';

/** Most fetches one batch transaction records (bounds the IN lists and the multi-row INSERTs). */
export const DISCLOSURE_BATCH_MAX = 200;

/**
 * Disclosure batches one process writes at once. One: batches never overlap, so they never wait on each other's row
 * locks. Two in flight measured no better on this 2-core machine, before and after the fetch's pre-read was folded
 * into the batch (quick runs, fixed 1,000 req/s: p99 99 ms with two vs 112 ms with one, within the run-to-run noise).
 */
export const DISCLOSURE_BATCHES_IN_FLIGHT = 1;

/** Referrals whose file is no longer justified by an open application. */
export const CLOSED_FOR_SHARING: readonly ReferralStatus[] = ['WITHDRAWN', 'EXPIRED'];

/** One fetch as the batcher sees it: which referral, and who asks. */
export interface DisclosureRequest {
  referralId: string;
  actor: RequestActor;
  partnerId: string;
  /**
   * The request's `partner_api.call` entry for a 200, written with its disclosure when it is disclosed: the answer then
   * needs no commit of its own after this one (PartnerCallRecord). Not written for a fetch the batch turns away.
   */
  callEntry?: AuditEntryInput;
}

/**
 * What a fetch learns once its batch committed: disclosed (the row read under the lock, with the status to answer),
 * gone (nothing recorded), or missing (unknown, another partner's, or PACKAGING: nothing recorded, nothing locked).
 */
export type DisclosureOutcome =
  | { disclosed: true; row: DeliverableRow; file: string; status: ReferralStatus }
  | { disclosed: false; gone: GoneReason; status: ReferralStatus }
  | { disclosed: false; missing: true };

/** Why a referral of the partner has no file to hand out: the consent, the referral's end, or the retention purge. */
export type GoneReason = 'consent-revoked' | 'referral-closed' | 'file-purged';

const goneReason = (row: DeliverableRow): GoneReason | undefined =>
  row.consent_status !== 'ACTIVE'
    ? 'consent-revoked'
    : CLOSED_FOR_SHARING.includes(row.status)
      ? 'referral-closed'
      : row.file_purged_at
        ? 'file-purged'
        : undefined;

/**
 * Group commit for partner fetches (docs/DECISIONS.md "Batched partner fetches"). A fetch is a disclosure and must be
 * on record (ledger row + `referral.file.disclosed` audit entry, READY → DELIVERED on the first one) before its answer
 * leaves; done one transaction per fetch it cost ~8 round trips and one redo-log fsync each, which capped the path far
 * below its target. Here the fetches that arrive while a batch is being written wait and go together in the next
 * one, in ONE transaction: lock the batch's referral rows of the requesting partners, read everything the answers
 * need after the lock (file, fields, status, consent) and decide each fetch there — 404 for an id the partner does
 * not have, 410 for a revoked consent, a closed referral or a purged file (nothing recorded), else a disclosure —, move
 * the READY ones set-based with their timeline rows, insert the ledger rows and the
 * audit entries multi-row (with each disclosed fetch's own `partner_api.call` entry, so its answer needs no second
 * commit in the onSend hook), commit, and only then settle each request's promise — nothing is answered that could
 * still roll back. A deadlock re-runs the whole batch (TransactionRunner); any other failure re-runs each member
 * alone, so one bad request cannot fail its neighbours.
 */
export class ReferralDisclosureBatcher {
  private readonly logger = new Logger(ReferralDisclosureBatcher.name);
  private readonly groups: GroupedCalls<DisclosureRequest, DisclosureOutcome>;

  constructor(
    private readonly tx: TransactionRunner,
    private readonly repository: PartnerReferralsRepository,
    private readonly transitions: ReferralTransitions,
    private readonly ledger: DisclosureLedger,
    private readonly audit: AuditWriter,
    private readonly sealer: ReferralFileSealer,
  ) {
    this.groups = new GroupedCalls({
      concurrency: DISCLOSURE_BATCHES_IN_FLIGHT,
      run: (batch) => this.tx.run((m) => this.write(m, batch)),
      maxGroup: DISCLOSURE_BATCH_MAX,
      onGroupFailure: 'run-each-alone',
      onRetryEach: (error, size) =>
        this.logger.warn({ size, err: (error as Error).message }, 'disclosure batch failed; retrying its fetches one by one'),
    });
  }

  /** Resolves once the disclosure is committed (or found not allowed under the lock); rejects if it could not be written. */
  disclose(request: DisclosureRequest): Promise<DisclosureOutcome> {
    return this.groups.call(request);
  }

  /** The batch's reads and writes, in the caller's transaction; returns one outcome per request, in order. */
  private async write(m: EntityManager, batch: DisclosureRequest[]): Promise<DisclosureOutcome[]> {
    const locked = await this.repository.lockDeliverable(m, batch);
    // A referral a request may have: its partner's (another partner's row may be in the batch for its own fetches).
    const rowOf = (r: DisclosureRequest): DeliverableRow | undefined => {
      const row = locked.get(r.referralId);
      return row && String(row.partner_id) === r.partnerId ? row : undefined;
    };
    const servable = (row: DeliverableRow): boolean => goneReason(row) === undefined;

    // Referrals still READY under the lock move to DELIVERED, one move per referral however often it is fetched in
    // this batch; the timeline names the partner that fetched it (a referral belongs to one partner).
    const toDeliver = new Map<string, string>();
    for (const r of batch) {
      const row = rowOf(r);
      if (row && servable(row) && row.status === 'READY') toDeliver.set(r.referralId, r.actor.principal.id);
    }
    const delivered = new Set<string>();
    // The rows are locked above and their status read after the lock: moveMany need not lock and read them again.
    const lockedStatus = new Map([...locked].map(([id, row]) => [id, row.status]));
    for (const [partnerCode, referralIds] of groupBy(toDeliver)) {
      const moves = referralIds.map((referralId) => ({ referralId }));
      const moved = await this.transitions.moveMany(m, 'DELIVERED', { type: 'partner', id: partnerCode }, moves, {
        note: 'fetched',
        lockedStatus,
      });
      for (const mv of moved) delivered.add(mv.referralId);
    }

    const outcomes: DisclosureOutcome[] = [];
    const disclosures: NewDisclosure[] = [];
    const entries: AuditEntryInput[] = [];
    // The status each referral had before this batch's fetches of it, advanced as they are replayed in arrival order:
    // the first fetch of a READY referral says statusBefore READY, a second one in the same batch DELIVERED, as if
    // they had run one after the other.
    const statusNow = new Map<string, ReferralStatus>();
    for (const r of batch) {
      const row = rowOf(r);
      if (!row) {
        outcomes.push({ disclosed: false, missing: true });
        continue;
      }
      const gone = goneReason(row);
      if (gone) {
        outcomes.push({ disclosed: false, gone, status: row.status });
        continue;
      }
      // A bug, not an answer: the whole batch fails and its fetches run one by one, so only this one fails.
      if (!row.file_enc || !row.file_sha256) throw new Error(`referral ${row.id} is ${row.status} without a file`);
      // Opened before it is recorded: the ledger's digest is checked against exactly what leaves.
      const file = this.sealer.open(String(row.id), row.file_enc);
      if (createHash('sha256').update(file, 'ascii').digest('hex') !== row.file_sha256)
        throw new Error(`referral ${row.id}: the stored file does not match its digest`);
      const before = statusNow.get(r.referralId) ?? row.status;
      const after = before === 'READY' && delivered.has(r.referralId) ? 'DELIVERED' : before;
      statusNow.set(r.referralId, after);
      outcomes.push({ disclosed: true, row, file, status: after });
      const sharedFields = jsonColumn(row.shared_fields);
      disclosures.push({
        userId: row.user_id,
        partnerId: r.partnerId,
        consentId: row.consent_id,
        referralId: r.referralId,
        kind: 'REFERRAL_FILE',
        sharedFields,
        artefactSha256: row.file_sha256,
        requestId: r.actor.requestId,
      });
      entries.push({
        ...partnerAuditFields(r.actor),
        action: 'referral.file.disclosed',
        resourceType: 'referral',
        resourceId: toPublicId('ref', r.referralId),
        subjectUserHash: this.audit.subjectHash(row.user_id),
        outcome: 'SUCCESS',
        httpStatus: 200,
        details: { fileSha256: row.file_sha256, sharedFields, consentId: toPublicId('cns', row.consent_id), statusBefore: before },
      });
      if (r.callEntry) entries.push(r.callEntry);
    }
    if (disclosures.length) {
      await this.ledger.recordMany(m, disclosures);
      await this.audit.appendMany(entries, m);
    }
    return outcomes;
  }
}

function groupBy(byKey: Map<string, string>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const [key, group] of byKey) {
    const list = groups.get(group);
    if (list) list.push(key);
    else groups.set(group, [key]);
  }
  return groups;
}
