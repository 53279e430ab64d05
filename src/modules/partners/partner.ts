/** The scopes a partner bank can be granted (API.md, "Scopes"). */
export const PARTNER_SCOPES = ['referrals:read', 'referrals:decide', 'events:read', 'overdue:read', 'delinquency:write'] as const;
export type PartnerScope = (typeof PARTNER_SCOPES)[number];

export const PARTNER_STATUSES = ['ACTIVE', 'SUSPENDED'] as const;
export type PartnerStatus = (typeof PARTNER_STATUSES)[number];

/** code is also the OAuth client id. */
export const PARTNER_CODE = /^[A-Z0-9_-]{2,32}$/;

export const DEFAULT_OVERDUE_THRESHOLD_DAYS = 30;
export const DEFAULT_NOTICE_DAYS = 7;

/** A registered client key: a public JWK with its kid (never any private member). */
export interface ClientKey {
  kid: string;
  jwk: ClientJwk;
}

export interface ClientJwk {
  kid: string;
  kty: 'RSA' | 'EC';
  use: 'sig';
  alg?: ClientKeyAlg;
  n?: string;
  e?: string;
  crv?: 'P-256';
  x?: string;
  y?: string;
}

/** The assertion algorithms of RFC 7523 the gateway accepts; never none, never HMAC. */
export const CLIENT_KEY_ALGS = ['RS256', 'PS256', 'ES256'] as const;
export type ClientKeyAlg = (typeof CLIENT_KEY_ALGS)[number];

export interface Partner {
  /** Internal id (BIGINT as string): what other tables reference. */
  id: string;
  code: string;
  name: string;
  status: PartnerStatus;
  pushEndpoint: string | null;
  scopes: PartnerScope[];
  overdueThresholdDays: number;
  noticeDays: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface PartnerWithKeys extends Partner {
  keys: ClientKey[];
}

/** The operator API's view of a partner: public keys only. */
export interface PartnerView {
  code: string;
  clientId: string;
  name: string;
  status: PartnerStatus;
  scopes: PartnerScope[];
  pushEndpoint: string | null;
  overdueThresholdDays: number;
  noticeDays: number;
  jwks: { keys: ClientJwk[] };
  createdAt: string;
  updatedAt: string;
}

export function toPartnerView(p: PartnerWithKeys): PartnerView {
  return {
    code: p.code,
    clientId: p.code,
    name: p.name,
    status: p.status,
    scopes: p.scopes,
    pushEndpoint: p.pushEndpoint,
    overdueThresholdDays: p.overdueThresholdDays,
    noticeDays: p.noticeDays,
    jwks: { keys: p.keys.map((k) => k.jwk) },
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}
