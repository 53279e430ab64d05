import { generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';

import * as jwt from 'jsonwebtoken';

import { HttpLoadFigures, runAutocannon } from '../support/autocannon';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A partner bank as it integrates: its own ES256 key, registered through the operator API. */
export class BenchBank {
  readonly kid = `kid-${randomUUID().slice(0, 8)}`;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor(readonly code: string) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  async register(baseUrl: string, adminToken: string): Promise<void> {
    const jwk = { ...(this.publicKey.export({ format: 'jwk' }) as object), kid: this.kid, use: 'sig' };
    const res = await fetch(`${baseUrl}/v1/admin/partners`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ code: this.code, name: `Bench bank ${this.code}`, jwks: { keys: [jwk] } }),
    });
    if (res.status !== 201) throw new Error(`partner registration: HTTP ${res.status} ${await res.text()}`);
  }

  /** The form body of one token request, with a fresh jti (RFC 7523 assertions are single use). */
  tokenRequestBody(tokenEndpoint: string): string {
    const now = Math.floor(Date.now() / 1000);
    const assertion = jwt.sign(
      { iss: this.code, sub: this.code, aud: tokenEndpoint, jti: randomUUID(), iat: now, exp: now + 240 },
      this.privateKey,
      {
        algorithm: 'ES256',
        keyid: this.kid,
      },
    );
    return new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: JWT_BEARER,
      client_assertion: assertion,
    }).toString();
  }
}

/**
 * POST /oauth/token under autocannon. Assertions are signed in advance (up to `prepared`), so the load generator
 * spends its time sending; should the run outlast them, further ones are signed on the fly.
 */
export async function tokenEndpointLoad(
  baseUrl: string,
  publicBaseUrl: string,
  bank: BenchBank,
  opts: { seconds: number; connections: number; prepared: number },
): Promise<HttpLoadFigures> {
  const endpoint = `${publicBaseUrl}/oauth/token`;
  const bodies = Array.from({ length: opts.prepared }, () => bank.tokenRequestBody(endpoint));
  let next = 0;
  return runAutocannon({
    url: `${baseUrl}/oauth/token`,
    connections: opts.connections,
    duration: opts.seconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        setupRequest: (req) => ({ ...req, body: next < bodies.length ? bodies[next++] : bank.tokenRequestBody(endpoint) }),
      },
    ],
  });
}
