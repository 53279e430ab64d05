import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';

import { PageQuery } from '../../../common/pagination';
import { CARD_PRODUCT_CODE } from '../../card-products/card-product';
import { PARTNER_CODE } from '../../partners/partner';
import { ReferralStatus } from '../../referrals/referral-state';

export class LateReferralsQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'partner code' })
  @IsOptional()
  @Matches(PARTNER_CODE, { message: 'must be a partner code (2-32 characters of A-Z, 0-9, _ and -)' })
  partner?: string;

  @ApiPropertyOptional({ description: 'card product code' })
  @IsOptional()
  @Matches(CARD_PRODUCT_CODE, { message: 'must be 2-64 characters of A-Z, 0-9, _ and -' })
  product?: string;
}

/** A late referral as operators see it: ids and codes only, never the applicant. */
export interface LateReferralView {
  id: string;
  partnerCode: string;
  productCode: string;
  status: ReferralStatus;
  createdAt: string;
  expiresAt: string;
  /** When the SLA check flagged it (null until the check job has run). */
  slaBreachedAt: string | null;
}
