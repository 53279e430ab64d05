import { Injectable } from '@nestjs/common';

import { CryptoService } from '../../infra/crypto/crypto.service';

/**
 * The master key's purpose for stored referral files. The migration that sealed the files kept in clear before
 * (1763801230000-referral-file-sealing) names the same purpose: keep them equal.
 */
export const REFERRAL_FILE_PURPOSE = 'pii.referral-file';

/**
 * Referral files at rest: a file's payload is the applicant's shared data (name, national id, phone) in base64url,
 * so it is kept sealed like the credit record's identity (AES-256-GCM, a fresh IV per file) with the referral's table
 * key as AAD: a sealed file copied onto another referral's row does not open.
 */
@Injectable()
export class ReferralFileSealer {
  constructor(private readonly crypto: CryptoService) {}

  seal(referralId: string, file: string): Buffer {
    return this.crypto.encrypt(REFERRAL_FILE_PURPOSE, file, referralId);
  }

  open(referralId: string, sealed: Buffer): string {
    return this.crypto.decrypt(REFERRAL_FILE_PURPOSE, sealed, referralId).toString('utf8');
  }
}
