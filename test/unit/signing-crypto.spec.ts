import { randomBytes } from 'node:crypto';

import { DecryptionError, deriveKey, keyedHash, open, seal } from '../../src/infra/crypto/envelope';
import { generateKeyMaterial, jwkThumbprint, privateKeyOf, publicKeyOf } from '../../src/modules/signing/key-material';

describe('envelope encryption and keyed hashes', () => {
  const master = randomBytes(32);
  const key = deriveKey(master, 'signing-key.private', 'enc');

  it('round-trips and uses a fresh IV each time', () => {
    const a = seal(key, 'secret', 'kid-1');
    const b = seal(key, 'secret', 'kid-1');
    expect(a.equals(b)).toBe(false);
    expect(open(key, a, 'kid-1').toString()).toBe('secret');
  });

  it('refuses another purpose, another AAD, another master key or a flipped bit', () => {
    const sealed = seal(key, 'secret', 'kid-1');
    expect(() => open(deriveKey(master, 'pii.identity', 'enc'), sealed, 'kid-1')).toThrow(DecryptionError);
    expect(() => open(key, sealed, 'kid-2')).toThrow(DecryptionError);
    expect(() => open(deriveKey(randomBytes(32), 'signing-key.private', 'enc'), sealed, 'kid-1')).toThrow(DecryptionError);
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1] ^= 1;
    expect(() => open(key, flipped, 'kid-1')).toThrow(DecryptionError);
    expect(() => open(key, Buffer.alloc(5))).toThrow(DecryptionError);
    expect(() => deriveKey(randomBytes(16), 'x', 'enc')).toThrow();
  });

  it('keyed hashes are deterministic per purpose and differ between purposes and keys', () => {
    const mac = deriveKey(master, 'audit.subject-user', 'mac');
    expect(keyedHash(mac, 'u_1')).toBe(keyedHash(mac, 'u_1'));
    expect(keyedHash(mac, 'u_1')).toMatch(/^[0-9a-f]{64}$/);
    expect(keyedHash(mac, 'u_1')).not.toBe(keyedHash(deriveKey(master, 'pii.national-id', 'mac'), 'u_1'));
    expect(keyedHash(mac, 'u_1')).not.toBe(keyedHash(deriveKey(randomBytes(32), 'audit.subject-user', 'mac'), 'u_1'));
  });
});

describe('signing key material', () => {
  it.each(['ES256', 'ES384', 'RS256', 'PS256'] as const)('%s: public-only JWK, kid = RFC 7638 thumbprint, usable PEM', (alg) => {
    const m = generateKeyMaterial(alg);
    expect(m.kid).toBe(jwkThumbprint(m.publicJwk));
    expect(m.publicJwk).not.toHaveProperty('d');
    expect(publicKeyOf(m.publicJwk).type).toBe('public');
    expect(privateKeyOf(m.privateKeyPem).type).toBe('private');
  });

  it('matches the RFC 7638 example thumbprint', () => {
    const n =
      '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
    expect(jwkThumbprint({ kty: 'RSA', n, e: 'AQAB' })).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });
});
