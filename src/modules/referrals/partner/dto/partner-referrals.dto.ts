import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';

import { PageQuery } from '../../../../common/pagination';
import { PARTNER_VISIBLE, ReferralStatus } from '../../referral-state';

export class ListPartnerReferralsQuery extends PageQuery {
  @ApiPropertyOptional({ enum: PARTNER_VISIBLE })
  @IsOptional()
  @IsIn(PARTNER_VISIBLE)
  status?: ReferralStatus;
}

/** What a partner sees of a referral (API.md): metadata only. */
export interface PartnerReferralView {
  id: string;
  productCode: string;
  status: ReferralStatus;
  createdAt: string;
  expiresAt: string;
}

/** GET /referrals/{id}: the metadata and the signed referral file. */
export interface PartnerReferralWithFile extends PartnerReferralView {
  file: string;
}
