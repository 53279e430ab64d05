import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsDefined, IsInt, IsOptional, IsString, Matches, Max, Min, Validate, ValidatorConstraint } from 'class-validator';

import { PageQuery } from '../../../common/pagination';
import { PARTNER_CODE } from '../../partners/partner';
import { isCalendarDate } from '../../prescreening/criteria/calendar';
import { MAX_SCAN_CHUNK_SIZE, MIN_SCAN_CHUNK_SIZE } from '../overdue-scan';

/** RFC 3339 date-time with an explicit offset (API.md: times are RFC 3339). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** `true` / `false` in a query string, anything else left as is (and refused by IsBoolean). */
const queryFlag = () => Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value));

@ValidatorConstraint({ name: 'calendarDate' })
class CalendarDate {
  validate(value: unknown) {
    return typeof value === 'string' && isCalendarDate(value);
  }
  defaultMessage() {
    return 'must be a date YYYY-MM-DD';
  }
}

/** `POST /v1/admin/overdue-scans`; chunkSize is an operator's tuning knob (an addition, as for pre-screen runs). */
export class StartOverdueScanDto {
  @ApiProperty({ example: '2026-11-22', description: 'the business date D to scan for (UTC), not in the future' })
  @IsDefined()
  @IsString()
  @Validate(CalendarDate)
  asOf!: string;

  @ApiPropertyOptional({
    minimum: MIN_SCAN_CHUNK_SIZE,
    maximum: MAX_SCAN_CHUNK_SIZE,
    description: 'cardholders per chunk (default 10,000)',
  })
  @IsOptional()
  @IsInt()
  @Min(MIN_SCAN_CHUNK_SIZE)
  @Max(MAX_SCAN_CHUNK_SIZE)
  chunkSize?: number;
}

/** `GET /partner/v1/overdue-reports`. */
export class PartnerOverdueReportsQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'records created at or after this time (RFC 3339)' })
  @IsOptional()
  @Matches(RFC3339, { message: 'must be an RFC 3339 date-time with an offset' })
  since?: string;

  @ApiPropertyOptional({ type: Boolean, description: 'true: only records not yet acknowledged' })
  @IsOptional()
  @queryFlag()
  @IsBoolean({ message: 'must be true or false' })
  unacknowledged?: boolean;
}

/** `GET /v1/admin/overdue-reports`. */
export class AdminOverdueReportsQuery extends PageQuery {
  @ApiPropertyOptional({ type: Boolean, description: 'true: only records not yet acknowledged' })
  @IsOptional()
  @queryFlag()
  @IsBoolean({ message: 'must be true or false' })
  unacknowledged?: boolean;

  @ApiPropertyOptional({ description: 'only records created at least this many hours ago (e.g. 72)' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(87_600)
  olderThanHours?: number;

  @ApiPropertyOptional({ description: 'partner code' })
  @IsOptional()
  @Matches(PARTNER_CODE, { message: 'must be a partner code (2-32 characters of A-Z, 0-9, _ and -)' })
  partner?: string;
}

/** `GET /partner/v1/overdue-report-files/{date}`: a malformed date is 400, not 404. */
export class ReportDateParam {
  @ApiProperty({ example: '2026-11-22', description: 'the report date (the business date of the scan)' })
  @IsString()
  @Validate(CalendarDate)
  date!: string;
}
