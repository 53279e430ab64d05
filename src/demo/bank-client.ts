import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';

/**
 * A partner bank's integration with the gateway, written as a bank would write it: nothing from the gateway's code,
 * only the published contract (API.md), `jose` for the JOSE work and Node's own http client. Used by the
 * end-to-end tests and by `npm run demo`.
 *
 * jose is ESM-only; this file compiles to CommonJS, so it is loaded with a dynamic import (Node ≥ 20.19 runs it
 * through require(esm); under jest, swc converts it).
 */
type Jose = typeof import('jose');
const loadJose = (): Promise<Jose> => import('jose');

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

export interface BankClientOptions {
  /** Where the gateway answers (the socket address). */
  baseUrl: string;
  /** The gateway's PUBLIC_BASE_URL: issuer of its artefacts and tokens, prefix of its token endpoint. */
  issuer: string;
  /** The bank's client id (its partner code). */
  clientId: string;
}

export interface VerifiedReferralFile {
  header: Record<string, unknown>;
  claims: Record<string, any>;
}

export class PartnerBankClient {
  readonly kid = `bank-key-${randomUUID().slice(0, 8)}`;
  private keys?: { privateKey: Awaited<ReturnType<Jose['generateKeyPair']>>['privateKey']; publicJwk: Record<string, unknown> };
  private accessToken?: { token: string; until: number };

  constructor(readonly options: BankClientOptions) {}

  /** The bank's ES256 key pair; the public half is what the operator registers (`jwks`). */
  async publicJwks(): Promise<{ keys: Record<string, unknown>[] }> {
    return { keys: [(await this.keyPair()).publicJwk] };
  }

  /** RFC 7523 client assertion: iss = sub = client id, aud = the token endpoint, one-time jti, 2 minutes. */
  async clientAssertion(): Promise<string> {
    const { SignJWT } = await loadJose();
    const { privateKey } = await this.keyPair();
    return new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: this.kid, typ: 'JWT' })
      .setIssuer(this.options.clientId)
      .setSubject(this.options.clientId)
      .setAudience(`${this.options.issuer}/oauth/token`)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(privateKey);
  }

  /** POST /oauth/token (client credentials + private_key_jwt); cached until shortly before it expires. */
  async token(scope?: string): Promise<string> {
    if (!scope && this.accessToken && this.accessToken.until > Date.now()) return this.accessToken.token;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await this.clientAssertion(),
      ...(scope ? { scope } : {}),
    });
    const res = await this.send('POST', '/oauth/token', { 'content-type': 'application/x-www-form-urlencoded' }, form.toString());
    if (res.status !== 200) throw new Error(`token request refused: ${res.status} ${JSON.stringify(res.body)}`);
    if (!scope) this.accessToken = { token: res.body.access_token, until: Date.now() + (res.body.expires_in - 30) * 1000 };
    return res.body.access_token;
  }

  listReferrals(query: { status?: string; limit?: number; cursor?: string } = {}): Promise<HttpAnswer> {
    const qs = new URLSearchParams(
      Object.entries(query)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]): [string, string] => [k, String(v)]),
    );
    return this.call('GET', `/partner/v1/referrals${qs.size ? `?${qs}` : ''}`);
  }

  fetchReferral(id: string): Promise<HttpAnswer> {
    return this.call('GET', `/partner/v1/referrals/${encodeURIComponent(id)}`);
  }

  acknowledge(id: string): Promise<HttpAnswer> {
    return this.call('POST', `/partner/v1/referrals/${encodeURIComponent(id)}/acknowledgement`);
  }

  /**
   * Verifies a referral file as a bank must: signature against the gateway's published JWKS (fetched over HTTP),
   * `typ` referral+jwt (so no other gateway token passes as a file), issuer, audience = this bank, expiry, and that
   * `sub` is the referral it asked for.
   */
  async verifyReferralFile(file: string, referralId: string): Promise<VerifiedReferralFile> {
    const { createLocalJWKSet, jwtVerify } = await loadJose();
    const jwks = await this.send('GET', '/.well-known/jwks.json');
    if (jwks.status !== 200) throw new Error(`JWKS unavailable: ${jwks.status}`);
    const { payload, protectedHeader } = await jwtVerify(file, createLocalJWKSet(jwks.body), {
      issuer: this.options.issuer,
      audience: this.options.clientId,
      typ: 'referral+jwt',
      subject: referralId,
      requiredClaims: ['jti', 'iat', 'exp'],
    });
    return { header: protectedHeader as Record<string, unknown>, claims: payload as Record<string, any> };
  }

  /** GET /partner/v1/overdue-report-files/{date}: `{ reportDate, parts, files }` once the date's scan completed. */
  overdueReportFiles(date: string): Promise<HttpAnswer> {
    return this.call('GET', `/partner/v1/overdue-report-files/${encodeURIComponent(date)}`);
  }

  /**
   * Verifies one part of a daily overdue report file: signature against the JWKS, `typ` overdue-report+jwt, issuer,
   * audience = this bank, and that it is the part of the date asked for with as many records as it says.
   */
  async verifyOverdueReportFile(file: string, reportDate: string): Promise<VerifiedReferralFile> {
    const { createLocalJWKSet, jwtVerify } = await loadJose();
    const jwks = await this.send('GET', '/.well-known/jwks.json');
    if (jwks.status !== 200) throw new Error(`JWKS unavailable: ${jwks.status}`);
    const { payload, protectedHeader } = await jwtVerify(file, createLocalJWKSet(jwks.body), {
      issuer: this.options.issuer,
      audience: this.options.clientId,
      typ: 'overdue-report+jwt',
      requiredClaims: ['jti', 'iat', 'reportDate', 'records', 'recordCount', 'part', 'parts'],
    });
    const records = payload.records as unknown[];
    if (payload.reportDate !== reportDate || !Array.isArray(records) || records.length !== payload.recordCount)
      throw new Error(`the overdue report file is not the ${reportDate} file it claims to be`);
    return { header: protectedHeader as Record<string, unknown>, claims: payload as Record<string, any> };
  }

  /** An authenticated partner call. */
  async call(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
    const token = await this.token();
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return this.send(method, path, headers, body === undefined ? undefined : JSON.stringify(body));
  }

  private async keyPair() {
    if (!this.keys) {
      const { exportJWK, generateKeyPair } = await loadJose();
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      this.keys = { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid: this.kid, alg: 'ES256', use: 'sig' } };
    }
    return this.keys;
  }

  /** Plain Node http(s), JSON (or problem+json) answers parsed. */
  private send(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<HttpAnswer> {
    const url = new URL(path, this.options.baseUrl);
    const client = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = client.request(
        url,
        {
          method,
          headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            if (/json/.test(res.headers['content-type'] ?? '') && text) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = text;
              }
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}
