import { createHmac, generateKeyPairSync } from 'node:crypto';

import * as jwt from 'jsonwebtoken';

import { AppConfigService } from '../../src/infra/config/app-config';
import { PlatformJwtVerifier, TokenRefused } from '../../src/modules/auth/platform-jwt.verifier';

const issuer = 'https://id.platform.test';
const audience = 'referral-gateway';
const verifierFor = (platformJwt: { publicKey?: string; secret?: string }) =>
  new PlatformJwtVerifier({
    values: { platformJwt: { issuer, audience, maxLifetimeSeconds: 3600, ...platformJwt } },
  } as unknown as AppConfigService);
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('PlatformJwtVerifier', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ecPem = ec.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const rsaPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const claims = { roles: ['user', 'admin'] };
  const opts = { issuer, audience, subject: 'u_1', expiresIn: 60 } as const;

  it('accepts ES256 with an EC key and picks the role the route group wants', () => {
    const token = jwt.sign(claims, ec.privateKey, { ...opts, algorithm: 'ES256' });
    expect(verifierFor({ publicKey: ecPem }).verify(token, 'admin')).toEqual({ type: 'admin', id: 'u_1', roles: ['user', 'admin'] });
    expect(verifierFor({ publicKey: ecPem }).verify(token)).toMatchObject({ type: 'user' });
  });

  it('accepts RS256 with an RSA key, and nothing else', () => {
    const verifier = verifierFor({ publicKey: rsaPem });
    expect(verifier.verify(jwt.sign(claims, rsa.privateKey, { ...opts, algorithm: 'RS256' }))).toMatchObject({ id: 'u_1' });
    expect(() => verifier.verify(jwt.sign(claims, rsa.privateKey, { ...opts, algorithm: 'PS256' }))).toThrow(TokenRefused);
    // Key confusion: HS256 keyed with the public key PEM.
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ ...claims, sub: 'u_1', iss: issuer, aud: audience, exp: Math.floor(Date.now() / 1000) + 60 })}`;
    expect(() => verifier.verify(`${input}.${createHmac('sha256', rsaPem).update(input).digest('base64url')}`)).toThrow(TokenRefused);
  });

  it('prefers the public key over a secret when both are configured', () => {
    const secret = 's'.repeat(40);
    const verifier = verifierFor({ publicKey: ecPem, secret });
    expect(() => verifier.verify(jwt.sign(claims, secret, { ...opts, algorithm: 'HS256' }))).toThrow(TokenRefused);
  });

  it('refuses a token without exp or sub', () => {
    const secret = 's'.repeat(40);
    const verifier = verifierFor({ secret });
    expect(() => verifier.verify(jwt.sign(claims, secret, { issuer, audience, subject: 'u_1', algorithm: 'HS256' }))).toThrow('no expiry');
    expect(() => verifier.verify(jwt.sign(claims, secret, { issuer, audience, expiresIn: 60, algorithm: 'HS256' }))).toThrow(
      'no valid subject',
    );
  });
});
