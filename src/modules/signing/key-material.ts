import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, JsonWebKey, KeyObject } from 'node:crypto';

/** Algorithms a gateway key may use. ES256 is the default (small keys, small signatures, every JOSE library). */
export const SIGNING_ALGS = ['ES256', 'ES384', 'RS256', 'PS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];
export const DEFAULT_SIGNING_ALG: SigningAlg = 'ES256';

export interface KeyMaterial {
  kid: string;
  alg: SigningAlg;
  /** Public members only (kty, crv/x/y or n/e). */
  publicJwk: JsonWebKey;
  privateKeyPem: string;
}

function generate(alg: SigningAlg) {
  switch (alg) {
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ES384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'RS256':
    case 'PS256':
      return generateKeyPairSync('rsa', { modulusLength: 3072 });
  }
}

/** RFC 7638 JWK thumbprint: the kid is derived from the key itself, so it can never name another key. */
export function jwkThumbprint(jwk: JsonWebKey): string {
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

export function generateKeyMaterial(alg: SigningAlg = DEFAULT_SIGNING_ALG): KeyMaterial {
  const { publicKey, privateKey } = generate(alg);
  const full = publicKey.export({ format: 'jwk' });
  const publicJwk: JsonWebKey =
    full.kty === 'EC' ? { kty: full.kty, crv: full.crv, x: full.x, y: full.y } : { kty: full.kty, n: full.n, e: full.e };
  return {
    kid: jwkThumbprint(publicJwk),
    alg,
    publicJwk,
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

export const publicKeyOf = (jwk: JsonWebKey): KeyObject => createPublicKey({ key: jwk, format: 'jwk' });
export const privateKeyOf = (pem: string): KeyObject => createPrivateKey(pem);
