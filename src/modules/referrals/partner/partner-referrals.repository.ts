import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { ReferralStatus } from '../referral-state';

export interface PartnerReferralRow {
  id: string;
  product_code: string;
  status: ReferralStatus;
  created_at: Date;
  expires_at: Date;
}

export interface DeliverableRow extends PartnerReferralRow {
  partner_id: string;
  user_id: string;
  consent_id: string;
  consent_status: 'ACTIVE' | 'REVOKED';
  /** The signed file, sealed (ReferralFileSealer); null before packaging and once purged. */
  file_enc: Buffer | null;
  file_sha256: string | null;
  /** When the retention purge deleted the file (referral-files.purge), else null. */
  file_purged_at: Date | null;
  shared_fields: string | string[];
  acknowledged_at: Date | null;
}

/** A referral with what a fetch or an acknowledgement needs (a plain join: it locks nothing). */
const DELIVERABLE_SELECT = `
  SELECT r.id, cp.code AS product_code, r.status, r.created_at, r.expires_at, r.partner_id, r.user_id, r.consent_id,
         c.status AS consent_status, r.file_enc, r.file_sha256, r.file_purged_at, c.shared_fields, r.acknowledged_at
    FROM referrals r
    JOIN card_products cp ON cp.id = r.product_id
    JOIN consents c ON c.id = r.consent_id`;

/** The partner API's SQL. Every query takes the partner id: a forgotten tenant filter cannot compile. */
@Injectable()
export class PartnerReferralsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** PACKAGING is internal and never listed. `limit + 1` rows, for toPage. */
  async page(
    partnerId: string,
    status: ReferralStatus | undefined,
    afterId: string | undefined,
    limit: number,
  ): Promise<PartnerReferralRow[]> {
    return this.dataSource.query(
      `SELECT r.id, cp.code AS product_code, r.status, r.created_at, r.expires_at
         FROM referrals r JOIN card_products cp ON cp.id = r.product_id
        WHERE r.partner_id = ? AND r.id > ? AND ${status ? 'r.status = ?' : "r.status <> 'PACKAGING'"}
        ORDER BY r.id LIMIT ?`,
      status ? [partnerId, afterId ?? '0', status, limit + 1] : [partnerId, afterId ?? '0', limit + 1],
    );
  }

  /**
   * The referral with its file and consent, row-locked so the disclosure and the READY → DELIVERED move see the
   * state they act on. Only the referral row is locked (then read with a plain join).
   */
  async lockOfPartner(m: EntityManager, partnerId: string, referralId: string): Promise<DeliverableRow | undefined> {
    const [locked] = await m.query("SELECT id FROM referrals WHERE id = ? AND partner_id = ? AND status <> 'PACKAGING' FOR UPDATE", [
      referralId,
      partnerId,
    ]);
    if (!locked) return undefined;
    const [row] = await m.query(`${DELIVERABLE_SELECT} WHERE r.id = ?`, [referralId]);
    return row;
  }

  /**
   * The disclosure batch's read (ReferralDisclosureBatcher): locks the requested referrals **of the requesting
   * partner** (a wrong-partner or unknown id matches nothing; at READ COMMITTED InnoDB lets go of a row that fails the
   * partner filter as soon as it is evaluated, so another partner's referral is never held for the batch), then reads
   * everything a fetch answers with — file, product, dates, shared fields, status and consent — in a second statement.
   * It is its own statement on purpose: at READ COMMITTED it takes a fresh snapshot after the locks were granted, so a
   * revocation that committed while this waited is seen, and the consent rows are read without being locked (the
   * applicant's revocation must be able to update them meanwhile). PACKAGING is internal: not found, like a missing id.
   * Keyed by referral id (BIGINT as text); the caller still checks each row's partner against each request's.
   */
  async lockDeliverable(
    m: EntityManager,
    requests: ReadonlyArray<{ partnerId: string; referralId: string }>,
  ): Promise<Map<string, DeliverableRow>> {
    const idsByPartner = new Map<string, Set<string>>();
    for (const { partnerId, referralId } of requests) {
      const ids = idsByPartner.get(partnerId);
      if (ids) ids.add(referralId);
      else idsByPartner.set(partnerId, new Set([referralId]));
    }
    // One (partner, ids) clause per partner: a primary-key range read either way, filtered by partner on each row.
    const ofPartner = [...idsByPartner.keys()].map(() => '(partner_id = ? AND id IN (?))').join(' OR ');
    const locked: Array<{ id: string }> = await m.query(
      `SELECT id FROM referrals WHERE (${ofPartner}) AND status <> 'PACKAGING' FOR UPDATE`,
      [...idsByPartner].flatMap(([partnerId, ids]) => [partnerId, [...ids]]),
    );
    if (locked.length === 0) return new Map();
    const rows: DeliverableRow[] = await m.query(`${DELIVERABLE_SELECT} WHERE r.id IN (?)`, [locked.map((r) => String(r.id))]);
    return new Map(rows.map((r) => [String(r.id), r]));
  }

  /** Whether the referral exists under another partner: such attempts are audited (answered 404 all the same). */
  async ownedByAnother(partnerId: string, referralId: string): Promise<boolean> {
    const [row] = await this.dataSource.query('SELECT 1 AS x FROM referrals WHERE id = ? AND partner_id <> ?', [referralId, partnerId]);
    return Boolean(row);
  }
}
