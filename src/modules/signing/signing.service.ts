import { KeyObject, randomUUID } from 'node:crypto';

import { Injectable } from '@nestjs/common';
import * as jwt from 'jsonwebtoken';

import { UnauthorizedError } from '../../common/errors';
import { AppConfigService } from '../../infra/config/app-config';
import { CryptoService } from '../../infra/crypto/crypto.service';
import { privateKeyOf, publicKeyOf, SigningAlg } from './key-material';
import { SigningKeyRepository, SigningKeyRow } from './signing-key.repository';
import { KeyChangeActor, PRIVATE_KEY_PURPOSE, SigningKeyRotation, SYSTEM_ACTOR } from './signing-key.rotation';

export type ArtefactKind = 'access-token' | 'referral' | 'secevent' | 'overdue-report' | 'audit-checkpoint' | 'audit-archive';

/** The JWS `typ` of each kind (RFC 8725 §3.11): a token of one kind is never accepted as another. */
export const ARTEFACT_TYP: Record<ArtefactKind, string> = {
  'access-token': 'at+jwt',
  referral: 'referral+jwt',
  secevent: 'secevent+jwt',
  'overdue-report': 'overdue-report+jwt',
  'audit-checkpoint': 'checkpoint+jwt',
  'audit-archive': 'audit-archive+jwt',
};

/** How long a process trusts its copy of the key table: a rotation reaches every process within this. */
export const KEY_CACHE_TTL_MS = 5_000;
/** A token naming an unknown kid reloads the table at most this often (no database load from garbage kids). */
const UNKNOWN_KID_RELOAD_MS = 1_000;
/** signed_until is raised this far beyond the exp being signed, so the UPDATE runs about once an hour per key. */
export const SIGNED_UNTIL_SLACK_MS = 60 * 60 * 1000;
/** A retired key stays published at least this long after retirement (covers processes with a stale cache). */
export const RETIRED_KEY_GRACE_MS = 10 * 60 * 1000;

export interface SignOptions {
  audience: string;
  subject?: string;
  expiresInSeconds: number;
  jwtid?: string;
}

export interface VerifyOptions {
  audience: string;
  /** For records that stay verifiable after their exp (audit checkpoints); never for tokens or artefacts. */
  ignoreExpiration?: boolean;
}

interface LoadedKey {
  row: SigningKeyRow;
  publicKey: KeyObject;
  privateKey?: KeyObject;
}

interface KeyCache {
  loadedAt: number;
  byKid: Map<string, LoadedKey>;
  active?: LoadedKey;
}

const normaliseTyp = (typ: unknown) => (typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : '');

/**
 * Signs and verifies every artefact of the gateway with its own keys (jsonwebtoken, ES256 by default).
 * Keys live in MySQL; this process keeps a short-lived copy and decrypts a private key only to sign.
 */
@Injectable()
export class SigningService {
  private cache?: KeyCache;
  private loading?: Promise<KeyCache>;

  constructor(
    private readonly config: AppConfigService,
    private readonly keys: SigningKeyRepository,
    private readonly crypto: CryptoService,
    private readonly rotation: SigningKeyRotation,
  ) {}

  async sign(
    kind: ArtefactKind,
    claims: Record<string, unknown>,
    opts: SignOptions,
  ): Promise<{ token: string; kid: string; jti: string; expiresAt: Date }> {
    assertLifetime(opts);
    const key = await this.activeKey();
    const iat = Math.floor(Date.now() / 1000);
    await this.recordSignedUntil(key, (iat + opts.expiresInSeconds) * 1000);
    return this.signWith(key, kind, claims, opts, iat);
  }

  /**
   * Signs many artefacts of one kind with one key lookup and one signed_until check (batched packaging signs two per
   * referral): each token is exactly what `sign` makes.
   */
  async signMany(
    kind: ArtefactKind,
    items: ReadonlyArray<{ claims: Record<string, unknown>; opts: SignOptions }>,
  ): Promise<Array<{ token: string; kid: string; jti: string; expiresAt: Date }>> {
    if (items.length === 0) return [];
    for (const { opts } of items) assertLifetime(opts);
    const key = await this.activeKey();
    const iat = Math.floor(Date.now() / 1000);
    const longest = Math.max(...items.map(({ opts }) => opts.expiresInSeconds));
    await this.recordSignedUntil(key, (iat + longest) * 1000);
    return items.map(({ claims, opts }) => this.signWith(key, kind, claims, opts, iat));
  }

  async verify(kind: ArtefactKind, token: string, opts: VerifyOptions): Promise<Record<string, unknown>> {
    const decoded = typeof token === 'string' ? jwt.decode(token, { complete: true }) : null;
    if (!decoded || typeof decoded.payload === 'string') throw new UnauthorizedError('The token is not a JWT');
    const { typ, kid, alg } = decoded.header;
    if (normaliseTyp(typ) !== ARTEFACT_TYP[kind]) throw new UnauthorizedError('The token is not of the expected type');
    if (typeof kid !== 'string') throw new UnauthorizedError('The token names no key');
    const key = await this.keyByKid(kid);
    if (!key) throw new UnauthorizedError('The token is signed by an unknown key');
    if (alg !== key.row.alg) throw new UnauthorizedError('The token algorithm does not match its key');
    try {
      return jwt.verify(token, key.publicKey, {
        algorithms: [key.row.alg],
        audience: opts.audience,
        issuer: this.config.values.publicBaseUrl,
        ignoreExpiration: opts.ignoreExpiration ?? false,
      }) as Record<string, unknown>;
    } catch (error) {
      const reason = error instanceof jwt.TokenExpiredError ? 'The token has expired' : 'The token is not valid';
      throw new UnauthorizedError(reason);
    }
  }

