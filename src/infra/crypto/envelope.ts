import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM envelope encryption and keyed hashes under keys derived from the master key.
 * Every purpose gets its own subkey (HKDF-SHA256, info = purpose), so a value encrypted for one purpose
 * cannot be decrypted as another, and a keyed hash of the same input differs between purposes.
 *
 * Sealed format (binary): version (1 byte, 0x01) | IV (12) | GCM tag (16) | ciphertext.
 */
const VERSION = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;

export class DecryptionError extends Error {
  constructor() {
    super('ciphertext could not be authenticated (wrong key, purpose or tampered data)');
    this.name = 'DecryptionError';
  }
}

/** A 32-byte subkey of the master key for one purpose (e.g. "signing-key.private", "pii.identity"). */
export function deriveKey(masterKey: Buffer, purpose: string, use: 'enc' | 'mac'): Buffer {
  if (masterKey.length !== 32) throw new Error('master key must be 32 bytes');
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `referral-gateway/${use}/${purpose}`, 32));
}

/**
 * IVs come from a pooled CSPRNG buffer: one `randomBytes` call per 4,096 IVs instead of one per value (that call
 * cost as much as the encryption itself on the bulk paths). Every IV is still 12 fresh random bytes, used once:
 * a slice is handed out once and the pool is replaced, never reused, when it runs out.
 */
const IV_POOL_SIZE = IV_BYTES * 4096;
let ivPool = Buffer.alloc(0);
let ivOffset = 0;

function nextIv(): Buffer {
  if (ivOffset + IV_BYTES > ivPool.length) {
    ivPool = randomBytes(IV_POOL_SIZE);
    ivOffset = 0;
  }
  const iv = ivPool.subarray(ivOffset, ivOffset + IV_BYTES);
  ivOffset += IV_BYTES;
  return iv;
}

/** Encrypts with a fresh random IV; `aad` (e.g. the row id) binds the ciphertext to its context. */
export function seal(key: Buffer, plaintext: Buffer | string, aad?: string): Buffer {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext);
  const tail = cipher.final(); // empty for GCM, kept for form
  // One output buffer, written in place, rather than a chain of concatenations.
  const sealed = Buffer.allocUnsafe(HEADER_BYTES + body.length + tail.length);
  sealed[0] = VERSION;
  iv.copy(sealed, 1);
  cipher.getAuthTag().copy(sealed, 1 + IV_BYTES);
  body.copy(sealed, HEADER_BYTES);
  tail.copy(sealed, HEADER_BYTES + body.length);
  return sealed;
}

export function open(key: Buffer, sealed: Buffer, aad?: string): Buffer {
  if (sealed.length < HEADER_BYTES || sealed[0] !== VERSION) throw new DecryptionError();
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 1 + IV_BYTES));
  decipher.setAuthTag(sealed.subarray(1 + IV_BYTES, HEADER_BYTES));
  if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES)), decipher.final()]);
  } catch {
    throw new DecryptionError();
  }
}

/** HMAC-SHA256 as lowercase hex: a deterministic index over a secret value that cannot be reversed without the key. */
export function keyedHash(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

/** The same HMAC-SHA256 as raw bytes, for BINARY columns: no hex string made only to be decoded again. */
export function keyedHashBytes(key: Buffer, value: string): Buffer {
  return createHmac('sha256', key).update(value, 'utf8').digest();
}
