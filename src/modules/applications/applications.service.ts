import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { DomainError, NotFoundError } from '../../common/errors';
import { decodeCursor, Page, PageQuery, toPage } from '../../common/pagination';
import { keyOf, toPublicId } from '../../common/public-id';
import { AppConfigService } from '../../infra/config/app-config';
import { CryptoService } from '../../infra/crypto/crypto.service';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { AuditWriter } from '../audit/audit.writer';
import { AuditEntryInput } from '../audit/audit-entry';
import { RequestActor } from '../auth/actor.decorator';
import { PartnerEvents } from '../events/partner-events.service';
import { isFinal } from '../referrals/referral-state';
import { ReferralTransitions } from '../referrals/referral-transitions';
import { ReferralSla } from '../sla/referral-sla.service';
import { Application, ApplicationDetailView, ApplicationView, toApplicationDetailView, toApplicationView } from './application';
import {
  applicationFinal,
  ApplicationRefusedError,
  consentMismatch,
  DailyCapReachedError,
  existingCardholder,
  offerNotLive,
  openApplication,
  productUnavailable,
} from './application-errors';
import { ApplicationsRepository, OfferTerms } from './applications.repository';
import { CreateApplicationDto } from './dto/applications.dto';

/** Keyed-hash purpose of referrals.user_ref: what a bank knows the applicant by. */
const USER_REF_PURPOSE = 'referral.user-ref';

/** The product had no cap when read without a lock, and has one under it: the application runs again as capped. */
class CapAppeared extends Error {}

/**
 * The applicant's use cases on referrals: apply, read, withdraw. Each state change is one transaction with its
 * audit entry, its outbox row or partner event, and the partner_relationships row the pre-screen exclusions read.
 */
