import { Injectable } from '@nestjs/common';

import { CryptoService } from '../../infra/crypto/crypto.service';

export interface Identity {
  name: string;
  nationalId: string;
  phone: string;
}

const ENCRYPTION_PURPOSE = 'pii.credit-record.identity';
const NATIONAL_ID_HASH_PURPOSE = 'pii.national-id';
const PHONE_HASH_PURPOSE = 'pii.phone';

/** The same person written two ways must hash the same: case of the check letter, spaces and dashes in phones. */
export const normalizeNationalId = (v: string) => v.trim().toUpperCase();
export const normalizePhone = (v: string) => v.replace(/[\s-]/g, '');

/**
 * Identity at rest: sealed with AES-256-GCM (a fresh IV per value; the user id as AAD, so a ciphertext moved to
 * another user's row does not open) and findable only through keyed HMAC-SHA256 hashes of the normalised values.
 */
@Injectable()
export class IdentityProtector {
  constructor(private readonly crypto: CryptoService) {}

  seal(userId: string, identity: Identity): Buffer {
    const { name, nationalId, phone } = identity;
    return this.crypto.encrypt(ENCRYPTION_PURPOSE, JSON.stringify({ name, nationalId, phone }), userId);
  }

  open(userId: string, sealed: Buffer): Identity {
    return JSON.parse(this.crypto.decrypt(ENCRYPTION_PURPOSE, sealed, userId).toString('utf8')) as Identity;
  }

  nationalIdHash(nationalId: string): Buffer {
    return this.crypto.keyedHashBytes(NATIONAL_ID_HASH_PURPOSE, normalizeNationalId(nationalId));
  }

  phoneHash(phone: string): Buffer {
    return this.crypto.keyedHashBytes(PHONE_HASH_PURPOSE, normalizePhone(phone));
  }
}
