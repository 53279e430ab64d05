import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { ConflictError } from '../../common/errors';
import { CriteriaRule } from '../prescreening/criteria';
import { CardProductDefinition, CardProductStatus, CardProductVersion, SharedFieldPath } from './card-product';

interface VersionRow {
  product_id: string;
  code: string;
  partner_id: string;
  partner_code: string;
  current_version: number;
  product_created_at: Date;
  version: number;
  status: CardProductStatus;
  name: string;
  criteria: string | CriteriaRule[];
  shared_fields: string | SharedFieldPath[];
  consent_text: string;
  text_version: number;
  text_sha256: string;
  purpose: string;
  retention_days: number;
  decision_sla_hours: number;
  daily_referral_cap: number | null;
  offer_ttl_days: number;
  delinquency_scope: CardProductDefinition['delinquencyScope'];
  created_at: Date;
}

const ER_DUP_ENTRY = 1062;

// partners is read only for the partner code shown with each product (partners.code is the partner's public name).
const SELECT_VERSION = `
  SELECT p.id AS product_id, p.code, p.partner_id, pa.code AS partner_code, p.current_version,
         p.created_at AS product_created_at, v.version, v.status, v.name, v.criteria, v.shared_fields, v.consent_text,
         v.text_version, v.text_sha256, v.purpose, v.retention_days, v.decision_sla_hours, v.daily_referral_cap,
         v.offer_ttl_days, v.delinquency_scope, v.created_at
    FROM card_products p
    JOIN card_product_versions v ON v.product_id = p.id
    JOIN partners pa ON pa.id = p.partner_id`;

/** MariaDB hands JSON columns back as text, MySQL 8 as parsed values. */
const json = <T>(value: string | T): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);

const toVersion = (r: VersionRow): CardProductVersion => ({
  productId: String(r.product_id),
  code: r.code,
  partnerId: String(r.partner_id),
  partnerCode: r.partner_code,
  version: Number(r.version),
  current: Number(r.version) === Number(r.current_version),
  createdAt: new Date(r.product_created_at),
  versionCreatedAt: new Date(r.created_at),
  status: r.status,
  name: r.name,
  criteria: json(r.criteria),
  sharedFields: json(r.shared_fields),
  consentText: r.consent_text,
  textVersion: Number(r.text_version),
  textSha256: r.text_sha256,
  purpose: r.purpose,
  retentionDays: Number(r.retention_days),
  decisionSlaHours: Number(r.decision_sla_hours),
  dailyReferralCap: r.daily_referral_cap === null ? null : Number(r.daily_referral_cap),
  offerTtlDays: Number(r.offer_ttl_days),
  delinquencyScope: r.delinquency_scope,
});

/** The SQL of card products and their immutable versions (versions are inserted, never updated). */
@Injectable()
export class CardProductsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Inserts the product row pointing at version 1; the caller inserts version 1 in the same transaction. */
  async insertProduct(m: EntityManager, code: string, partnerId: string): Promise<string> {
    try {
      const result: { insertId: number | string } = await m.query(
        'INSERT INTO card_products (code, partner_id, current_version) VALUES (?, ?, 1)',
        [code, partnerId],
      );
      return String(result.insertId);
    } catch (error) {
      const e = error as { errno?: number; driverError?: { errno?: number } };
      if (e?.errno === ER_DUP_ENTRY || e?.driverError?.errno === ER_DUP_ENTRY) {
        throw new ConflictError('card-product-exists', 'A card product with this code already exists');
      }
      throw error;
    }
  }

  async insertVersion(m: EntityManager, productId: string, version: number, d: CardProductDefinition, createdBy: string): Promise<void> {
    await m.query(
      `INSERT INTO card_product_versions
         (product_id, version, status, name, criteria, shared_fields, consent_text, text_version, text_sha256, purpose,
          retention_days, decision_sla_hours, daily_referral_cap, offer_ttl_days, delinquency_scope, created_by)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        productId,
        version,
        d.status,
        d.name,
        JSON.stringify(d.criteria),
        JSON.stringify(d.sharedFields),
        d.consentText,
        d.textVersion,
        d.textSha256,
        d.purpose,
        d.retentionDays,
        d.decisionSlaHours,
        d.dailyReferralCap,
        d.offerTtlDays,
        d.delinquencyScope,
        createdBy,
      ],
    );
  }

  /** Makes `version` current; only forwards, so a stale writer cannot move the pointer back. */
  async setCurrentVersion(m: EntityManager, productId: string, version: number): Promise<void> {
    await m.query('UPDATE card_products SET current_version = ?, updated_at = NOW(3) WHERE id = ? AND current_version = ?', [
      version,
      productId,
      version - 1,
    ]);
  }

  /**
   * Locks the product row for a read-modify-write in `m`'s transaction (a separate statement: MariaDB has no
   * FOR UPDATE OF, and locking the joined partner row would stall partner changes for nothing).
   */
  async lockByCode(m: EntityManager, code: string): Promise<boolean> {
    const rows: unknown[] = await m.query('SELECT id FROM card_products WHERE code = ? FOR UPDATE', [code]);
    return rows.length > 0;
  }

  async findCurrentByCode(code: string, manager?: EntityManager): Promise<CardProductVersion | undefined> {
    const rows: VersionRow[] = await (manager ?? this.dataSource.manager).query(
      `${SELECT_VERSION} WHERE p.code = ? AND v.version = p.current_version`,
      [code],
    );
    return rows.length ? toVersion(rows[0]) : undefined;
  }

  async findVersionByCode(code: string, version: number, manager?: EntityManager): Promise<CardProductVersion | undefined> {
    const rows: VersionRow[] = await (manager ?? this.dataSource.manager).query(`${SELECT_VERSION} WHERE p.code = ? AND v.version = ?`, [
      code,
      version,
    ]);
    return rows.length ? toVersion(rows[0]) : undefined;
  }

  /** A pinned version by the product's internal id (what offers and referrals keep). */
  async findVersionById(productId: string, version: number, manager?: EntityManager): Promise<CardProductVersion | undefined> {
    const rows: VersionRow[] = await (manager ?? this.dataSource.manager).query(`${SELECT_VERSION} WHERE p.id = ? AND v.version = ?`, [
      productId,
      version,
    ]);
    return rows.length ? toVersion(rows[0]) : undefined;
  }

  /** Current versions, one page in creation order, `limit + 1` rows so the caller knows whether another page exists. */
  async page(afterId: string | undefined, limit: number): Promise<CardProductVersion[]> {
    const rows: VersionRow[] = await this.dataSource.manager.query(
      `${SELECT_VERSION} WHERE p.id > ? AND v.version = p.current_version ORDER BY p.id LIMIT ?`,
      [afterId ?? '0', limit + 1],
    );
    return rows.map(toVersion);
  }
}
