import { Injectable } from '@nestjs/common';

import { ConflictError, DomainError, NotFoundError } from '../../../common/errors';
import { decodeCursor, Page, toPage } from '../../../common/pagination';
import { keyOf, toPublicId } from '../../../common/public-id';
import { TransactionRunner } from '../../../infra/database/transaction.runner';
import { AuditWriter } from '../../audit/audit.writer';
import { partnerAuditFields, RequestActor } from '../../auth/actor.decorator';
import { PartnerCallRecord } from '../../auth/partner-call.audit';
import { DisclosureLedger } from '../../disclosures/disclosure-ledger';
import { ReferralFileSealer } from '../referral-file.sealer';
import { ReferralStatus } from '../referral-state';
import { ReferralTransitions } from '../referral-transitions';
import { PartnerReferralView, PartnerReferralWithFile } from './dto/partner-referrals.dto';
import { PartnerReferralRow, PartnerReferralsRepository } from './partner-referrals.repository';
import { CLOSED_FOR_SHARING, GoneReason, ReferralDisclosureBatcher } from './referral-disclosure.batcher';

/**
 * 410: the referral exists and is the partner's, but its file may no longer be handed out — the applicant revoked
 * the consent, withdrew, the referral expired, or its retention ran out after it was declined and the file was
 * deleted. Gone (not 404: the bank knows the referral from its feed; not 409: no request of the bank can make it
 * servable again). A purged file is not answered as 200 with `file: null`: `file` is the signed file in the contract,
 * and every 200 of this call is a recorded disclosure; the referral's metadata stays in the list and the decision.
 */
export class ReferralFileGoneError extends DomainError {
  constructor(code: 'consent-revoked' | 'referral-closed' | 'referral-file-purged', detail: string) {
    super(410, code, 'The referral file is no longer available', detail);
  }
}

/** Acknowledging these again (or after the bank moved on to a decision) answers like the first acknowledgement. */
const ACKNOWLEDGED_OR_LATER: readonly ReferralStatus[] = ['ACKNOWLEDGED', 'PENDING_REVIEW', 'APPROVED', 'DECLINED'];

const toView = (r: PartnerReferralRow): PartnerReferralView => ({
  id: toPublicId('ref', r.id),
  productCode: r.product_code,
  status: r.status,
  createdAt: new Date(r.created_at).toISOString(),
  expiresAt: new Date(r.expires_at).toISOString(),
});

/** The partner bank's referral use cases: list, fetch (a disclosure), acknowledge. */
@Injectable()
export class PartnerReferralsService {
  /** Owned here rather than a provider of its own: the fetch is its only user. */
  private readonly disclosures: ReferralDisclosureBatcher;

  constructor(
    private readonly tx: TransactionRunner,
    private readonly repository: PartnerReferralsRepository,
    private readonly transitions: ReferralTransitions,
    ledger: DisclosureLedger,
    private readonly audit: AuditWriter,
    sealer: ReferralFileSealer,
  ) {
    this.disclosures = new ReferralDisclosureBatcher(tx, repository, transitions, ledger, audit, sealer);
  }

  async list(partnerId: string, query: { status?: ReferralStatus; limit: number; cursor?: string }): Promise<Page<PartnerReferralView>> {
    const after = decodeCursor(query.cursor);
    const rows = await this.repository.page(partnerId, query.status, after, query.limit);
    return toPage(rows, query.limit, (r) => r.id, toView);
  }

