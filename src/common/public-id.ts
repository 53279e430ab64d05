/**
 * Public ids are `<prefix>_<numeric key>` (API.md: `ref_…`, `ofr_…`, `cns_…`, `ovd_…`, `evt_…`, `run_…`, `dlq_…`,
 * `osc_…` overdue scan, `ntc_…` overdue notice).
 * Clients must treat them as opaque; the gateway maps them back to the table key and answers anything it did not
 * issue as 404.
 */
export type PublicIdPrefix = 'ref' | 'ofr' | 'cns' | 'ovd' | 'evt' | 'run' | 'dlq' | 'dsc' | 'osc' | 'ntc';

export const toPublicId = (prefix: PublicIdPrefix, key: string | number | bigint): string => `${prefix}_${key}`;

const KEY = /^[1-9][0-9]{0,18}$/;

/** The numeric key behind a public id of that prefix, or undefined. */
export function keyOf(prefix: PublicIdPrefix, publicId: string): string | undefined {
  if (!publicId.startsWith(`${prefix}_`)) return undefined;
  const key = publicId.slice(prefix.length + 1);
  return KEY.test(key) ? key : undefined;
}
