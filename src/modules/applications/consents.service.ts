import { Injectable } from '@nestjs/common';

import { NotFoundError } from '../../common/errors';
import { decodeCursor, Page, PageQuery, toPage } from '../../common/pagination';
import { keyOf, toPublicId } from '../../common/public-id';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { AuditWriter } from '../audit/audit.writer';
import { RequestActor } from '../auth/actor.decorator';
import { ConsentView, toConsentView } from './application';
import { ApplicationsRepository } from './applications.repository';
import { ApplicationsService } from './applications.service';

/** The exact consent text of an offer (GET /v1/me/offers/{id}/consent). */
export interface OfferConsentView {
  offerId: string;
  partner: { code: string; name: string };
  productCode: string;
  textVersion: number;
  textSha256: string;
  text: string;
  sharedFields: string[];
  purpose: string;
  retentionDays: number;
}

/** Consents: what an offer asks the applicant to agree to, what they agreed to, and revocation. */
@Injectable()
export class ConsentsService {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly repo: ApplicationsRepository,
    private readonly applications: ApplicationsService,
    private readonly audit: AuditWriter,
  ) {}

  /** The pinned product version's text verbatim: the version and digest an application must quote back. */
  async offerConsent(offerPublicId: string, actor: RequestActor): Promise<OfferConsentView> {
    const key = keyOf('ofr', offerPublicId);
    const terms = key ? await this.repo.findOfferTerms(actor.principal.id, key) : undefined;
    if (!terms) throw new NotFoundError('offer');
    return {
      offerId: toPublicId('ofr', terms.offerId),
      partner: { code: terms.partnerCode, name: terms.partnerName },
      productCode: terms.productCode,
      textVersion: terms.textVersion,
      textSha256: terms.textSha256,
      text: terms.consentText,
      sharedFields: terms.sharedFields,
      purpose: terms.purpose,
      retentionDays: terms.retentionDays,
    };
  }

  async list(actor: RequestActor, query: PageQuery): Promise<Page<ConsentView>> {
    const rows = await this.repo.pageConsents(actor.principal.id, decodeCursor(query.cursor), query.limit);
    return toPage(rows, query.limit, (c) => c.id, toConsentView);
  }

  /**
   * Revokes the consent (idempotent: revoking again answers the revoked consent, with no second audit entry).
   * Revocation stops every future sharing under it: the consent row is what the partner fetch and the pushes
   * check, and the referral made under it, if not final yet, is withdrawn in the same transaction.
   */
  async revoke(publicId: string, actor: RequestActor): Promise<ConsentView> {
    const userId = actor.principal.id;
    const key = keyOf('cns', publicId);
    if (!key) throw new NotFoundError('consent');
    const userHash = this.audit.subjectHash(userId);
    const consent = await this.tx.run(async (m) => {
      const found = await this.repo.findConsent(userId, key, m, true);
      if (!found) throw new NotFoundError('consent');
      if (!(await this.repo.revokeConsent(m, key))) return found;
      const withdrawn: string[] = [];
      for (const referralId of await this.repo.openReferralIdsOfConsent(m, key)) {
        const application = (await this.repo.findApplication(userId, referralId, m))!;
        if (await this.applications.withdrawInTransaction(m, application, userHash, 'consent revoked'))
          withdrawn.push(toPublicId('ref', referralId));
      }
      await this.audit.append(
        {
          actorType: 'user',
          actorId: userHash,
          action: 'consent.revoked',
          resourceType: 'consent',
          resourceId: toPublicId('cns', key),
          subjectUserHash: userHash,
          partnerCode: found.partnerCode,
          requestId: actor.requestId,
          clientIp: actor.clientIp,
          outcome: 'SUCCESS',
          httpStatus: 200,
          details: { productCode: found.productCode, textVersion: found.textVersion, withdrawnReferrals: withdrawn },
        },
        m,
      );
      return (await this.repo.findConsent(userId, key, m))!;
    });
    return toConsentView(consent);
  }
}
