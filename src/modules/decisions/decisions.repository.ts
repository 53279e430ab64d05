import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { timelineAfter, TimelineKey } from '../../common/timeline';
import { jsonColumn } from '../../infra/database/json-column';
import { ReferralStatus } from '../referrals/referral-state';
import { Decision } from './decision-input';

export interface DecidableRow {
  id: string;
  product_code: string;
  status: ReferralStatus;
  created_at: Date;
  expires_at: Date;
  user_id: string;
  decision: Decision | string | null;
}

export interface ApplyRow {
  id: string;
  partner_id: string;
  partner_code: string;
  user_id: string;
  product_code: string;
  status: ReferralStatus;
  decision: Decision | string | null;
  decided_at: Date | null;
}

/** The decision use cases' SQL. Partner-facing reads take the partner id. */
@Injectable()
export class DecisionsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Product codes of the partner's referrals among `ids`, in one query (no lock): a bulk request's first look. */
  async productCodes(partnerId: string, ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows: { id: string; code: string }[] = await this.dataSource.query(
      `SELECT r.id, cp.code FROM referrals r JOIN card_products cp ON cp.id = r.product_id
        WHERE r.id IN (?) AND r.partner_id = ? AND r.status <> 'PACKAGING'`,
      [ids, partnerId],
    );
    return new Map(rows.map((r) => [String(r.id), r.code]));
  }

  /** Which of `ids` exist under another partner (answered 404 like missing ones, but audited as probing). */
  async ownedByOthers(partnerId: string, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows: { id: string }[] = await this.dataSource.query('SELECT id FROM referrals WHERE id IN (?) AND partner_id <> ?', [
      ids,
      partnerId,
    ]);
    return rows.map((r) => String(r.id));
  }

  /**
   * The partner's referrals among `ids`, row-locked in id order (a fixed order keeps concurrent bulk requests from
   * deadlocking each other). Only referral rows are locked; the product code comes from productCodes.
   */
  async lockOfPartner(m: EntityManager, partnerId: string, ids: string[]): Promise<Map<string, Omit<DecidableRow, 'product_code'>>> {
    if (ids.length === 0) return new Map();
    const rows: Omit<DecidableRow, 'product_code'>[] = await m.query(
      `SELECT id, status, created_at, expires_at, user_id, decision FROM referrals
        WHERE id IN (?) AND partner_id = ? AND status <> 'PACKAGING' ORDER BY id FOR UPDATE`,
      [ids, partnerId],
    );
    return new Map(rows.map((r) => [String(r.id), r]));
  }

  /** The referral as the decision job needs it, locked so two runs of the job apply one after the other. */
  async lockForApply(m: EntityManager, referralId: string): Promise<ApplyRow | undefined> {
    const [locked] = await m.query('SELECT id FROM referrals WHERE id = ? FOR UPDATE', [referralId]);
    if (!locked) return undefined;
    const [row] = await m.query(
      `SELECT r.id, r.partner_id, p.code AS partner_code, r.user_id, cp.code AS product_code, r.status, r.decision, r.decided_at
         FROM referrals r JOIN partners p ON p.id = r.partner_id JOIN card_products cp ON cp.id = r.product_id
        WHERE r.id = ?`,
      [referralId],
    );
    return row;
  }

  /** Enrols the cardholder; a second run finds the row (unique referral_id) and changes nothing. */
  async enrolCardholder(m: EntityManager, r: ApplyRow, d: Decision): Promise<boolean> {
    // mysql2 reports found rows, so affectedRows cannot tell a no-op upsert from an insert: look first (the caller
    // holds the referral's row lock, so no other run of the job is between this look and the insert).
    const [existing] = await m.query('SELECT id FROM cardholders WHERE referral_id = ?', [r.id]);
    await m.query(
      `INSERT INTO cardholders (partner_id, user_id, referral_id, card_last4, credit_limit, approved_at)
       VALUES (?, ?, ?, ?, ?, COALESCE(?, NOW(3)))
       ON DUPLICATE KEY UPDATE referral_id = referral_id`,
      [r.partner_id, r.user_id, r.id, d.cardLast4 ?? null, d.creditLimit ?? null, r.decided_at],
    );
    await m.query(
      `INSERT INTO partner_relationships (user_id, partner_id, kind, referral_id) VALUES (?, ?, 'CARDHOLDER', ?)
       ON DUPLICATE KEY UPDATE kind = kind`,
      [r.user_id, r.partner_id, r.id],
    );
    return !existing;
  }

  /** A final decision ends the open application with that partner (the user may apply again after a decline). */
  async endOpenApplication(m: EntityManager, r: ApplyRow): Promise<void> {
    await m.query(
      `DELETE FROM partner_relationships WHERE user_id = ? AND partner_id = ? AND kind = 'OPEN_APPLICATION' AND referral_id = ?`,
      [r.user_id, r.partner_id, r.id],
    );
  }

  /** One notification per (referral, kind): the unique key makes a repeated run a no-op. */
  async notify(m: EntityManager, userId: string, referralId: string, kind: string, payload: object): Promise<boolean> {
    const [existing] = await m.query('SELECT id FROM user_notifications WHERE referral_id = ? AND kind = ?', [referralId, kind]);
    if (existing) return false;
    await m.query(
      `INSERT INTO user_notifications (user_id, kind, referral_id, payload) VALUES (?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE id = id`,
      [userId, kind, referralId, JSON.stringify(payload)],
    );
    return true;
  }

  /** The user's referrals with a final decision, in (decided_at, id) order after `after`: the compliance timeline's part. */
  async decidedOfUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<DecidedRow[]> {
    const cond = timelineAfter('r.decided_at', 'r.id', DECISION_KIND, after);
    return this.dataSource.query(
      `SELECT r.id, r.decided_at AS at, r.status, r.decision, p.code AS partner_code, cp.code AS product_code
         FROM referrals r JOIN partners p ON p.id = r.partner_id JOIN card_products cp ON cp.id = r.product_id
        WHERE r.user_id = ? AND r.decided_at IS NOT NULL AND r.decision IS NOT NULL AND ${cond.sql}
        ORDER BY r.decided_at, r.id LIMIT ?`,
      [userId, ...cond.params, limit],
    );
  }
}

export const DECISION_KIND = 'decision';

export interface DecidedRow {
  id: string;
  at: Date;
  status: ReferralStatus;
  decision: Decision | string;
  partner_code: string;
  product_code: string;
}

export const decisionOf = (value: Decision | string | null): Decision | null => jsonColumn(value);
