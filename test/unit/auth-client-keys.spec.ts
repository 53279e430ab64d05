import { createPublicKey, generateKeyPairSync } from 'node:crypto';

import { algorithmsFor, parseClientKeys, thumbprint } from '../../src/modules/partners/client-keys';

describe('partner client keys', () => {
  it('computes the RFC 7638 thumbprint of the RFC example key', () => {
    // RFC 7638 §3.1
    const n =
      '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
    const key = createPublicKey({ key: { kty: 'RSA', n, e: 'AQAB' }, format: 'jwk' });
    expect(thumbprint(key)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('normalises a JWK set to public members, keeping kid and alg', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
    const [key] = parseClientKeys({ jwks: { keys: [{ ...rsa, kid: 'bank-1', alg: 'PS256', x5c: ['ignored'] }] } });
    expect(key.jwk).toEqual({ kty: 'RSA', kid: 'bank-1', use: 'sig', alg: 'PS256', n: rsa.n, e: rsa.e });
    expect(algorithmsFor(key.jwk)).toEqual(['PS256']);
  });

  it('pins algorithms to the key type', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
    const [e, r] = parseClientKeys({
      jwks: {
        keys: [
          { ...ec, kid: 'e' },
          { ...rsa, kid: 'r' },
        ],
      },
    });
    expect(algorithmsFor(e.jwk)).toEqual(['ES256']);
    expect(algorithmsFor(r.jwk)).toEqual(['RS256', 'PS256']);
  });

  it('names each bad key by its position', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    expect(() =>
      parseClientKeys({
        jwks: {
          keys: [
            { ...ec, kid: 'ok' },
            { ...ec, kid: 'bad', use: 'enc' },
          ],
        },
      }),
    ).toThrow(expect.objectContaining({ status: 400, errors: [{ field: 'jwks.keys.1', message: 'use must be "sig"' }] }));
  });

  it('takes a null jwks or publicKeyPem (JSON null passes @IsOptional) as absent, answering 400', () => {
    const exactlyOne = expect.objectContaining({
      status: 400,
      errors: [{ field: 'jwks', message: 'give exactly one of jwks or publicKeyPem' }],
    });
    expect(() => parseClientKeys({ jwks: null as never })).toThrow(exactlyOne);
    expect(() => parseClientKeys({ publicKeyPem: null as never })).toThrow(exactlyOne);
    expect(() => parseClientKeys({ jwks: null as never, publicKeyPem: null as never })).toThrow(exactlyOne);
  });
});
