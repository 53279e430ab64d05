import { applyDecorators } from '@nestjs/common';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';

import { PageQuery } from '../../../common/pagination';
import { PARTNER_CODE } from '../../partners/partner';
import { DELINQUENCY_SCOPES, DelinquencyScope } from '../../prescreening/criteria';
import { CARD_PRODUCT_CODE, CARD_PRODUCT_STATUSES, CardProductStatus, SHARED_FIELD_PATHS, SharedFieldPath } from '../card-product';

// One definition per member, required on create and optional on update (class-validator would inherit an
// @IsOptional from a shared base class, so the two DTOs apply these instead).
/** Rules are checked in depth by parseCriteria, which names each problem as criteria[i].member. */
const Criteria = () => IsArray();
const SharedFields = () =>
  applyDecorators(
    IsArray(),
    ArrayMaxSize(SHARED_FIELD_PATHS.length),
    ArrayUnique(),
    IsIn(SHARED_FIELD_PATHS, { each: true, message: `each value must be one of ${SHARED_FIELD_PATHS.join(', ')}` }),
  );
const Name = () => applyDecorators(IsString(), IsNotEmpty(), MaxLength(200));
const ConsentText = () => applyDecorators(IsString(), IsNotEmpty(), MaxLength(20_000));
const Purpose = () => applyDecorators(IsString(), IsNotEmpty(), MaxLength(1000));

/** Terms with defaults: optional on create and on update. */
class CardProductTermsDto {
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3650)
  retentionDays?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(720)
  decisionSlaHours?: number;

  /** null: no cap. */
  @ValidateIf((o: CardProductTermsDto) => o.dailyReferralCap !== null && o.dailyReferralCap !== undefined)
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  dailyReferralCap?: number | null;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(365)
  offerTtlDays?: number;

  @IsOptional()
  @IsIn(CARD_PRODUCT_STATUSES)
  status?: CardProductStatus;

  /** Whose bank-reported delinquencies exclude a user: any partner's (default) or only this product's partner's. */
  @IsOptional()
  @IsIn(DELINQUENCY_SCOPES)
  delinquencyScope?: DelinquencyScope;
}

export class CreateCardProductDto extends CardProductTermsDto {
  @IsString()
  @Matches(CARD_PRODUCT_CODE, { message: 'must be 2-64 characters of A-Z, 0-9, _ and -' })
  code!: string;

  @IsString()
  @Matches(PARTNER_CODE, { message: 'must be a partner code (2-32 characters of A-Z, 0-9, _ and -)' })
  partnerCode!: string;

  @Name()
  name!: string;

  @Criteria()
  criteria!: unknown[];

  @SharedFields()
  sharedFields!: SharedFieldPath[];

  @ConsentText()
  consentText!: string;

  @Purpose()
  purpose!: string;
}

/** code and partnerCode are not here: a product keeps both for life (unknown members are refused with 400). */
export class UpdateCardProductDto extends CardProductTermsDto {
  @IsOptional()
  @Name()
  name?: string;

  @IsOptional()
  @Criteria()
  criteria?: unknown[];

  @IsOptional()
  @SharedFields()
  sharedFields?: SharedFieldPath[];

  @IsOptional()
  @ConsentText()
  consentText?: string;

  @IsOptional()
  @Purpose()
  purpose?: string;
}

export class ListCardProductsQuery extends PageQuery {}