  /**
   * Hands out the signed file. The disclosure ledger row and the audit entry commit in the same transaction as the
   * READY → DELIVERED move, before the answer is built: a file that left is always on record. That transaction is
   * shared with the fetches running at the same time (ReferralDisclosureBatcher), and it is also where the fetch is
   * decided: its read under the row lock answers 404, 410 or 200 (one grouped round trip per fetch, not a plain read
   * first and the locked read again).
   */
  async fetch(actor: RequestActor, publicId: string, call?: PartnerCallRecord): Promise<PartnerReferralWithFile> {
    const partnerId = partnerIdOf(actor);
    const referralId = referralKey(publicId);
    // The call's own audit entry (for the 200 it answers when disclosed) commits with the disclosure: one commit less
    // before the answer leaves. Any other answer is recorded by the onSend hook as before.
    const outcome = await this.disclosures.disclose({ referralId, actor, partnerId, callEntry: call?.entry(200) });
    if ('missing' in outcome) throw await this.notFound(actor, referralId);
    if (!outcome.disclosed) throw gone(outcome.gone, outcome.status);
    call?.committed(200);
    return { ...toView({ ...outcome.row, status: outcome.status }), file: outcome.file };
  }

  /** DELIVERED → ACKNOWLEDGED; a repeat answers the same. From READY it is 409: the bank has not fetched the file. */
  async acknowledge(actor: RequestActor, publicId: string): Promise<PartnerReferralView> {
    const partnerId = partnerIdOf(actor);
    const key = referralKey(publicId);
    return this.tx.run(async (m) => {
      const r = await this.repository.lockOfPartner(m, partnerId, key);
      if (!r) throw await this.notFound(actor, key);
      if (r.status === 'DELIVERED') {
        const moved = await this.transitions.move(m, r.id, 'ACKNOWLEDGED', { type: 'partner', id: actor.principal.id });
        if (!moved.moved) throw new ConflictError('referral-state-changed', 'The referral changed state; read it again');
        await this.audit.append(
          {
            ...partnerAuditFields(actor),
            action: 'referral.acknowledged',
            resourceType: 'referral',
            resourceId: toPublicId('ref', r.id),
            subjectUserHash: this.audit.subjectHash(r.user_id),
            outcome: 'SUCCESS',
            httpStatus: 200,
          },
          m,
        );
        return toView({ ...r, status: 'ACKNOWLEDGED' });
      }
      if (ACKNOWLEDGED_OR_LATER.includes(r.status) || (r.acknowledged_at && CLOSED_FOR_SHARING.includes(r.status))) return toView(r);
      if (r.status === 'READY') throw new ConflictError('referral-not-delivered', 'Fetch the referral file before acknowledging it');
      throw new ConflictError('referral-closed', `The referral is ${r.status}`);
    });
  }

  /**
   * 404 exactly like a missing referral. When it exists under another partner the attempt gets its own DENIED
   * audit entry (besides the partner-call entry every /partner/v1 request gets), so compliance can find probing.
   */
  private async notFound(actor: RequestActor, key: string): Promise<NotFoundError> {
    if (await this.repository.ownedByAnother(partnerIdOf(actor), key)) {
      await this.audit.append({
        ...partnerAuditFields(actor),
        action: 'referral.access.denied',
        resourceType: 'referral',
        resourceId: toPublicId('ref', key),
        outcome: 'DENIED',
        httpStatus: 404,
      });
    }
    return new NotFoundError('referral');
  }
}

function gone(reason: GoneReason, status: ReferralStatus): ReferralFileGoneError {
  switch (reason) {
    case 'consent-revoked':
      return new ReferralFileGoneError('consent-revoked', 'The applicant revoked the consent this referral was shared under');
    case 'referral-closed':
      return new ReferralFileGoneError('referral-closed', `The referral is ${status}`);
    case 'file-purged':
      return new ReferralFileGoneError(
        'referral-file-purged',
        `The referral is ${status}; its file was deleted when the consented retention period ended`,
      );
  }
}

/** The table key of a public id, or 404 (an id we never issued is a missing referral). */
function referralKey(publicId: string): string {
  const key = keyOf('ref', publicId);
  if (!key) throw new NotFoundError('referral');
  return key;
}

function partnerIdOf(actor: RequestActor): string {
  if (actor.principal.type !== 'partner' || !actor.principal.partnerId) throw new NotFoundError('referral');
  return actor.principal.partnerId;
}
