import { createHash } from 'node:crypto';

import { Injectable, Logger } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { toPublicId } from '../../../common/public-id';
import { jsonColumn } from '../../../infra/database/json-column';
import { TransactionRunner } from '../../../infra/database/transaction.runner';
import { BasePayload } from '../../../infra/queues/job-catalogue';
import { JobHandler } from '../../../infra/queues/job-handler.decorator';
import { AuditWriter } from '../../audit/audit.writer';
import { IdentityProtector } from '../../credit-records/identity-protector';
import { PartnerEvents } from '../../events/partner-events.service';
import { SigningService } from '../../signing/signing.service';
import { ReferralFileSealer } from '../referral-file.sealer';
import { ReferralTransitions } from '../referral-transitions';
import { buildReferralClaim, SnapshotFacts } from './referral-file';
import { BatchRow, ReferralPackagingRepository, SnapshotRow } from './referral-packaging.repository';

const DAY_SECONDS = 86_400;

/**
 * How many referrals one job packages at most: its own plus the partner's next PACKAGING ones nobody holds. Large
 * enough that the per-transaction cost (≈ 12 statements and a commit) is spread thin, small enough that two worker
 * processes × WORKER_CONCURRENCY jobs split a backlog evenly and a batch transaction stays well under a second.
 */
export const PACKAGING_BATCH_SIZE = 200;

type Outcome = 'packaged' | 'missing' | 'closed' | 'already-packaged' | 'consent-revoked';
const settled = (status: string): Outcome => (status === 'WITHDRAWN' || status === 'EXPIRED' ? 'closed' : 'already-packaged');

/**
 * `referrals/referral.package`: builds the referral file from the pinned snapshot, signs it, stores it sealed
 * (ReferralFileSealer: its payload is the applicant's data) with its digest, moves PACKAGING → READY and emits
 * referral.ready — one transaction, so a redelivered job (BullMQ is at least once) finds READY under the row lock and
 * does nothing: one file, one event.
 *
 * Set-based (docs/DECISIONS.md, "Batched packaging"): the job packages its own referral together with up to
 * PACKAGING_BATCH_SIZE − 1 other PACKAGING referrals of the same partner that no other transaction holds (SKIP
 * LOCKED), in one transaction of a fixed number of statements: under a backlog most jobs then find their referral
 * already READY and end after one primary-key read. Every referral in a batch gets exactly what a job of its own
 * would have written (file, READY + timeline row, referral.ready event and push row, referral.packaged audit entry),
 * and the batch commits or rolls back as a whole; a rolled-back batch leaves its referrals PACKAGING for their own
 * jobs, which are still queued or wait below for the lock.
 *
 * The file's `exp` is the consent's retention (grantedAt is close to now; we count from signing): how long the bank
 * may rely on and keep the file under the consent. The signing key stays in the JWKS until then (signed_until).
 */
@Injectable()
export class ReferralPackagingProcessor {
  private readonly logger = new Logger(ReferralPackagingProcessor.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly repository: ReferralPackagingRepository,
    private readonly transitions: ReferralTransitions,
    private readonly identities: IdentityProtector,
    private readonly sealer: ReferralFileSealer,
    private readonly signing: SigningService,
    private readonly events: PartnerEvents,
    private readonly audit: AuditWriter,
  ) {}

