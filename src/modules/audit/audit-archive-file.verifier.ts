import { createHash, createPublicKey, JsonWebKey, KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

import * as jwt from 'jsonwebtoken';

import { ArchiveManifestClaims, parseArchiveLine } from './audit-archive.format';
import { CHECKPOINT_AUDIENCE } from './audit-checkpoint.service';
import { hashEntry } from './audit-entry';

export interface ArchiveFileVerification {
  ok: boolean;
  firstSeq?: number;
  lastSeq?: number;
  count?: number;
  /** `verified`; or `key-not-published` when the checkpoint's key has left the JWKS (the manifest still attests it). */
  checkpoint?: 'verified' | 'key-not-published';
  /** The first entry that does not verify, when one does not. */
  brokenSeq?: number;
  reason?: string;
}

/**
 * Verifies an archive file offline, with nothing but the file and the gateway's public JWKS: the manifest's signature,
 * the digest of the entry lines, every entry's hash and link, and that the segment ends at its signed checkpoint.
 */
export async function verifyArchiveFile(path: string, jwks: { keys: Array<JsonWebKey & { kid?: string; alg?: string }> }) {
  const keys = new Map(
    jwks.keys.filter((k) => k.kid).map((k) => [k.kid as string, { alg: k.alg, key: createPublicKey({ key: k, format: 'jwk' }) }]),
  );
  const digest = createHash('sha256');
  let pending: string | null = null;
  // Kept in one object: closures assigning `let`s defeat TypeScript's narrowing.
  const chain: { first?: { seq: number; prevHash: string }; prev?: { seq: number; hash: string }; count: number } = { count: 0 };
  let broken: { seq: number; reason: string } | null = null;
  const fail = (reason: string, extra: Partial<ArchiveFileVerification> = {}): ArchiveFileVerification => ({ ok: false, reason, ...extra });

  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) {
    // Every line but the last is an entry: it is hashed and checked once the next one shows it was not the manifest.
    if (pending !== null && !broken) {
      digest.update(`${pending}\n`, 'utf8');
      broken = checkEntry(pending);
    } else if (pending !== null) digest.update(`${pending}\n`, 'utf8');
    pending = line;
  }
  if (pending === null) return fail('the file is empty');

  let token: string;
  try {
    token = (JSON.parse(pending) as { manifest?: unknown }).manifest as string;
    if (typeof token !== 'string') throw new Error();
  } catch {
    return fail('the last line is not a manifest');
  }
  let manifest: ArchiveManifestClaims;
  try {
    manifest = verifyJws(token, 'audit-archive+jwt', keys).archive as ArchiveManifestClaims;
  } catch (error) {
    return fail(`manifest: ${(error as Error).message}`);
  }
  const segment = { firstSeq: manifest.firstSeq, lastSeq: manifest.lastSeq, count: manifest.count };
  if (digest.digest('hex') !== manifest.sha256) return fail('the entry lines do not match the manifest digest', segment);
  if (broken) return fail(broken.reason, { ...segment, brokenSeq: broken.seq });
  const { first, prev, count } = chain;
  if (!first || !prev) return fail('the file holds no entry', segment);
  if (first.seq !== manifest.firstSeq || first.prevHash !== manifest.firstPrevHash)
    return fail("the first entry is not the manifest's", segment);
  if (prev.seq !== manifest.lastSeq || prev.hash !== manifest.lastHash || count !== manifest.count) {
    return fail("the last entry is not the manifest's", segment);
  }
  if (manifest.checkpoint.seq !== prev.seq || manifest.checkpoint.hash !== prev.hash)
    return fail('the segment does not end at its checkpoint', segment);

  let checkpoint: ArchiveFileVerification['checkpoint'] = 'verified';
  const kid = (jwt.decode(manifest.checkpoint.token, { complete: true })?.header.kid ?? '') as string;
  if (!keys.has(kid)) checkpoint = 'key-not-published';
  else {
    try {
      const claims = verifyJws(manifest.checkpoint.token, 'checkpoint+jwt', keys);
      if (claims.seq !== prev.seq || claims.hash !== prev.hash) return fail('the checkpoint token names another head', segment);
    } catch (error) {
      return fail(`checkpoint: ${(error as Error).message}`, segment);
    }
  }
  return { ok: true, ...segment, checkpoint } satisfies ArchiveFileVerification;

  function checkEntry(line: string): { seq: number; reason: string } | null {
    let e;
    try {
      e = parseArchiveLine(line);
    } catch {
      return { seq: (chain.prev?.seq ?? 0) + 1, reason: 'a line is not an audit entry' };
    }
    chain.count++;
    chain.first ??= { seq: e.seq, prevHash: e.prevHash };
    if (chain.prev && e.seq !== chain.prev.seq + 1) return { seq: chain.prev.seq + 1, reason: 'entry missing' };
    if (chain.prev && e.prevHash !== chain.prev.hash) return { seq: e.seq, reason: 'entry does not link to the one before' };
    if (hashEntry(e) !== e.hash) return { seq: e.seq, reason: 'entry altered' };
    chain.prev = { seq: e.seq, hash: e.hash };
    return null;
  }
}

/** A JWS of the given typ, signed by a key of the set; exp is ignored (an archive is a statement about the past). */
function verifyJws(token: string, typ: string, keys: Map<string, { alg?: string; key: KeyObject }>): Record<string, unknown> {
  const decoded = jwt.decode(token, { complete: true });
  if (!decoded || typeof decoded.payload === 'string') throw new Error('not a JWS');
  if (String(decoded.header.typ).toLowerCase() !== typ) throw new Error(`not of type ${typ}`);
  const key = keys.get(decoded.header.kid ?? '');
  if (!key) throw new Error('signed by a key that is not in the JWKS');
  if (key.alg && key.alg !== decoded.header.alg) throw new Error('algorithm does not match its key');
  try {
    return jwt.verify(token, key.key, {
      algorithms: [decoded.header.alg as jwt.Algorithm],
      audience: CHECKPOINT_AUDIENCE,
      ignoreExpiration: true,
    }) as Record<string, unknown>;
  } catch {
    throw new Error('signature not valid');
  }
}
