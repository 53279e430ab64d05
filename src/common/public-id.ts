import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Public ids are `<prefix>_<opaque>` (API.md: `ref_…`, `ofr_…`, `cns_…`, `ovd_…`, `evt_…`, `run_…`, `dlq_…`; also `osc_…`
 * overdue scan, `ntc_…` overdue notice), and this file is the only place that makes or reads them. The opaque part is the row's 64-bit key encrypted as one AES block
 * under a key of that prefix, derived from MASTER_KEY: ids of consecutive rows look unrelated, so a partner learns
 * nothing of the platform's volumes, and an id decodes back to its row with no lookup. The block's other half is
 * zeros, checked on decoding, so a made-up or altered id, or one of another prefix, is refused before any query
 * (and answered 404 like an unknown one). docs/DECISIONS.md has the reasoning.
 *
 * Ids handed out before this in numeric form (`ref_123`) still resolve, but only up to the ceiling recorded for
 * their table (infra/database/legacy-public-ids.ts): numeric probing reaches no row that had only an opaque id.
 */
export type PublicIdPrefix = 'ref' | 'ofr' | 'cns' | 'ovd' | 'evt' | 'run' | 'dlq' | 'dsc' | 'dcf' | 'osc' | 'ntc';

/** The encoding generation, outside the base32 alphabet so it can never be confused with the body. */
const GENERATION = '1';
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** 128 bits in base32: 25 characters of 5 bits and one of 3 (its two low bits zero). */
const OPAQUE = new RegExp(`^${GENERATION}[a-z2-7]{25}[aeimquy4]$`);
const LEGACY_KEY = /^[1-9][0-9]{0,18}$/;
const MAX_KEY = (1n << 63n) - 1n;

interface Codec {
  encrypt: ReturnType<typeof createCipheriv>;
  decrypt: ReturnType<typeof createDecipheriv>;
}

let secret: Buffer | undefined;
let cursorKey: Buffer | undefined;
const codecs = new Map<string, Codec>();
let legacyCeilings: Partial<Record<PublicIdPrefix, bigint>> = {};

/** Called once per process with a subkey of MASTER_KEY (CryptoService does it); ids cannot be made before. */
export function configurePublicIds(key: Buffer): void {
  if (key.length !== 32) throw new Error('the public id key must be 32 bytes');
  if (secret?.equals(key)) return;
  secret = Buffer.from(key);
  cursorKey = subkey('cursor');
  codecs.clear();
}

const subkey = (label: string) =>
  Buffer.from(hkdfSync('sha256', secret!, Buffer.alloc(0), `referral-gateway/public-id/${GENERATION}/${label}`, 32));

const notConfigured = () => new Error('public ids are not configured (configurePublicIds runs when CryptoService starts)');

/** The highest key of each prefix that was handed out in numeric form (see the migration), loaded at start-up. */
export function acceptLegacyPublicIds(ceilings: Partial<Record<PublicIdPrefix, string | number | bigint>>): void {
  legacyCeilings = Object.fromEntries(Object.entries(ceilings).map(([prefix, max]) => [prefix, BigInt(max)]));
}

/** One AES-256-ECB pair per label, kept: ECB with padding off turns each 16-byte update into one block, no state. */
function codec(label: string): Codec {
  let c = codecs.get(label);
  if (!c) {
    if (!secret) throw notConfigured();
    const key = subkey(label);
    const encrypt = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
    const decrypt = createDecipheriv('aes-256-ecb', key, null).setAutoPadding(false);
    c = { encrypt, decrypt };
    codecs.set(label, c);
  }
  return c;
}

function toBase32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return bits > 0 ? out + BASE32[(value << (5 - bits)) & 31] : out;
}

function fromBase32(text: string): Buffer {
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    value = (value << 5) | BASE32.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  return Buffer.from(bytes);
}

/** The opaque form of a 64-bit key under a label: GENERATION and 26 base32 characters. */
function seal(label: string, key: string | number | bigint): string {
  const n = BigInt(key);
  if (n < 1n || n > MAX_KEY) throw new RangeError(`not a row key: ${key}`);
  const block = Buffer.alloc(16);
  block.writeBigUInt64BE(n, 0);
  return GENERATION + toBase32(codec(label).encrypt.update(block));
}

/** The key behind an opaque form, or undefined when it was not made by seal under this label. */
function unseal(label: string, text: string): string | undefined {
  if (!OPAQUE.test(text)) return undefined;
  const block = codec(label).decrypt.update(fromBase32(text.slice(1)));
  if (block.length !== 16 || block.readBigUInt64BE(8) !== 0n) return undefined;
  const n = block.readBigUInt64BE(0);
  return n >= 1n && n <= MAX_KEY ? n.toString() : undefined;
}

export const toPublicId = (prefix: PublicIdPrefix, key: string | number | bigint): string => `${prefix}_${seal(prefix, key)}`;

/** The numeric key behind a public id of that prefix, or undefined (answered as not found). */
export function keyOf(prefix: PublicIdPrefix, publicId: string): string | undefined {
  if (typeof publicId !== 'string' || !publicId.startsWith(`${prefix}_`)) return undefined;
  const body = publicId.slice(prefix.length + 1);
  if (LEGACY_KEY.test(body)) return BigInt(body) <= (legacyCeilings[prefix] ?? 0n) ? body : undefined;
  return unseal(prefix, body);
}

/**
 * A sort key (a row key, or any short text) as a pagination cursor: encrypted and authenticated (AES-256-GCM), so a
 * client can neither read the internal key it carries nor forge one to position a page by key.
 */
export function sealCursorKey(after: string): string {
  if (!cursorKey) throw notConfigured();
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', cursorKey, nonce);
  const body = Buffer.concat([cipher.update(after, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64url');
}

/** The sort key a cursor of sealCursorKey carries, or undefined when it is not one. */
export function openCursorKey(cursor: string): string | undefined {
  if (!cursorKey) throw notConfigured();
  const raw = Buffer.from(cursor, 'base64url');
  if (raw.length < 29 || raw.toString('base64url') !== cursor) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', cursorKey, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
