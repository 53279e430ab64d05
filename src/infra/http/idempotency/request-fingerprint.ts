import { createHash } from 'node:crypto';

/**
 * JSON with object members sorted at every depth, so that `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request.
 * Members whose value is undefined are dropped, as JSON.stringify drops them.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const members = Object.keys(value as Record<string, unknown>)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${members.join(',')}}`;
}

/**
 * What makes two requests "the same" for Idempotency-Key: method, path with query, and the body
 * (canonical JSON for parsed bodies; the exact text or bytes for NDJSON and other raw bodies).
 */
export function requestFingerprint(method: string, url: string, body: unknown): string {
  const hash = createHash('sha256').update(`${method.toUpperCase()} ${url}\n`);
  if (body === undefined || body === null) hash.update('-');
  else if (typeof body === 'string') hash.update('s:').update(body, 'utf8');
  else if (Buffer.isBuffer(body)) hash.update('b:').update(body);
  else hash.update('j:').update(canonicalJson(body), 'utf8');
  return hash.digest('hex');
}
