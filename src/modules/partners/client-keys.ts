import { createHash, createPublicKey, KeyObject } from 'node:crypto';

import { FieldError, ValidationFailedError } from '../../common/errors';
import { CLIENT_KEY_ALGS, ClientJwk, ClientKey, ClientKeyAlg } from './partner';

export const MAX_CLIENT_KEYS = 10;
const KID = /^[\x21-\x7e]{1,128}$/;
/** JWK members that only a private key has: a partner that sends one has leaked its key, and we refuse to keep it. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * Validates the client keys of a partner (a JWK set or one PEM public key) and normalises each to a public JWK:
 * RSA of at least 2048 bits (RS256/PS256) or EC P-256 (ES256). A PEM key has no kid of its own, so it gets its
 * RFC 7638 thumbprint.
 */
export function parseClientKeys(input: { jwks?: { keys: unknown[] }; publicKeyPem?: string }): ClientKey[] {
  // JSON null passes the DTO's @IsOptional: it means "not given" here, like undefined.
  const hasJwks = input.jwks !== undefined && input.jwks !== null;
  const hasPem = input.publicKeyPem !== undefined && input.publicKeyPem !== null;
  if (hasJwks === hasPem) {
    throw new ValidationFailedError([{ field: 'jwks', message: 'give exactly one of jwks or publicKeyPem' }]);
  }
  if (hasPem) return [fromPem(input.publicKeyPem!)];
  const keys = input.jwks!.keys;
  if (keys.length === 0 || keys.length > MAX_CLIENT_KEYS) {
    throw new ValidationFailedError([{ field: 'jwks.keys', message: `must hold 1 to ${MAX_CLIENT_KEYS} keys` }]);
  }
  const errors: FieldError[] = [];
  const out: ClientKey[] = [];
  keys.forEach((raw, i) => {
    const field = `jwks.keys.${i}`;
    const result = fromJwk(raw);
    if (typeof result === 'string') errors.push({ field, message: result });
    else if (out.some((k) => k.kid === result.kid)) errors.push({ field: `${field}.kid`, message: 'duplicates the kid of another key' });
    else out.push(result);
  });
  if (errors.length) throw new ValidationFailedError(errors, 'One or more client keys are not acceptable');
  return out;
}

function fromJwk(raw: unknown): ClientKey | string {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return 'must be a JWK object';
  const jwk = raw as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) return 'must be a public key: private key members are refused';
  if (typeof jwk.kid !== 'string' || !KID.test(jwk.kid)) return 'must have a kid of 1-128 printable characters';
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'use must be "sig"';
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return 'key_ops must allow "verify"';
  if (jwk.alg !== undefined && !CLIENT_KEY_ALGS.includes(jwk.alg as ClientKeyAlg))
    return `alg must be one of ${CLIENT_KEY_ALGS.join(', ')}`;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as never, format: 'jwk' });
  } catch {
    return 'is not a valid public JWK';
  }
  const checked = checkKey(key, jwk.alg as ClientKeyAlg | undefined);
  if (typeof checked === 'string') return checked;
  return normalised(key, jwk.kid, jwk.alg as ClientKeyAlg | undefined);
}

function fromPem(pem: string): ClientKey {
  const fail = (message: string) => new ValidationFailedError([{ field: 'publicKeyPem', message }]);
  // createPublicKey would happily derive a public key from a private one; a private key must never be accepted.
  if (/PRIVATE KEY/.test(pem)) throw fail('must be a public key: a private key is refused');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw fail('is not a PEM public key');
  }
  const checked = checkKey(key, undefined);
  if (typeof checked === 'string') throw fail(checked);
  return normalised(key, thumbprint(key), undefined);
}

function checkKey(key: KeyObject, alg: ClientKeyAlg | undefined): true | string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) return 'RSA keys must have at least 2048 bits';
    if (alg === 'ES256') return 'alg ES256 needs an EC P-256 key';
    return true;
  }
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve !== 'prime256v1') return 'EC keys must be on curve P-256';
    if (alg !== undefined && alg !== 'ES256') return 'an EC P-256 key signs with ES256 only';
    return true;
  }
  return 'must be an RSA (2048 bits or more) or EC P-256 key';
}

function normalised(key: KeyObject, kid: string, alg: ClientKeyAlg | undefined): ClientKey {
  const exported = key.export({ format: 'jwk' }) as Record<string, string>;
  const jwk: ClientJwk =
    exported.kty === 'RSA'
      ? { kty: 'RSA', kid, use: 'sig', n: exported.n, e: exported.e }
      : { kty: 'EC', kid, use: 'sig', crv: 'P-256', x: exported.x, y: exported.y };
  if (alg) jwk.alg = alg;
  return { kid, jwk };
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) over the required members in lexicographic order. */
export function thumbprint(key: KeyObject): string {
  const j = key.export({ format: 'jwk' }) as Record<string, string>;
  const members = j.kty === 'RSA' ? { e: j.e, kty: 'RSA', n: j.n } : { crv: j.crv, kty: 'EC', x: j.x, y: j.y };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** The algorithms a registered key may sign assertions with: pinned by key type, narrowed by its alg. */
export function algorithmsFor(jwk: ClientJwk): ClientKeyAlg[] {
  if (jwk.alg) return [jwk.alg];
  return jwk.kty === 'RSA' ? ['RS256', 'PS256'] : ['ES256'];
}
