import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { Equals, IsDefined, IsInt, IsString, Matches, MaxLength, Min, ValidateNested } from 'class-validator';

/** What the applicant agreed to: the consent text's version and digest as GET /offers/{id}/consent showed them. */
export class ApplicationConsentDto {
  @ApiProperty({ minimum: 1 })
  @IsInt()
  @Min(1)
  textVersion!: number;

  @ApiProperty({ description: 'Hex SHA-256 of the consent text in UTF-8' })
  @IsString()
  @Matches(/^[0-9a-fA-F]{64}$/, { message: 'must be 64 hex characters' })
  textSha256!: string;

  @ApiProperty({ enum: [true], description: 'Must be true: consent is explicit' })
  @Equals(true, { message: 'must be true' })
  accepted!: true;
}

export class CreateApplicationDto {
  @ApiProperty({ example: 'ofr_1xrpih2qqfenckciedkki3nzpka' })
  @IsString()
  @MaxLength(64)
  offerId!: string;

  @ApiProperty({ type: ApplicationConsentDto })
  @IsDefined()
  @ValidateNested()
  @Type(() => ApplicationConsentDto)
  consent!: ApplicationConsentDto;
}
