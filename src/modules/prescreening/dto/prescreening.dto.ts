import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsDefined, IsInt, IsOptional, Max, Min } from 'class-validator';

import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../prescreen-run';

/** `POST /v1/admin/card-products/{code}/prescreen-runs`: no body needed; chunkSize is an operator's tuning knob. */
export class StartPrescreenRunDto {
  @ApiPropertyOptional({ minimum: MIN_CHUNK_SIZE, maximum: MAX_CHUNK_SIZE, description: 'users per chunk (default 10,000)' })
  @IsOptional()
  @IsInt()
  @Min(MIN_CHUNK_SIZE)
  @Max(MAX_CHUNK_SIZE)
  chunkSize?: number;
}

/** `PUT /v1/me/preferences`. */
export class UpdatePreferencesDto {
  @ApiProperty({ description: 'true: no more pre-screened offers, and live offers are withdrawn' })
  @IsDefined()
  @IsBoolean()
  prescreenOptOut!: boolean;
}
