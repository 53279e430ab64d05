import { Injectable } from '@nestjs/common';

import { TransactionRunner } from '../../infra/database/transaction.runner';
import { AuditWriter } from '../audit/audit.writer';
import { RequestActor } from '../auth/actor.decorator';
import { offerPublicId } from '../offers/offer';
import { OffersRepository } from '../offers/offers.repository';
import { UserPreferencesRepository } from './user-preferences.repository';

export interface PreferencesView {
  prescreenOptOut: boolean;
  updatedAt: string | null;
}

/**
 * The applicant's pre-screen preference. Opting out withdraws the user's live offers in the same transaction as the
 * preference itself, so no run can make or keep an offer for a user who has opted out (the next run excludes them
 * with PRESCREEN_OPT_OUT). Opting back in restores nothing: the next run decides afresh.
 */
@Injectable()
export class UserPreferencesService {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly preferences: UserPreferencesRepository,
    private readonly offers: OffersRepository,
    private readonly audit: AuditWriter,
  ) {}

  async get(userId: string): Promise<PreferencesView> {
    return toView(await this.preferences.find(userId));
  }

  async set(actor: RequestActor, prescreenOptOut: boolean): Promise<PreferencesView & { offersWithdrawn: number }> {
    const userId = actor.principal.id;
    return this.tx.run(async (m) => {
      await this.preferences.upsert(m, userId, prescreenOptOut);
      const withdrawn = prescreenOptOut ? await this.offers.withdrawLiveOfUser(m, userId) : [];
      // The user appears only by keyed hash, as actor and as subject (never the platform user id itself).
      const userHash = this.audit.subjectHash(userId);
      await this.audit.append(
        {
          actorType: 'user',
          actorId: userHash,
          subjectUserHash: userHash,
          action: 'user.preferences.updated',
          resourceType: 'user_preferences',
          requestId: actor.requestId,
          clientIp: actor.clientIp,
          outcome: 'SUCCESS',
          httpStatus: 200,
          details: { prescreenOptOut, offersWithdrawn: withdrawn.map(offerPublicId) },
        },
        m,
      );
      return { ...toView(await this.preferences.find(userId, m)), offersWithdrawn: withdrawn.length };
    });
  }
}

const toView = (p: { prescreenOptOut: boolean; updatedAt: Date | null }): PreferencesView => ({
  prescreenOptOut: p.prescreenOptOut,
  updatedAt: p.updatedAt ? p.updatedAt.toISOString() : null,
});
