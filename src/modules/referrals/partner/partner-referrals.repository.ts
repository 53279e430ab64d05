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
  file_jws: string | null;
  file_sha256: string | null;
  shared_fields: string | string[];
  acknowledged_at: Date | null;
}

/** A referral with what a fetch or an acknowledgement needs (a plain join: it locks nothing). */
const DELIVERABLE_SELECT = `
  SELECT r.id, cp.code AS product_code, r.status, r.created_at, r.expires_at, r.partner_id, r.user_id, r.consent_id,
         c.status AS consent_status, r.file_jws, r.file_sha256, v.shared_fields, r.acknowledged_at
    FROM referrals r
    JOIN card_products cp ON cp.id = r.product_id
    JOIN card_product_versions v ON v.product_id = r.product_id AND v.version = r.product_version
    JOIN consents c ON c.id = r.consent_id`;

/** The partner API's SQL. Every query takes the partner id: a forgotten tenant filter cannot compile. */
@Injectable()
export class PartnerReferralsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** PACKAGING is internal and never listed. `limit + 1` rows, for toPage. */
  async page(partnerId: string, status: ReferralStatus | undefined, afterId: string | undefined, limit: number): Promise<PartnerReferralRow[]> {
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
    const [locked] = await m.query("SELECT id FROM referrals WHERE id = ? AND partner_id = ? AND status <> 'PACKAGING' FOR UPDATE", [referralId, partnerId]);
    if (!locked) return undefined;
    const [row] = await m.query(
      `${DELIVERABLE_SELECT} WHERE r.id = ?`,
      [referralId],
    );
    return row;
  }

  /**
   * The fetch's first read, without a lock and outside any transaction, for many fetches at once
   * (DeliverableReader): enough to answer 404 / 410 at once and to build the answer (file, product and dates never
   * change once READY). The status and consent it shows are re-checked under the row lock by
   * ReferralDisclosureBatcher before anything is disclosed. One answer per request, in order; a referral of another
   * partner (or still PACKAGING) is undefined, exactly as if it did not exist.
   */
  async deliverableOfPartners(requests: ReadonlyArray<{ partnerId: string; referralId: string }>): Promise<Array<DeliverableRow | undefined>> {
    const ids = [...new Set(requests.map((r) => r.referralId))];
    const rows: DeliverableRow[] = await this.dataSource.query(
      `${DELIVERABLE_SELECT} WHERE r.id IN (?) AND r.status <> 'PACKAGING'`,
      [ids],
    );
    const byId = new Map(rows.map((r) => [String(r.id), r]));
    return requests.map(({ partnerId, referralId }) => {
      const row = byId.get(referralId);
      return row && String(row.partner_id) === partnerId ? row : undefined;
    });
  }

  /**
   * Locks the given referral rows (only those: never the consents, which the applicant's revocation must be able to
   * update meanwhile), then reads their status and their consent's status. The second read is its own statement on
   * purpose: at READ COMMITTED it takes a fresh snapshot after the locks were granted, so a revocation that committed
   * while this waited is seen. Ids come back as strings (BIGINT as text).
   */
  async lockForDisclosure(m: EntityManager, referralIds: string[]): Promise<Map<string, { status: ReferralStatus; consent_status: 'ACTIVE' | 'REVOKED' }>> {
    await m.query('SELECT id FROM referrals WHERE id IN (?) FOR UPDATE', [referralIds]);
    const rows: Array<{ id: string; status: ReferralStatus; consent_status: 'ACTIVE' | 'REVOKED' }> = await m.query(
      'SELECT r.id, r.status, c.status AS consent_status FROM referrals r JOIN consents c ON c.id = r.consent_id WHERE r.id IN (?)',
      [referralIds],
    );
    return new Map(rows.map((r) => [String(r.id), { status: r.status, consent_status: r.consent_status }]));
  }

  /** Whether the referral exists under another partner: such attempts are audited (answered 404 all the same). */
  async ownedByAnother(partnerId: string, referralId: string): Promise<boolean> {
    const [row] = await this.dataSource.query('SELECT 1 AS x FROM referrals WHERE id = ? AND partner_id <> ?', [referralId, partnerId]);
    return Boolean(row);
  }
}