@Injectable()
export class ApplicationsService {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly repo: ApplicationsRepository,
    private readonly transitions: ReferralTransitions,
    private readonly outbox: OutboxService,
    private readonly events: PartnerEvents,
    private readonly audit: AuditWriter,
    private readonly crypto: CryptoService,
    private readonly config: AppConfigService,
    private readonly sla: ReferralSla,
  ) {}

  /**
   * Stable per user and partner, different between partners, and not reversible without the master key:
   * 32 bytes of keyed hash as 43 base64url characters.
   */
  userRef(userId: string, partnerId: string): string {
    return this.crypto.keyedHashBytes(USER_REF_PURPOSE, `${partnerId}:${userId}`).toString('base64url');
  }

  async apply(dto: CreateApplicationDto, actor: RequestActor): Promise<ApplicationView> {
    const userHash = this.audit.subjectHash(actor.principal.id);
    const offerKey = keyOf('ofr', dto.offerId);
    if (!offerKey) throw new NotFoundError('offer');
    const seen: { terms?: OfferTerms } = {};
    try {
      // The second run happens only when the product got a cap while the first ran (see lockProductForCap).
      for (let run = 1; ; run++) {
        try {
          return await this.tx.run((m) => this.applyInTransaction(m, dto, actor, userHash, offerKey, run > 1, seen));
        } catch (error) {
          if (!(error instanceof CapAppeared) || run > 1) throw error;
        }
      }
    } catch (error) {
      // A refusal rolls the transaction back; its audit entry is written on its own so the attempt stays on record.
      if (error instanceof DomainError && error.status !== 404) {
        await this.audit.append(
          this.entry(actor, userHash, 'application.refused', undefined, seen.terms?.partnerCode, 'DENIED', error.status, {
            reason: error.code,
            offerId: dto.offerId.slice(0, 64),
          }),
        );
      }
      throw error;
    }
  }

  /**
   * One application, in as few statements as its guarantees allow (each round trip costs the api ~0.1 ms of CPU):
   * lock the applicant, read every fact it is checked against at once, then the writes, and the product lock last.
   * The checks refuse in the same order as ever: offer, consent, partner, anti-fraud, relationships, product, cap.
   */
  private async applyInTransaction(
    m: EntityManager,
    dto: CreateApplicationDto,
    actor: RequestActor,
    userHash: string,
    offerKey: string,
    forceCapped: boolean,
    seen: { terms?: OfferTerms },
  ): Promise<ApplicationView> {
    const userId = actor.principal.id;
    const limits = this.config.values.applications;
    // The user's credit record is locked first, so one user's concurrent applications run one after another: the
    // second sees the first's consumed offer, relationship and referral count, as the anti-fraud rules require.
    const applicant = await this.repo.lockApplicantIdentity(m, userId);
    const facts = await this.repo.applicationFacts(m, {
      userId,
      offerId: offerKey,
      identity: applicant?.identity ?? null,
      velocityWindowHours: limits.velocityWindowHours,
    });
    if (!facts) throw new NotFoundError('offer');
    const terms = (seen.terms = facts.terms);
    if (terms.status !== 'LIVE' || terms.expired) throw offerNotLive();
    // Consent is to the exact text the offer's pinned product version shows; anything else is stale.
    if (dto.consent.textVersion !== terms.textVersion || dto.consent.textSha256.toLowerCase() !== terms.textSha256) throw consentMismatch();
    if (terms.partnerStatus !== 'ACTIVE') throw productUnavailable();

    // Basic anti-fraud: too many applications in the window, or an identity whose other platform accounts applied.
    if (facts.recentApplications >= limits.velocityLimit) {
      throw new ApplicationRefusedError('application-velocity-exceeded', 'Too many applications in a short time; try again later');
    }
    if (applicant && facts.otherAccountsWithIdentity + 1 > limits.maxAccountsPerIdentity) {
      throw new ApplicationRefusedError(
        'identity-shared-across-accounts',
        'Applications with this identity are already made from another account',
      );
    }
    if (facts.relationshipKinds.includes('CARDHOLDER')) throw existingCardholder();
    if (facts.relationshipKinds.includes('OPEN_APPLICATION')) throw openApplication();
    // Checked again under the product lock below; refusing here keeps the usual order of reasons.
    if (facts.product.status !== 'ACTIVE') throw productUnavailable();
    const capped = forceCapped || facts.product.cap !== null;

    // LIVE → CONSUMED first: the conditional update locks the offer, so a second application of the same offer
    // (without a credit record to serialise on) waits here and is refused, whatever else it would have written.
    if (!(await this.repo.consumeOffer(m, terms.offerId))) throw offerNotLive();
    const consentId = await this.repo.insertConsent(m, userId, terms);
    const slaMs = this.sla.slaMs(terms.decisionSlaHours);
    const id = await this.repo.insertReferral(
      m,
      { userId, terms, userRef: this.userRef(userId, terms.partnerId), slaMs, requestId: actor.requestId },
      consentId,
      userHash,
    );
    // The relationship's primary key is what decides two concurrent applications to one partner.
    if (!(await this.repo.insertOpenApplication(m, userId, terms.partnerId, id))) throw openApplication();
    await this.audit.append(
      this.entry(actor, userHash, 'application.submitted', id, terms.partnerCode, 'SUCCESS', 201, {
        offerId: toPublicId('ofr', terms.offerId),
        consentId: toPublicId('cns', consentId),
        productCode: terms.productCode,
        productVersion: terms.productVersion,
        textVersion: terms.textVersion,
        textSha256: terms.textSha256,
        sharedFields: terms.sharedFields,
      }),
      m,
    );
    await this.outbox.enqueue(m, 'referrals', 'referral.package', { referralId: id, correlationId: actor.requestId });
    // expires_at was written as created_at + slaMs by the insert, so only the delayed check is left to write.
    await this.sla.scheduleCheck(m, id, slaMs, actor.requestId);

    // Last, so a capped product is serialised only from here to COMMIT (its own referral is already written and
    // left out of the count: `today` is the others, as before the insert).
    const product = await this.repo.lockProductForCap(m, terms.productId, id, capped);
    if (product.status !== 'ACTIVE') throw productUnavailable();
    if (product.cap !== null) {
      if (!capped) throw new CapAppeared();
      if (product.referralsToday! >= product.cap) throw new DailyCapReachedError();
    }
    return toApplicationView({
      id,
      userId,
      partnerId: terms.partnerId,
      partnerCode: terms.partnerCode,
      partnerName: terms.partnerName,
      productCode: terms.productCode,
      offerId: terms.offerId,
      consentId,
      status: 'PACKAGING',
      decision: null,
      createdAt: product.createdAt,
      expiresAt: product.expiresAt,
    });
  }

  async list(actor: RequestActor, query: PageQuery): Promise<Page<ApplicationView>> {
    const rows = await this.repo.pageApplications(actor.principal.id, decodeCursor(query.cursor), query.limit);
    return toPage(rows, query.limit, (a) => a.id, toApplicationView);
  }

  async view(publicId: string, actor: RequestActor): Promise<ApplicationDetailView> {
    const application = await this.findOwn(publicId, actor.principal.id);
    return toApplicationDetailView(application, await this.repo.timeline(application.id));
  }

  /** Before a final decision only; withdrawing a withdrawn application again answers like the first time. */
  async withdraw(publicId: string, actor: RequestActor): Promise<ApplicationDetailView> {
    const application = await this.findOwn(publicId, actor.principal.id);
    const userHash = this.audit.subjectHash(actor.principal.id);
    await this.tx.run(async (m) => {
      const moved = await this.withdrawInTransaction(m, application, userHash, 'withdrawn by the applicant');
      if (moved) {
        await this.audit.append(
          this.entry(actor, userHash, 'application.withdrawn', application.id, application.partnerCode, 'SUCCESS', 200),
          m,
        );
      }
    });
    return this.view(publicId, actor);
  }

  /**
   * Moves a referral not yet final to WITHDRAWN, ends the open application with its partner and, when the partner
   * had been told of the referral (READY or later), emits referral.withdrawn. Returns whether it moved; a referral
   * already WITHDRAWN is no error, any other final state is 409. Used by withdraw and by consent revocation.
   */
  async withdrawInTransaction(m: EntityManager, a: Application, userHash: string, note: string): Promise<boolean> {
    const { moved, from } = await this.transitions.move(m, a.id, 'WITHDRAWN', { type: 'user', id: userHash }, { note });
    if (!moved) {
      if (from === 'WITHDRAWN') return false;
      if (from && isFinal(from)) throw applicationFinal();
      throw new NotFoundError('application');
    }
    await this.repo.deleteOpenApplication(m, a.userId, a.partnerId, a.id);
    if (from !== 'PACKAGING') {
      const txn = toPublicId('ref', a.id);
      await this.events.emit(m, {
        partnerId: a.partnerId,
        type: 'referral.withdrawn',
        txn,
        dedupeKey: `referral.withdrawn:${a.id}`,
        payload: { referralId: txn, status: 'WITHDRAWN', previousStatus: from },
      });
    }
    return true;
  }

  private async findOwn(publicId: string, userId: string): Promise<Application> {
    const key = keyOf('ref', publicId);
    const application = key ? await this.repo.findApplication(userId, key) : undefined;
    if (!application) throw new NotFoundError('application');
    return application;
  }

  private entry(
    actor: RequestActor,
    userHash: string,
    action: string,
    referralId: string | undefined,
    partnerCode: string | undefined,
    outcome: AuditEntryInput['outcome'],
    httpStatus: number,
    details?: Record<string, unknown>,
  ): AuditEntryInput {
    return {
      actorType: 'user',
      actorId: userHash,
      action,
      resourceType: referralId ? 'referral' : undefined,
      resourceId: referralId ? toPublicId('ref', referralId) : undefined,
      subjectUserHash: userHash,
      partnerCode,
      requestId: actor.requestId,
      clientIp: actor.clientIp,
      outcome,
      httpStatus,
      details,
    };
  }
}
