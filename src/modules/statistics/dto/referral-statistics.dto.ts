import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional, Matches } from 'class-validator';

import { CARD_PRODUCT_CODE } from '../../card-products/card-product';
import { PARTNER_CODE } from '../../partners/partner';
import { ReferralStatus } from '../../referrals/referral-state';

/** Filters: partner and product codes, and a window on the referrals' creation time ([from, to), RFC 3339 or a date). */
export class ReferralStatisticsQuery {
  @ApiPropertyOptional({ description: 'partner code' })
  @IsOptional()
  @Matches(PARTNER_CODE, { message: 'must be a partner code (2-32 characters of A-Z, 0-9, _ and -)' })
  partner?: string;

  @ApiPropertyOptional({ description: 'card product code' })
  @IsOptional()
  @Matches(CARD_PRODUCT_CODE, { message: 'must be 2-64 characters of A-Z, 0-9, _ and -' })
  product?: string;

  @ApiPropertyOptional({ description: 'referrals created at or after (RFC 3339 or YYYY-MM-DD, UTC)' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'must be an RFC 3339 time or a date' })
  from?: string;

  @ApiPropertyOptional({ description: 'referrals created before (RFC 3339 or YYYY-MM-DD, UTC)' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'must be an RFC 3339 time or a date' })
  to?: string;
}

export interface ReferralStatisticsRow {
  partnerCode: string;
  productCode: string;
  total: number;
  byStatus: Record<ReferralStatus, number>;
  /** approved / (approved + declined); null before any final decision. */
  approvalRate: number | null;
  /** Seconds from creation to the final decision, over APPROVED and DECLINED referrals; null when there are none. */
  timeToDecisionSeconds: { count: number; median: number; p90: number } | null;
  slaBreaches: number;
}

export interface ReferralStatisticsView {
  from: string | null;
  to: string | null;
  data: ReferralStatisticsRow[];
}
