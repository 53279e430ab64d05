import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { ConflictError } from '../../common/errors';
import { ClientJwk, ClientKey, Partner, PartnerScope, PartnerStatus, PartnerWithKeys } from './partner';

interface PartnerRow {
  id: string;
  code: string;
  name: string;
  status: PartnerStatus;
  push_endpoint: string | null;
  scopes: string;
  overdue_threshold_days: number;
  notice_days: number;
  created_at: Date;
  updated_at: Date;
}

interface KeyRow {
  partner_id: string;
  kid: string;
  public_jwk: string;
}

export interface NewPartner {
  code: string;
  name: string;
  pushEndpoint: string | null;
  scopes: PartnerScope[];
  overdueThresholdDays: number;
  noticeDays: number;
}

export type PartnerChanges = Partial<Omit<NewPartner, 'code'> & { status: PartnerStatus }>;

const ER_DUP_ENTRY = 1062;
const COLUMNS = 'id, code, name, status, push_endpoint, scopes, overdue_threshold_days, notice_days, created_at, updated_at';

const toPartner = (r: PartnerRow): Partner => ({
  id: String(r.id),
  code: r.code,
  name: r.name,
  status: r.status,
  pushEndpoint: r.push_endpoint,
  // Scopes are stored space-separated, exactly as an OAuth scope string.
  scopes: r.scopes.split(' ').filter(Boolean) as PartnerScope[],
  overdueThresholdDays: Number(r.overdue_threshold_days),
  noticeDays: Number(r.notice_days),
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

const toKey = (r: KeyRow): ClientKey => ({ kid: r.kid, jwk: JSON.parse(r.public_jwk) as ClientJwk });

/** The SQL of partners and their client keys. */
@Injectable()
export class PartnersRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(m: EntityManager, p: NewPartner): Promise<string> {
    try {
      const result: { insertId: number | string } = await m.query(
        `INSERT INTO partners (code, name, push_endpoint, scopes, overdue_threshold_days, notice_days)
         VALUES (?, ?, ?, ?, ?, ?)`,
        [p.code, p.name, p.pushEndpoint, p.scopes.join(' '), p.overdueThresholdDays, p.noticeDays],
      );
      return String(result.insertId);
    } catch (error) {
      if (isDuplicate(error)) throw new ConflictError('partner-exists', 'A partner with this code already exists');
      throw error;
    }
  }

  /** Replaces every key of a partner in one statement pair (a key set is changed as a whole). */
  async replaceKeys(m: EntityManager, partnerId: string, keys: ClientKey[]): Promise<void> {
    await m.query('DELETE FROM partner_client_keys WHERE partner_id = ?', [partnerId]);
    await m.query('INSERT INTO partner_client_keys (partner_id, kid, public_jwk) VALUES ?', [
      keys.map((k) => [partnerId, k.kid, JSON.stringify(k.jwk)]),
    ]);
  }

  async update(m: EntityManager, partnerId: string, changes: PartnerChanges): Promise<void> {
    const sets: string[] = [];
    const values: unknown[] = [];
    const set = (column: string, value: unknown) => {
      sets.push(`${column} = ?`);
      values.push(value);
    };
    if (changes.name !== undefined) set('name', changes.name);
    if (changes.status !== undefined) set('status', changes.status);
    if (changes.pushEndpoint !== undefined) set('push_endpoint', changes.pushEndpoint);
    if (changes.scopes !== undefined) set('scopes', changes.scopes.join(' '));
    if (changes.overdueThresholdDays !== undefined) set('overdue_threshold_days', changes.overdueThresholdDays);
    if (changes.noticeDays !== undefined) set('notice_days', changes.noticeDays);
    await m.query(`UPDATE partners SET ${[...sets, 'updated_at = NOW(3)'].join(', ')} WHERE id = ?`, [...values, partnerId]);
  }

  /** The partner with its keys; `forUpdate` locks the row for a read-modify-write in `m`'s transaction. */
  async findByCode(code: string, opts: { manager?: EntityManager; forUpdate?: boolean } = {}): Promise<PartnerWithKeys | undefined> {
    const q = opts.manager ?? this.dataSource.manager;
    const rows: PartnerRow[] = await q.query(`SELECT ${COLUMNS} FROM partners WHERE code = ?${opts.forUpdate ? ' FOR UPDATE' : ''}`, [
      code,
    ]);
    if (rows.length === 0) return undefined;
    const [withKeys] = await this.attachKeys(q, rows.map(toPartner));
    return withKeys;
  }

  /** One page in creation order, `limit + 1` rows so the caller knows whether another page exists. */
  async page(afterId: string | undefined, limit: number): Promise<PartnerWithKeys[]> {
    const q = this.dataSource.manager;
    const rows: PartnerRow[] = await q.query(`SELECT ${COLUMNS} FROM partners WHERE id > ? ORDER BY id LIMIT ?`, [
      afterId ?? '0',
      limit + 1,
    ]);
    return this.attachKeys(q, rows.map(toPartner));
  }

  private async attachKeys(q: EntityManager, partners: Partner[]): Promise<PartnerWithKeys[]> {
    if (partners.length === 0) return [];
    const keys: KeyRow[] = await q.query(
      'SELECT partner_id, kid, public_jwk FROM partner_client_keys WHERE partner_id IN (?) ORDER BY partner_id, created_at, kid',
      [partners.map((p) => p.id)],
    );
    return partners.map((p) => ({ ...p, keys: keys.filter((k) => String(k.partner_id) === p.id).map(toKey) }));
  }
}

function isDuplicate(error: unknown): boolean {
  const e = error as { errno?: number; driverError?: { errno?: number } };
  return e?.errno === ER_DUP_ENTRY || e?.driverError?.errno === ER_DUP_ENTRY;
}