  /** The job: packages the payload's referral, and with it a batch of the partner's other waiting referrals. */
  @JobHandler('referrals', 'referral.package')
  async packageBatch(payload: BasePayload & { referralId: string }): Promise<{ outcome: Outcome; batch?: number }> {
    const own = String(payload.referralId);
    // Under a backlog this is the common case: an earlier batch has packaged this job's referral. No lock needed:
    // a status past PACKAGING never comes back to it.
    const seen = await this.repository.peek(own);
    if (!seen) return { outcome: 'missing' };
    if (seen.status !== 'PACKAGING') return { outcome: settled(seen.status) };

    const first = await this.tx.run(async (m) => {
      const ids = await this.repository.claimBatch(m, seen.partner_id, own, PACKAGING_BATCH_SIZE);
      const outcomes = await this.packageLocked(m, ids, own, payload.correlationId);
      return { outcomes, claimedOwn: ids.includes(own) };
    });
    if (first.claimedOwn) return { outcome: first.outcomes.get(own)!, batch: first.outcomes.size };

    // Another transaction holds the referral (most often a batch packaging it; possibly a withdrawal), or it left
    // PACKAGING since the peek. Wait for the holder, then package it if it is still PACKAGING (the holder rolled
    // back, e.g. a worker killed mid-batch), together with whatever else is waiting from here up.
    return this.tx.run(async (m) => {
      const status = await this.repository.lockStatus(m, own);
      if (status === undefined) return { outcome: 'missing' as const };
      if (status !== 'PACKAGING') return { outcome: settled(status) };
      const ids = await this.repository.claimBatch(m, seen.partner_id, own, PACKAGING_BATCH_SIZE); // holds `own` already
      const outcomes = await this.packageLocked(m, ids.includes(own) ? ids : [own, ...ids], own, payload.correlationId);
      return { outcome: outcomes.get(own)!, batch: outcomes.size };
    });
  }

  /** Packages exactly one referral (the batch of one): operators and tests that decide which referral becomes READY. */
  async package(payload: BasePayload & { referralId: string }): Promise<{ outcome: Outcome }> {
    const own = String(payload.referralId);
    return this.tx.run(async (m) => {
      // Waits for a concurrent packaging of the same referral, which the second one then finds READY.
      const status = await this.repository.lockStatus(m, own);
      if (status === undefined) return { outcome: 'missing' };
      if (status !== 'PACKAGING') return { outcome: settled(status) };
      const outcomes = await this.packageLocked(m, [own], own, payload.correlationId);
      return { outcome: outcomes.get(own)! };
    });
  }

