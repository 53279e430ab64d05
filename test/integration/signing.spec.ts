import { generateKeyPairSync } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as jwt from 'jsonwebtoken';
import { DataSource } from 'typeorm';

import { UnauthorizedError } from '../../src/common/errors';
import { AuditChainer } from '../../src/modules/audit/audit-chainer.service';
import { mintDevelopmentPlatformToken } from '../../src/modules/auth/platform-token.dev';
import { ARTEFACT_TYP, ArtefactKind, SigningService } from '../../src/modules/signing/signing.service';
import { SigningKeyRotation } from '../../src/modules/signing/signing-key.rotation';
import { startHttpApp, testConfig } from '../support/app';

const ISSUER = 'http://gateway.test';
const KINDS = Object.keys(ARTEFACT_TYP) as ArtefactKind[];

describe('signing keys, JWKS and artefacts', () => {
  let app: NestFastifyApplication;
  let base: string;
  let signing: SigningService;
  let db: DataSource;
  const http = () => app.getHttpAdapter().getInstance();
  const adminToken = (roles: ('admin' | 'user')[] = ['admin']) => mintDevelopmentPlatformToken(testConfig(), { sub: 'op-alice', roles });
  // A fresh key set per check, so jose's own cache never hides what the endpoint serves now.
  const remoteJwks = () => createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`), { cooldownDuration: 0 });
  const activeKids = async () =>
    (await db.query(`SELECT kid FROM signing_keys WHERE status = 'ACTIVE'`)).map((r: { kid: string }) => r.kid);

  beforeAll(async () => {
    app = await startHttpApp('api');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.getHttpServer().address() as { port: number };
    base = `http://127.0.0.1:${address.port}`;
    signing = app.get(SigningService);
    db = app.get(DataSource);
  });

  afterAll(async () => {
    await app.close();
  });

  // The suite shares one database: other specs may have rotated already, so retired keys can be published too.
  it('keeps exactly one ACTIVE key and serves only public halves of known keys', async () => {
    expect(await activeKids()).toHaveLength(1);
    const res = await http().inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toMatch(/max-age=\d+/);
    const { keys } = res.json();
    const kids = keys.map((k: { kid: string }) => k.kid);
    expect(kids).toEqual(expect.arrayContaining(await activeKids()));
    const known: { kid: string }[] = await db.query('SELECT kid FROM signing_keys');
    expect(known.map((r) => r.kid)).toEqual(expect.arrayContaining(kids));
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(key.d).toBeUndefined();
    }
  });

  it('keeps private keys sealed at rest', async () => {
    const rows: { private_key_enc: Buffer }[] = await db.query(`SELECT private_key_enc FROM signing_keys WHERE status = 'ACTIVE'`);
    const sealed = rows[0].private_key_enc;
    expect(sealed.length).toBeGreaterThan(100);
    expect(sealed.toString('latin1')).not.toContain('PRIVATE KEY');
  });

  it('signs every kind with its own typ, verifiable with jose through the served JWKS', async () => {
    const jwks = remoteJwks();
    for (const kind of KINDS) {
      const signed = await signing.sign(kind, { hello: kind }, { audience: 'XB', subject: 'ref_1', expiresInSeconds: 600 });
      const { payload, protectedHeader } = await jwtVerify(signed.token, jwks, {
        issuer: ISSUER,
        audience: 'XB',
        typ: ARTEFACT_TYP[kind],
        algorithms: ['ES256'],
      });
      expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: signed.kid, typ: ARTEFACT_TYP[kind] });
      expect(payload).toMatchObject({ hello: kind, sub: 'ref_1', jti: signed.jti, exp: signed.expiresAt.getTime() / 1000 });
      expect(await signing.verify(kind, signed.token, { audience: 'XB' })).toMatchObject({ hello: kind });
    }
  });

  it('never accepts one kind as another, a wrong audience, an expired or a forged token', async () => {
    const access = await signing.sign(
      'access-token',
      { scope: 'referrals:read' },
      { audience: ISSUER, subject: 'XB', expiresInSeconds: 900 },
    );
    await expect(signing.verify('referral', access.token, { audience: ISSUER })).rejects.toThrow(UnauthorizedError);
    const referral = await signing.sign('referral', {}, { audience: 'XB', expiresInSeconds: 900 });
    await expect(signing.verify('access-token', referral.token, { audience: 'XB' })).rejects.toThrow(UnauthorizedError);
    await expect(signing.verify('referral', referral.token, { audience: 'OTHER' })).rejects.toThrow(UnauthorizedError);

    const [h, p] = referral.token.split('.');
    const otherSig = (await signing.sign('referral', {}, { audience: 'XB', expiresInSeconds: 60 })).token.split('.')[2];
    await expect(signing.verify('referral', `${h}.${p}.${otherSig}`, { audience: 'XB' })).rejects.toThrow(UnauthorizedError);

    // A foreign key claiming our kid, an HMAC token naming our kid, and an unknown kid.
    const foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const claims = { iss: ISSUER, aud: 'XB' };
    const header = { alg: 'ES256' as const, typ: 'referral+jwt', kid: referral.kid };
    await expect(
      signing.verify('referral', jwt.sign(claims, foreign, { algorithm: 'ES256', header, expiresIn: 60 }), { audience: 'XB' }),
    ).rejects.toThrow(UnauthorizedError);
    const hs = jwt.sign(claims, 'x'.repeat(32), { algorithm: 'HS256', header: { ...header, alg: 'HS256' }, expiresIn: 60 });
    await expect(signing.verify('referral', hs, { audience: 'XB' })).rejects.toThrow(UnauthorizedError);
    const unknown = jwt.sign(claims, foreign, { algorithm: 'ES256', header: { ...header, kid: 'nope' }, expiresIn: 60 });
    await expect(signing.verify('referral', unknown, { audience: 'XB' })).rejects.toThrow(UnauthorizedError);
    await expect(signing.verify('referral', 'not-a-jwt', { audience: 'XB' })).rejects.toThrow(UnauthorizedError);

    // The service's exp wins over a claim of the caller's; once past it the token is refused (unless told otherwise).
    const short = await signing.sign('referral', { exp: 1 }, { audience: 'XB', expiresInSeconds: 60 });
    expect((jwt.decode(short.token) as { exp: number }).exp).toBe(short.expiresAt.getTime() / 1000);
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now + 120_000);
    try {
      await expect(signing.verify('referral', short.token, { audience: 'XB' })).rejects.toThrow('expired');
      await expect(signing.verify('referral', short.token, { audience: 'XB', ignoreExpiration: true })).resolves.toBeDefined();
    } finally {
      clock.mockRestore();
    }
  });

  it('rotates over the operator API: old artefacts keep verifying, new ones name the new key, both published', async () => {
    const before = await signing.sign('referral', { n: 1 }, { audience: 'XB', expiresInSeconds: 3600 });

    const denied = await http().inject({
      method: 'POST',
      url: '/v1/admin/signing-keys/rotate',
      headers: { authorization: `Bearer ${adminToken(['user'])}` },
    });
    expect(denied.statusCode).toBe(403);
    const anonymous = await http().inject({ method: 'POST', url: '/v1/admin/signing-keys/rotate' });
    expect(anonymous.statusCode).toBe(401);
    const badBody = await http().inject({
      method: 'POST',
      url: '/v1/admin/signing-keys/rotate',
      headers: { authorization: `Bearer ${adminToken()}` },
      payload: { alg: 'HS256' },
    });
    expect(badBody.statusCode).toBe(400);
    expect(await activeKids()).toEqual([before.kid]);

    const res = await http().inject({
      method: 'POST',
      url: '/v1/admin/signing-keys/rotate',
      headers: { authorization: `Bearer ${adminToken()}`, 'x-request-id': 'rotate-1' },
    });
    expect(res.statusCode).toBe(201);
    const rotated = res.json();
    expect(rotated).toMatchObject({ alg: 'ES256', status: 'ACTIVE', previousKid: before.kid });
    expect(await activeKids()).toEqual([rotated.kid]);

    const after = await signing.sign('referral', { n: 2 }, { audience: 'XB', expiresInSeconds: 3600 });
    expect(after.kid).toBe(rotated.kid);
    expect(decodeProtectedHeader(before.token).kid).toBe(before.kid);

    const jwks = remoteJwks();
    await expect(jwtVerify(before.token, jwks, { issuer: ISSUER, audience: 'XB', typ: 'referral+jwt' })).resolves.toBeDefined();
    await expect(jwtVerify(after.token, jwks, { issuer: ISSUER, audience: 'XB', typ: 'referral+jwt' })).resolves.toBeDefined();
    await expect(signing.verify('referral', before.token, { audience: 'XB' })).resolves.toMatchObject({ n: 1 });

    const kids = (await http().inject({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys.map((k: { kid: string }) => k.kid);
    expect(kids[0]).toBe(rotated.kid); // the signing key first
    expect(kids).toEqual(expect.arrayContaining([before.kid, rotated.kid]));

    // The retired key no longer holds a private key, and the rotation was audited in its transaction.
    const [old] = await db.query(`SELECT status, private_key_enc, signed_until FROM signing_keys WHERE kid = ?`, [before.kid]);
    expect(old.status).toBe('RETIRED');
    expect(old.private_key_enc).toBeNull();
    expect(new Date(old.signed_until).getTime()).toBeGreaterThanOrEqual(before.expiresAt.getTime());
    await app.get(AuditChainer).drain();
    const audit = await db.query(
      `SELECT actor_type, actor_id, request_id, outcome, details FROM audit_events WHERE action = 'signing_key.rotated' AND resource_id = ?`,
      [rotated.kid],
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor_type: 'admin', actor_id: 'op-alice', request_id: 'rotate-1', outcome: 'SUCCESS' });
    expect(JSON.parse(audit[0].details)).toEqual({ alg: 'ES256', previousKid: before.kid });
  });

  it('drops a retired key from the JWKS once everything it signed has expired, but still verifies with it', async () => {
    const signed = await signing.sign('audit-checkpoint', { seq: 1 }, { audience: 'internal', expiresInSeconds: 60 });
    await signing.rotate();
    const published = async () => {
      signing.invalidate();
      return (await signing.jwks()).keys.map((k) => (k as { kid: string }).kid);
    };
    expect(await published()).toContain(signed.kid);
    await db.query(
      `UPDATE signing_keys SET signed_until = NOW(3) - INTERVAL 1 SECOND, retired_at = NOW(3) - INTERVAL 1 HOUR WHERE kid = ?`,
      [signed.kid],
    );
    expect(await published()).not.toContain(signed.kid);
    await expect(signing.verify('audit-checkpoint', signed.token, { audience: 'internal' })).resolves.toMatchObject({ seq: 1 });
  });

  it('keeps exactly one ACTIVE key when processes start or rotate at the same time', async () => {
    const rotation = app.get(SigningKeyRotation);
    await db.query(`UPDATE signing_keys SET status = 'RETIRED', retired_at = NOW(3) WHERE status = 'ACTIVE'`);
    await Promise.all(Array.from({ length: 8 }, () => rotation.ensureActiveKey()));
    expect(await activeKids()).toHaveLength(1);

    const results = await Promise.all(Array.from({ length: 4 }, () => signing.rotate()));
    const active = await activeKids();
    expect(active).toHaveLength(1);
    expect(results.map((r) => r.kid)).toContain(active[0]);
    signing.invalidate();
    const signed = await signing.sign('secevent', {}, { audience: 'XB', expiresInSeconds: 60 });
    expect(signed.kid).toBe(active[0]);
  });
});
