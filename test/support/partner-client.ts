import { createHmac, generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyInstance, HTTPMethods } from 'fastify';
import * as jwt from 'jsonwebtoken';

import { PlatformRole } from '../../src/modules/auth/auth-context';
import { mintDevelopmentPlatformToken } from '../../src/modules/auth/platform-token.dev';
import { testConfig } from './app';

export type AssertionAlg = 'RS256' | 'PS256' | 'ES256';
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const GATEWAY = 'http://gateway.test';
export const TOKEN_ENDPOINT = `${GATEWAY}/oauth/token`;

const b64url = (v: object | string) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A platform JWT as the platform's identity provider would issue it (HS256 test secret). */
export function platformToken(roles: PlatformRole[], sub = `${roles[0]}-${randomUUID().slice(0, 8)}`): string {
  return mintDevelopmentPlatformToken(testConfig(), { sub, roles });
}

export const adminHeaders = () => ({ authorization: `Bearer ${platformToken(['admin'])}` });

/** A unique partner code per test (codes are 2-32 of A-Z0-9_-). */
export const uniqueCode = (prefix = 'BANK') => `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 10).toUpperCase()}`;

/**
 * A partner bank as it integrates with the gateway: it makes its own key pair, registers the public half through the
 * operator API, signs RFC 7523 client assertions with the private half and asks POST /oauth/token for access tokens.
 */
export class BankClient {
  readonly kid = `kid-${randomUUID().slice(0, 8)}`;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;

  constructor(
    readonly code: string,
    readonly alg: AssertionAlg = 'ES256',
  ) {
    const pair = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  publicJwk(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { ...(this.publicKey.export({ format: 'jwk' }) as object), kid: this.kid, use: 'sig', ...extra };
  }

  publicPem(): string {
    return this.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  }

  /** The operator API body that registers this bank. */
  registration(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { code: this.code, name: `Bank ${this.code}`, jwks: { keys: [this.publicJwk()] }, ...extra };
  }

  async register(app: NestFastifyApplication, extra: Record<string, unknown> = {}) {
    const res = await inject(app, {
      method: 'POST',
      url: '/v1/admin/partners',
      headers: adminHeaders(),
      payload: this.registration(extra),
    });
    if (res.statusCode !== 201) throw new Error(`registration failed: ${res.statusCode} ${res.body}`);
    return res.json();
  }

  /** Claims of a good assertion, overridable one by one (undefined removes a claim). */
  claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      iss: this.code,
      sub: this.code,
      aud: TOKEN_ENDPOINT,
      jti: randomUUID(),
      iat: now,
      exp: now + 120,
      ...overrides,
    };
    for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
    return claims;
  }

  /** A client assertion signed with this bank's private key. */
  assertion(overrides: Record<string, unknown> = {}, header: { kid?: string | null; alg?: AssertionAlg } = {}): string {
    const kid = header.kid === null ? undefined : (header.kid ?? this.kid);
    return jwt.sign(this.claims(overrides), this.privateKey, { algorithm: header.alg ?? this.alg, keyid: kid });
  }

  /** `alg: none`: no signature at all. */
  unsignedAssertion(overrides: Record<string, unknown> = {}): string {
    return `${b64url({ alg: 'none', typ: 'JWT', kid: this.kid })}.${b64url(this.claims(overrides))}.`;
  }

  /** The classic key-confusion attack: HS256 "signed" with the registered public key as the HMAC secret. */
  hmacWithPublicKey(overrides: Record<string, unknown> = {}): string {
    const input = `${b64url({ alg: 'HS256', typ: 'JWT', kid: this.kid })}.${b64url(this.claims(overrides))}`;
    return `${input}.${createHmac('sha256', this.publicPem()).update(input).digest('base64url')}`;
  }

  /** POST /oauth/token; `form` entries override the defaults, undefined drops one. */
  requestToken(app: NestFastifyApplication, form: Record<string, string | undefined> = {}) {
    const fields: Record<string, string | undefined> = {
      grant_type: 'client_credentials',
      client_assertion_type: JWT_BEARER,
      client_assertion: this.assertion(),
      ...form,
    };
    const body = new URLSearchParams(Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined)).toString();
    return inject(app, {
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: body,
    });
  }

  async accessToken(app: NestFastifyApplication, scope?: string): Promise<string> {
    const res = await this.requestToken(app, scope === undefined ? {} : { scope });
    if (res.statusCode !== 200) throw new Error(`token request failed: ${res.statusCode} ${res.body}`);
    return res.json().access_token;
  }
}

/** A request through Fastify's inject (no socket). */
export function inject(
  app: NestFastifyApplication,
  opts: { method: HTTPMethods; url: string; headers?: Record<string, string>; payload?: string | object },
) {
  return (app.getHttpAdapter().getInstance() as FastifyInstance).inject(opts);
}