  /** The public JWK set: the ACTIVE key and every retired key that may still have unexpired artefacts out. */
  async jwks(): Promise<{ keys: object[] }> {
    const cache = await this.load();
    const now = Date.now();
    const keys = [...cache.byKid.values()]
      .filter(({ row }) => row.status === 'ACTIVE' || publishedUntil(row) > now)
      .sort((a, b) => Number(b.row.status === 'ACTIVE') - Number(a.row.status === 'ACTIVE'))
      .map(({ row }) => ({ ...row.publicJwk, kid: row.kid, alg: row.alg, use: 'sig' }));
    return { keys };
  }

  async rotate(
    actor: KeyChangeActor = SYSTEM_ACTOR,
    alg?: SigningAlg,
  ): Promise<{ kid: string; alg: SigningAlg; previousKid: string | null }> {
    const created = await this.rotation.rotate(actor, alg);
    this.invalidate();
    return created;
  }

  /** Every key with its state, for operators (never private material). */
  async listKeys(): Promise<
    Array<{
      kid: string;
      alg: SigningAlg;
      status: string;
      createdAt: Date;
      retiredAt: Date | null;
      signedUntil: Date | null;
      published: boolean;
    }>
  > {
    const rows = await this.keys.all();
    const now = Date.now();
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      status: r.status,
      createdAt: r.createdAt,
      retiredAt: r.retiredAt,
      signedUntil: r.signedUntil,
      published: r.status === 'ACTIVE' || publishedUntil(r) > now,
    }));
  }

  /** Drops this process's copy of the key table (after a rotation here; other processes follow within the TTL). */
  invalidate(): void {
    this.cache = undefined;
  }

  private async activeKey(): Promise<LoadedKey> {
    let cache = await this.load();
    if (!cache.active) {
      await this.rotation.ensureActiveKey();
      this.invalidate();
      cache = await this.load();
    }
    if (!cache.active) throw new Error('no active signing key');
    return cache.active;
  }

  private async keyByKid(kid: string): Promise<LoadedKey | undefined> {
    let cache = await this.load();
    if (!cache.byKid.has(kid) && Date.now() - cache.loadedAt > UNKNOWN_KID_RELOAD_MS) {
      this.invalidate();
      cache = await this.load();
    }
    return cache.byKid.get(kid);
  }

  private async load(): Promise<KeyCache> {
    if (this.cache && Date.now() - this.cache.loadedAt < KEY_CACHE_TTL_MS) return this.cache;
    this.loading ??= this.keys
      .all()
      .then((rows) => {
        const previous = this.cache?.byKid;
        const byKid = new Map<string, LoadedKey>();
        for (const row of rows) {
          const before = previous?.get(row.kid);
          // Keep what this process already knows: its decrypted key and any signed_until it raised itself.
          if (before?.row.signedUntil && (!row.signedUntil || before.row.signedUntil > row.signedUntil)) {
            row.signedUntil = before.row.signedUntil;
          }
          byKid.set(row.kid, { row, publicKey: before?.publicKey ?? publicKeyOf(row.publicJwk), privateKey: before?.privateKey });
        }
        const active = [...byKid.values()].find((k) => k.row.status === 'ACTIVE');
        this.cache = { loadedAt: Date.now(), byKid, active };
        return this.cache;
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  private signWith(
    key: LoadedKey,
    kind: ArtefactKind,
    claims: Record<string, unknown>,
    opts: SignOptions,
    iat: number,
  ): { token: string; kid: string; jti: string; expiresAt: Date } {
    const exp = iat + opts.expiresInSeconds;
    const jti = opts.jwtid ?? randomUUID();
    const payload: Record<string, unknown> = { ...claims, iss: this.config.values.publicBaseUrl, aud: opts.audience, iat, exp, jti };
    if (opts.subject !== undefined) payload.sub = opts.subject;
    const token = jwt.sign(payload, this.privateKey(key), {
      algorithm: key.row.alg,
      header: { alg: key.row.alg, typ: ARTEFACT_TYP[kind], kid: key.row.kid },
    });
    return { token, kid: key.row.kid, jti, expiresAt: new Date(exp * 1000) };
  }

  private privateKey(key: LoadedKey): KeyObject {
    if (!key.privateKey) {
      if (!key.row.privateKeyEnc) throw new Error(`signing key ${key.row.kid} has no private key`);
      key.privateKey = privateKeyOf(this.crypto.decrypt(PRIVATE_KEY_PURPOSE, key.row.privateKeyEnc, key.row.kid).toString('utf8'));
    }
    return key.privateKey;
  }

  /** Raises the key's signed_until in MySQL before the artefact exists, so a crash can never leave it too low. */
  private async recordSignedUntil(key: LoadedKey, expMs: number): Promise<void> {
    if (key.row.signedUntil && key.row.signedUntil.getTime() >= expMs) return;
    const until = new Date(expMs + SIGNED_UNTIL_SLACK_MS);
    await this.keys.raiseSignedUntil(key.row.kid, until);
    if (!key.row.signedUntil || key.row.signedUntil < until) key.row.signedUntil = until;
  }
}

function assertLifetime(opts: SignOptions): void {
  if (!Number.isInteger(opts.expiresInSeconds) || opts.expiresInSeconds <= 0)
    throw new Error('expiresInSeconds must be a positive integer');
}

/** Until when a key must stay in the JWKS: past every exp it signed, and past a short grace after retirement. */
export function publishedUntil(row: SigningKeyRow): number {
  if (row.status === 'ACTIVE') return Number.POSITIVE_INFINITY;
  return Math.max(row.signedUntil?.getTime() ?? 0, (row.retiredAt?.getTime() ?? 0) + RETIRED_KEY_GRACE_MS);
}
