import { IsIn, IsOptional } from 'class-validator';

import { SIGNING_ALGS, SigningAlg } from '../key-material';

export class RotateSigningKeyDto {
  /** Algorithm of the new key; ES256 when omitted. */
  @IsOptional()
  @IsIn(SIGNING_ALGS)
  alg?: SigningAlg;
}
