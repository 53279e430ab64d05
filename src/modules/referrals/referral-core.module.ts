import { Module } from '@nestjs/common';

import { ReferralTransitions } from './referral-transitions';

/** The referral state machine, shared by the applicant, packaging, partner and decision use cases. */
@Module({ providers: [ReferralTransitions], exports: [ReferralTransitions] })
export class ReferralCoreModule {}
