import { ArrayMaxSize, IsArray, IsBoolean, IsInt, IsObject, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

export const DEFAULT_MAX_EVENTS = 100;
export const MAX_EVENTS = 1000;

/**
 * RFC 8936 §2.4 poll request. `setErrs` maps a jti to `{ err, description }`; its members are checked by
 * EventPollService (class-validator cannot describe a map with arbitrary keys).
 */
export class PollEventsDto {
  /** 0 = only acknowledge; default 100. */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_EVENTS)
  maxEvents?: number;

  /** RFC 8936 default false: with no event open, the call waits briefly for one. */
  @IsOptional()
  @IsBoolean()
  returnImmediately?: boolean;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_EVENTS)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  ack?: string[];

  @IsOptional()
  @IsObject()
  setErrs?: Record<string, unknown>;
}

export interface PollEventsResponse {
  sets: Record<string, string>;
  moreAvailable: boolean;
}
