import { keyOf, PublicIdPrefix } from '../../src/common/public-id';

/** The table key behind a public id the gateway handed out (for SQL checks of what was stored); throws on anything else. */
export function rowKey(publicId: string): string {
  const key = keyOf(publicId.slice(0, 3) as PublicIdPrefix, publicId);
  if (key === undefined) throw new Error(`not a public id of this gateway: ${publicId}`);
  return key;
}

/** The shape of every public id since they became opaque: prefix, generation '1', 128 bits in base32. */
export const OPAQUE_ID = (prefix: PublicIdPrefix) => new RegExp(`^${prefix}_1[a-z2-7]{25}[aeimquy4]$`);
