import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';

import { PageQuery } from '../../../common/pagination';
import { PARTNER_CODE, PARTNER_SCOPES, PARTNER_STATUSES, PartnerScope, PartnerStatus } from '../partner';

/** A JWK set; each key's members are checked by parseClientKeys (JWK members vary by key type). */
export class JwksDto {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10)
  @IsObject({ each: true })
  keys!: Record<string, unknown>[];
}

/** Fields a partner has at creation and may change later. */
class PartnerFieldsDto {
  @IsOptional()
  @ValidateNested()
  @Type(() => JwksDto)
  jwks?: JwksDto;

  @IsOptional()
  @IsString()
  @MaxLength(16384)
  publicKeyPem?: string;

  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayUnique()
  @IsIn(PARTNER_SCOPES, { each: true })
  scopes?: PartnerScope[];

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(365)
  overdueThresholdDays?: number;

  /** The user must hear of an overdue report before it is shared, so at least one day. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(90)
  noticeDays?: number;
}

export class CreatePartnerDto extends PartnerFieldsDto {
  @IsString()
  @Matches(PARTNER_CODE, { message: 'must be 2-32 characters of A-Z, 0-9, _ and -' })
  code!: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name!: string;

  @IsOptional()
  @IsString()
  @MaxLength(2048)
  pushEndpoint?: string;
}

export class UpdatePartnerDto extends PartnerFieldsDto {
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  name?: string;

  /** null removes the push endpoint (the partner then polls only). */
  @ValidateIf((o: UpdatePartnerDto) => o.pushEndpoint !== null && o.pushEndpoint !== undefined)
  @IsString()
  @MaxLength(2048)
  pushEndpoint?: string | null;

  @IsOptional()
  @IsIn(PARTNER_STATUSES)
  status?: PartnerStatus;
}

export class ListPartnersQuery extends PageQuery {}
