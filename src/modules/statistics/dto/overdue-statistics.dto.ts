import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';

import { PARTNER_CODE } from '../../partners/partner';

export const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/** Filters: a partner code and a range of notice months, both ends included (YYYY-MM). */
export class OverdueStatisticsQuery {
  @ApiPropertyOptional({ description: 'partner code' })
  @IsOptional()
  @Matches(PARTNER_CODE, { message: 'must be a partner code (2-32 characters of A-Z, 0-9, _ and -)' })
  partner?: string;

  @ApiPropertyOptional({ description: 'first notice month, included (YYYY-MM)', example: '2026-11' })
  @IsOptional()
  @Matches(MONTH, { message: 'must be a month YYYY-MM' })
  from?: string;

  @ApiPropertyOptional({ description: 'last notice month, included (YYYY-MM)', example: '2026-12' })
  @IsOptional()
  @Matches(MONTH, { message: 'must be a month YYYY-MM' })
  to?: string;
}

/**
 * One partner's notices of one month (the month of their noticeDate) and what became of them (docs/OVERDUE.md
 * "Statistics"): a cohort, so a month's figures keep moving while its notices are pending or its reports not cured.
 */
export interface OverdueStatisticsRow {
  partnerCode: string;
  month: string;
  noticesSent: number;
  noticesPending: number;
  /** Cancelled because the user repaid before the notice period ended: nothing was ever shared. */
  noticesCancelledByRepayment: number;
  /** noticesCancelledByRepayment / noticesSent (4 places); pending notices count in the denominator. */
  repaidBeforeSharingShare: number | null;
  noticesCancelledByConsentRevocation: number;
  /** NEW records made from these notices. */
  recordsShared: number;
  /** CURED records that closed those reports (whenever the cure came). */
  cured: number;
  /** Days from noticeDate to the scan date that saw the repayment (a REPAID cancellation or a CURED record). */
  daysNoticeToRepayment: { count: number; median: number } | null;
}

export interface OverdueStatisticsView {
  from: string | null;
  to: string | null;
  data: OverdueStatisticsRow[];
}
