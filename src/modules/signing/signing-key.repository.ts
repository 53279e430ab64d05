import { JsonWebKey } from 'node:crypto';

import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { SigningAlg } from './key-material';

export type SigningKeyStatus = 'ACTIVE' | 'RETIRED';

export interface SigningKeyRow {
  kid: string;
  alg: SigningAlg;
  status: SigningKeyStatus;
  publicJwk: JsonWebKey;
  /** AES-256-GCM sealed PKCS#8 PEM; wiped when the key retires (a retired key never signs again). */
  privateKeyEnc: Buffer | null;
  createdAt: Date;
  retiredAt: Date | null;
  /** Upper bound of the exp of everything this key signed (raised before signing, see docs/SIGNING.md). */
  signedUntil: Date | null;
}

interface SqlRow {
  kid: string;
  alg: SigningAlg;
  status: SigningKeyStatus;
  public_jwk: string | JsonWebKey;
  private_key_enc: Buffer | null;
  created_at: Date;
  retired_at: Date | null;
  signed_until: Date | null;
}

const toRow = (r: SqlRow): SigningKeyRow => ({
  kid: r.kid,
  alg: r.alg,
  status: r.status,
  // MariaDB returns JSON columns as text, MySQL 8 as parsed objects.
  publicJwk: typeof r.public_jwk === 'string' ? JSON.parse(r.public_jwk) : r.public_jwk,
  privateKeyEnc: r.private_key_enc,
  createdAt: r.created_at,
  retiredAt: r.retired_at,
  signedUntil: r.signed_until,
});

const COLUMNS = 'kid, alg, status, public_jwk, private_key_enc, created_at, retired_at, signed_until';

/** SQL of the gateway's signing keys. At most one ACTIVE key is enforced by a unique index (active_guard). */
@Injectable()
export class SigningKeyRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Every key, newest first (a handful: keys are never deleted, rotations are rare). */
  async all(): Promise<SigningKeyRow[]> {
    const rows: SqlRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM signing_keys ORDER BY created_at DESC, kid`);
    return rows.map(toRow);
  }

  async hasActive(): Promise<boolean> {
    const rows = await this.dataSource.query(`SELECT 1 FROM signing_keys WHERE status = 'ACTIVE' LIMIT 1`);
    return rows.length > 0;
  }

  async lockActive(m: EntityManager): Promise<{ kid: string } | null> {
    const rows: { kid: string }[] = await m.query(`SELECT kid FROM signing_keys WHERE status = 'ACTIVE' FOR UPDATE`);
    return rows[0] ?? null;
  }

  /** Fails with ER_DUP_ENTRY when another ACTIVE key exists (a concurrent first start or rotation). */
  async insertActive(m: EntityManager, key: { kid: string; alg: SigningAlg; publicJwk: JsonWebKey; privateKeyEnc: Buffer }): Promise<void> {
    await m.query(`INSERT INTO signing_keys (kid, alg, status, public_jwk, private_key_enc) VALUES (?, ?, 'ACTIVE', ?, ?)`, [
      key.kid,
      key.alg,
      JSON.stringify(key.publicJwk),
      key.privateKeyEnc,
    ]);
  }

  async retire(m: EntityManager, kid: string): Promise<void> {
    await m.query(
      `UPDATE signing_keys SET status = 'RETIRED', retired_at = NOW(3), private_key_enc = NULL
        WHERE kid = ? AND status = 'ACTIVE'`,
      [kid],
    );
  }

  /** Raises (never lowers) the key's signed-until mark. */
  async raiseSignedUntil(kid: string, until: Date): Promise<void> {
    await this.dataSource.query(`UPDATE signing_keys SET signed_until = GREATEST(COALESCE(signed_until, ?), ?) WHERE kid = ?`, [
      until,
      until,
      kid,
    ]);
  }
}