  /**
   * Packages the given referrals, which this transaction has locked, in a fixed number of statements. A referral
   * that cannot be built (pinned record version missing, a shared path that names nothing) fails the job when it is the job's own
   * (rolling the batch back, as a job of one would) and is otherwise left PACKAGING for its own job to fail on.
   */
  private async packageLocked(m: EntityManager, ids: string[], own: string, correlationId: string): Promise<Map<string, Outcome>> {
    const outcomes = new Map<string, Outcome>();
    const rows = await this.repository.batchRows(m, ids);
    const ready: Array<{ r: BatchRow; referralId: string; claim: Record<string, unknown>; sharedFields: string[] }> = [];
    for (const r of rows) {
      if (r.status !== 'PACKAGING') outcomes.set(r.id, settled(r.status));
      // A consent revoked before packaging: nothing may be built under it (the applicant module withdraws the referral).
      else if (r.consent_status !== 'ACTIVE') outcomes.set(r.id, 'consent-revoked');
      else {
        try {
          if (!r.snapshot) throw new Error(`referral ${r.id}: the pinned credit record version is missing`);
          const referralId = toPublicId('ref', r.id);
          const sharedFields = jsonColumn(r.shared_fields);
          const claim = buildReferralClaim({
            referralId,
            productCode: r.product_code,
            createdAt: new Date(r.created_at),
            userRef: r.user_ref,
            snapshot: this.facts(r.user_id, r.snapshot),
            prescreen: {
              runId: toPublicId('run', r.run_id),
              evaluatedAt: new Date(r.offer_created_at),
              criteriaVersion: Number(r.product_version),
            },
            consent: {
              id: toPublicId('cns', r.consent_id),
              textVersion: Number(r.text_version),
              textSha256: r.text_sha256,
              grantedAt: new Date(r.granted_at),
            },
            sharedFields,
          });
          ready.push({ r, referralId, claim, sharedFields });
        } catch (error) {
          if (r.id === own) throw error;
          this.logger.warn(
            { referralId: toPublicId('ref', r.id), correlationId, err: (error as Error).message },
            'referral left for its own job',
          );
        }
      }
    }
    if (ids.includes(own) && !rows.some((r) => r.id === own)) outcomes.set(own, 'missing');
    if (ready.length === 0) return outcomes;

    const files = await this.signing.signMany(
      'referral',
      ready.map(({ r, referralId, claim }) => ({
        claims: { referral: claim },
        opts: { audience: r.partner_code, subject: referralId, expiresInSeconds: Number(r.retention_days) * DAY_SECONDS },
      })),
    );
    const digests = files.map((f) => createHash('sha256').update(f.token, 'ascii').digest('hex'));
    const moved = await this.transitions.moveMany(
      m,
      'READY',
      { type: 'system', id: 'packaging' },
      ready.map(({ r }, i) => ({
        referralId: r.id,
        set: {
          file_enc: this.sealer.seal(r.id, files[i].token),
          file_sha256: digests[i],
          file_kid: files[i].kid,
          file_jti: files[i].jti,
          file_expires_at: files[i].expiresAt,
        },
      })),
    );
    // Every row is locked and was PACKAGING: anything else is a bug, and the whole batch rolls back.
    if (moved.length !== ready.length) throw new Error(`packaging: ${moved.length} of ${ready.length} locked referrals moved to READY`);
    // In id order (rows are read ORDER BY id): the partner's feed lists them in that order.
    await this.events.emitMany(
      m,
      ready.map(({ r, referralId }) => ({
        partnerId: r.partner_id,
        type: 'referral.ready' as const,
        txn: referralId,
        dedupeKey: `referral.ready:${r.id}`,
        payload: {
          referralId,
          productCode: r.product_code,
          status: 'READY',
          createdAt: new Date(r.created_at).toISOString(),
          expiresAt: new Date(r.expires_at).toISOString(),
        },
      })),
    );
    await this.audit.appendMany(
      ready.map(({ r, referralId, sharedFields }, i) => ({
        actorType: 'system' as const,
        actorId: 'packaging',
        action: 'referral.packaged',
        resourceType: 'referral',
        resourceId: referralId,
        subjectUserHash: this.audit.subjectHash(r.user_id),
        partnerCode: r.partner_code,
        // The application request that caused this referral's packaging, kept on the referral: a referral packaged in
        // another referral's batch must not be linked to that other user's request (the job's correlation id).
        requestId: r.apply_request_id ?? (r.id === own ? correlationId : undefined),
        outcome: 'SUCCESS' as const,
        details: { fileSha256: digests[i], kid: files[i].kid, jti: files[i].jti, sharedFields },
      })),
      m,
    );
    for (const { r } of ready) outcomes.set(r.id, 'packaged');
    this.logger.log({ referralId: toPublicId('ref', own), correlationId, packaged: ready.length }, 'referrals packaged');
    return outcomes;
  }

  private facts(userId: string, s: SnapshotRow): SnapshotFacts {
    return {
      asOf: isoDate(s.as_of)!,
      identity: this.identities.open(userId, s.identity_enc),
      kycLevel: num(s.kyc_level),
      score: num(s.score),
      riskGrade: s.risk_grade,
      creditLimit: s.credit_limit,
      balance: s.balance,
      accountOpenedAt: isoDate(s.account_opened_at),
      onTimeCount24m: num(s.on_time_count_24m),
      overdueCount24m: num(s.overdue_count_24m),
      maxDpd24m: num(s.max_dpd_24m),
      currentDpd: num(s.current_dpd),
      orders12m: num(s.orders_12m),
      gmv12m: s.gmv_12m,
      returnRate12m: num(s.return_rate_12m),
      avgReviewScore: num(s.avg_review_score),
    };
  }
}

const num = (v: number | string | null) => (v === null ? null : Number(v));

/** DATE columns come back as UTC-midnight Dates (driver timezone 'Z'). */
const isoDate = (v: Date | string | null) => (v === null ? null : typeof v === 'string' ? v.slice(0, 10) : v.toISOString().slice(0, 10));
