import { Module } from '@nestjs/common';

import { ReferralCoreModule } from '../referrals/referral-core.module';
import { DecisionApplyProcessor } from './decision-apply.processor';
import { DecisionFileProcessor } from './decision-file.processor';
import { AdminDecisionFilesController, PartnerDecisionFilesController } from './decision-files.controller';
import { DecisionFilesRepository } from './decision-files.repository';
import { DecisionFilesService } from './decision-files.service';
import { DecisionRecorder } from './decision-recorder';
import { DecisionsRepository } from './decisions.repository';
import { DecisionsTimeline } from './decisions-timeline';
import { PartnerDecisionsController } from './partner-decisions.controller';

/**
 * Bank decisions: the single and bulk partner endpoints, decision files, and the decision job that turns an approval
 * into a cardholder. The state machine itself is ReferralCoreModule's.
 */
@Module({
  imports: [ReferralCoreModule],
  controllers: [PartnerDecisionsController, PartnerDecisionFilesController, AdminDecisionFilesController],
  providers: [
    DecisionsRepository,
    DecisionRecorder,
    DecisionApplyProcessor,
    DecisionFilesRepository,
    DecisionFilesService,
    DecisionFileProcessor,
    DecisionsTimeline,
  ],
  exports: [DecisionRecorder, DecisionsTimeline],
})
export class DecisionsModule {}
