import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { timelineAfter, TimelineKey } from '../../common/timeline';
import { FINAL_STATUSES } from '../referrals/referral-state';
import { Application, Consent, TimelineEntry } from './application';

// Rows of DataSource.query are untyped; the mappers below give them their types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type QueryRow = Record<string, any>;

const ER_DUP_ENTRY = 1062;
const isDuplicate = (e: unknown) => {
  const err = e as { errno?: number; driverError?: { errno?: number } };
  return err?.errno === ER_DUP_ENTRY || err?.driverError?.errno === ER_DUP_ENTRY;
};

/** MariaDB hands JSON columns back as text, MySQL 8 as parsed values. */
const json = <T>(value: string | T): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);

/** An offer with the pinned product version's consent terms and its partner: what an application is made from. */
export interface OfferTerms {
  offerId: string;
  userId: string;
  status: 'LIVE' | 'CONSUMED' | 'WITHDRAWN' | 'EXPIRED';
  expired: boolean;
  productId: string;
  productCode: string;
  productVersion: number;
  recordVersion: number;
  runId: string;
  partnerId: string;
  partnerCode: string;
  partnerName: string;
  partnerStatus: string;
  consentText: string;
  textVersion: number;
  textSha256: string;
  sharedFields: string[];
  purpose: string;
  retentionDays: number;
  decisionSlaHours: number;
}

export interface NewApplication {
  userId: string;
  terms: OfferTerms;
  userRef: string;
  /** The decision SLA in ms (ReferralSla.slaMs): expires_at = created_at + this. */
  slaMs: number;
  /** The apply request's id, kept on the referral for the audit entries of what follows from it (packaging). */
  requestId: string;
}

/** What an application is checked against (ApplicationsRepository.applicationFacts). */
export interface ApplicationFacts {
  terms: OfferTerms;
  /** The product's current version, read without a lock. */
  product: { cap: number | null; status: string };
  recentApplications: number;
  otherAccountsWithIdentity: number;
  relationshipKinds: string[];
}

/** The product's current cap and status under a lock, and the new referral's stored times. */
export interface ProductCapState {
  cap: number | null;
  status: string;
  /** The product's other referrals of today (UTC); only counted when locked as capped. */
  referralsToday: number | null;
  createdAt: Date;
  expiresAt: Date;
}

const SELECT_TERMS_COLUMNS = `
  SELECT o.id AS offer_id, o.user_id, o.status, o.expires_at <= NOW(3) AS expired, o.product_id, p.code AS product_code,
         o.product_version, o.record_version, o.run_id, pa.id AS partner_id, pa.code AS partner_code, pa.name AS partner_name,
         pa.status AS partner_status, v.consent_text, v.text_version, v.text_sha256, v.shared_fields, v.purpose,
         v.retention_days, v.decision_sla_hours`;
const FROM_TERMS = `
    FROM offers o
    JOIN card_products p ON p.id = o.product_id
    JOIN card_product_versions v ON v.product_id = o.product_id AND v.version = o.product_version
    JOIN partners pa ON pa.id = p.partner_id`;
const SELECT_TERMS = `${SELECT_TERMS_COLUMNS} ${FROM_TERMS}`;

const toTerms = (r: QueryRow): OfferTerms => ({
  offerId: String(r.offer_id),
  userId: r.user_id,
  status: r.status,
  expired: Number(r.expired) === 1,
  productId: String(r.product_id),
  productCode: r.product_code,
  productVersion: Number(r.product_version),
  recordVersion: Number(r.record_version),
  runId: String(r.run_id),
  partnerId: String(r.partner_id),
  partnerCode: r.partner_code,
  partnerName: r.partner_name,
  partnerStatus: r.partner_status,
  consentText: r.consent_text,
  textVersion: Number(r.text_version),
  textSha256: r.text_sha256,
  sharedFields: json<string[]>(r.shared_fields),
  purpose: r.purpose,
  retentionDays: Number(r.retention_days),
  decisionSlaHours: Number(r.decision_sla_hours),
});

const SELECT_APPLICATION = `
  SELECT r.id, r.user_id, r.partner_id, pa.code AS partner_code, pa.name AS partner_name, p.code AS product_code,
         r.offer_id, r.consent_id, r.status, r.decision, r.created_at, r.expires_at
    FROM referrals r
    JOIN partners pa ON pa.id = r.partner_id
    JOIN card_products p ON p.id = r.product_id`;

const toApplication = (r: QueryRow): Application => ({
  id: String(r.id),
  userId: r.user_id,
  partnerId: String(r.partner_id),
  partnerCode: r.partner_code,
  partnerName: r.partner_name,
  productCode: r.product_code,
  offerId: String(r.offer_id),
  consentId: String(r.consent_id),
  status: r.status,
  decision: r.decision === null ? null : json<Record<string, unknown>>(r.decision),
  createdAt: new Date(r.created_at),
  expiresAt: new Date(r.expires_at),
});

// The referral made under a consent (one per consent: each application records its own).
const SELECT_CONSENT = `
  SELECT c.id, c.user_id, pa.code AS partner_code, pa.name AS partner_name, p.code AS product_code, c.product_version,
         c.text_version, c.text_sha256, c.purpose, c.shared_fields, c.retention_days, c.status, c.granted_at, c.revoked_at,
         (SELECT MIN(r.id) FROM referrals r WHERE r.consent_id = c.id) AS referral_id
    FROM consents c
    JOIN partners pa ON pa.id = c.partner_id
    JOIN card_products p ON p.id = c.product_id`;

const toConsent = (r: QueryRow): Consent => ({
  id: String(r.id),
  userId: r.user_id,
  partnerCode: r.partner_code,
  partnerName: r.partner_name,
  productCode: r.product_code,
  productVersion: Number(r.product_version),
  textVersion: Number(r.text_version),
  textSha256: r.text_sha256,
  purpose: r.purpose,
  sharedFields: json<string[]>(r.shared_fields),
  retentionDays: Number(r.retention_days),
  status: r.status,
  grantedAt: new Date(r.granted_at),
  revokedAt: r.revoked_at ? new Date(r.revoked_at) : null,
  referralId: r.referral_id === null ? null : String(r.referral_id),
});

const FINAL_LIST = FINAL_STATUSES.map((s) => `'${s}'`).join(', ');

/**
 * The SQL of the applicant's use cases: applying (consent, referral, offer consumption, the open-application
 * relationship), reading applications and consents, and revoking. Every read takes the user id, so another user's
 * row is simply not found. Status changes of an existing referral go through ReferralTransitions, not here.
 */
@Injectable()
export class ApplicationsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The user's offer with its pinned terms (read-only; GET consent). */
  async findOfferTerms(userId: string, offerId: string): Promise<OfferTerms | undefined> {
    const rows = await this.dataSource.query(`${SELECT_TERMS} WHERE o.id = ? AND o.user_id = ?`, [offerId, userId]);
    return rows.length ? toTerms(rows[0]) : undefined;
  }

  /**
   * Locks the user's credit record (serialising one user's applications, so what applicationFacts counts is final
   * until commit) and returns its identity hash. Undefined when the user has no credit record.
   */
  async lockApplicantIdentity(m: EntityManager, userId: string): Promise<{ identity: Buffer } | undefined> {
    const rows = await m.query('SELECT national_id_hash FROM credit_records WHERE user_id = ? FOR UPDATE', [userId]);
    return rows.length ? { identity: rows[0].national_id_hash } : undefined;
  }

  /**
   * Everything an application is checked against, in one round trip (each statement is ~0.1 ms of api CPU): the
   * offer's terms, the product's current version (cap and status, read without a lock: see lockProductForCap), the
   * applicant's recent applications, the other accounts with the same identity that applied, and the user's
   * relationships with the offer's partner. Run after lockApplicantIdentity, so the counts are those of committed
   * applications of this user, none in flight. Non-locking subqueries only: no lock on other users' rows.
   */
  async applicationFacts(
    m: EntityManager,
    q: { userId: string; offerId: string; identity: Buffer | null; velocityWindowHours: number },
  ): Promise<ApplicationFacts | undefined> {
    const rows = await m.query(
      `${SELECT_TERMS_COLUMNS},
              cv.daily_referral_cap AS current_cap, cv.status AS current_status,
              (SELECT COUNT(*) FROM referrals r WHERE r.user_id = ? AND r.created_at > NOW(3) - INTERVAL ? HOUR) AS recent_applications,
              (SELECT COUNT(*) FROM credit_records c
                WHERE c.national_id_hash = ? AND c.user_id <> ? AND EXISTS (SELECT 1 FROM referrals r WHERE r.user_id = c.user_id)) AS other_accounts,
              (SELECT GROUP_CONCAT(pr.kind) FROM partner_relationships pr WHERE pr.user_id = ? AND pr.partner_id = pa.id) AS kinds
         ${FROM_TERMS}
         JOIN card_product_versions cv ON cv.product_id = p.id AND cv.version = p.current_version
        WHERE o.id = ? AND o.user_id = ?`,
      [q.userId, q.velocityWindowHours, q.identity, q.userId, q.userId, q.offerId, q.userId],
    );
    if (!rows.length) return undefined;
    const r = rows[0];
    return {
      terms: toTerms(r),
      product: { cap: r.current_cap === null ? null : Number(r.current_cap), status: r.current_status },
      recentApplications: Number(r.recent_applications),
      otherAccountsWithIdentity: Number(r.other_accounts),
      relationshipKinds: r.kinds ? String(r.kinds).split(',') : [],
    };
  }

  /**
   * The product's current cap and status, read under a lock on the card_products row, with the new referral's
   * stored times (for the answer). `capped` = the caller saw a cap without a lock:
   * - capped: the row is locked FOR UPDATE, so the capped applications of the product count and commit one after
   *   another (`today` = the product's other referrals of today, UTC: every session runs in UTC). Taken as the last
   *   statement before COMMIT, so the product is serialised only for the commit itself.
   * - uncapped: a shared lock, which uncapped applications hold side by side (no serialisation), but which a product
   *   change (CardProductsRepository.lockByCode, FOR UPDATE) waits for, and which waits for it: a version committed
   *   before this read is seen here, and none can commit until this application has. So an application is either
   *   seen by the cap count of every capped application after it, or sees the cap itself (the caller then runs again
   *   as capped rather than upgrading the shared lock, which two transactions doing at once would deadlock).
   */
  async lockProductForCap(m: EntityManager, productId: string, referralId: string, capped: boolean): Promise<ProductCapState> {
    let rows: QueryRow[];
    if (capped) {
      const [product] = await m.query('SELECT current_version FROM card_products WHERE id = ? FOR UPDATE', [productId]);
      rows = await m.query(
        `SELECT v.daily_referral_cap, v.status, r.created_at, r.expires_at,
                (SELECT COUNT(*) FROM referrals x WHERE x.product_id = v.product_id AND x.created_at >= UTC_DATE() AND x.id <> r.id) AS today
           FROM card_product_versions v JOIN referrals r ON r.id = ?
          WHERE v.product_id = ? AND v.version = ?`,
        [referralId, productId, product.current_version],
      );
    } else {
      rows = await m.query(
        `SELECT v.daily_referral_cap, v.status, r.created_at, r.expires_at, NULL AS today
           FROM card_products p
           JOIN card_product_versions v ON v.product_id = p.id AND v.version = p.current_version
           JOIN referrals r ON r.id = ?
          WHERE p.id = ? LOCK IN SHARE MODE`,
        [referralId, productId],
      );
    }
    const r = rows[0];
    return {
      cap: r.daily_referral_cap === null ? null : Number(r.daily_referral_cap),
      status: r.status,
      referralsToday: r.today === null ? null : Number(r.today),
      createdAt: new Date(r.created_at),
      expiresAt: new Date(r.expires_at),
    };
  }

  async insertConsent(m: EntityManager, userId: string, t: OfferTerms): Promise<string> {
    const result = await m.query(
      `INSERT INTO consents (user_id, partner_id, product_id, product_version, text_version, text_sha256, purpose, shared_fields, retention_days)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        userId,
        t.partnerId,
        t.productId,
        t.productVersion,
        t.textVersion,
        t.textSha256,
        t.purpose,
        JSON.stringify(t.sharedFields),
        t.retentionDays,
      ],
    );
    return String(result.insertId);
  }

  /**
   * The referral in PACKAGING, its decision deadline `slaMs` after its created_at (NOW(3) is one value for the whole
   * statement, the created_at default included), and its first timeline row.
   */
  async insertReferral(m: EntityManager, a: NewApplication, consentId: string, actorId: string): Promise<string> {
    const t = a.terms;
    const result = await m.query(
      `INSERT INTO referrals (user_id, partner_id, product_id, product_version, offer_id, consent_id, run_id, record_version, user_ref,
                              apply_request_id, status, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'PACKAGING', NOW(3) + INTERVAL ? MICROSECOND)`,
      [
        a.userId,
        t.partnerId,
        t.productId,
        t.productVersion,
        t.offerId,
        consentId,
        t.runId,
        t.recordVersion,
        a.userRef,
        a.requestId,
        a.slaMs * 1000,
      ],
    );
    const referralId = String(result.insertId);
    await m.query(
      `INSERT INTO referral_timeline (referral_id, from_status, to_status, actor_type, actor_id, note) VALUES (?, NULL, 'PACKAGING', 'user', ?, NULL)`,
      [referralId, actorId],
    );
    return referralId;
  }

  /** The OPEN_APPLICATION relationship; false when one already exists (its primary key decides concurrent applies). */
  async insertOpenApplication(m: EntityManager, userId: string, partnerId: string, referralId: string): Promise<boolean> {
    try {
      await m.query(`INSERT INTO partner_relationships (user_id, partner_id, kind, referral_id) VALUES (?, ?, 'OPEN_APPLICATION', ?)`, [
        userId,
        partnerId,
        referralId,
      ]);
      return true;
    } catch (error) {
      if (isDuplicate(error)) return false;
      throw error;
    }
  }

  async deleteOpenApplication(m: EntityManager, userId: string, partnerId: string, referralId: string): Promise<void> {
    await m.query(
      `DELETE FROM partner_relationships WHERE user_id = ? AND partner_id = ? AND kind = 'OPEN_APPLICATION' AND referral_id = ?`,
      [userId, partnerId, referralId],
    );
  }

  /** LIVE → CONSUMED, conditional: false when the offer was no longer live. */
  async consumeOffer(m: EntityManager, offerId: string): Promise<boolean> {
    const result = await m.query(
      `UPDATE offers SET status = 'CONSUMED', live_key = NULL, status_changed_at = NOW(3) WHERE id = ? AND live_key = 1 AND expires_at > NOW(3)`,
      [offerId],
    );
    return result.affectedRows === 1;
  }

  async findApplication(userId: string, id: string, m: EntityManager = this.dataSource.manager): Promise<Application | undefined> {
    const rows = await m.query(`${SELECT_APPLICATION} WHERE r.id = ? AND r.user_id = ?`, [id, userId]);
    return rows.length ? toApplication(rows[0]) : undefined;
  }

  async pageApplications(userId: string, afterId: string | undefined, limit: number): Promise<Application[]> {
    const rows = await this.dataSource.query(`${SELECT_APPLICATION} WHERE r.user_id = ? AND r.id > ? ORDER BY r.id LIMIT ?`, [
      userId,
      afterId ?? '0',
      limit + 1,
    ]);
    return rows.map(toApplication);
  }

  async timeline(referralId: string): Promise<TimelineEntry[]> {
    const rows = await this.dataSource.query(
      'SELECT from_status, to_status, actor_type, note, at FROM referral_timeline WHERE referral_id = ? ORDER BY id',
      [referralId],
    );
    return rows.map((r: QueryRow) => ({ from: r.from_status, to: r.to_status, actorType: r.actor_type, note: r.note, at: new Date(r.at) }));
  }

  async findConsent(
    userId: string,
    id: string,
    m: EntityManager = this.dataSource.manager,
    forUpdate = false,
  ): Promise<Consent | undefined> {
    if (forUpdate) {
      const locked = await m.query('SELECT id FROM consents WHERE id = ? AND user_id = ? FOR UPDATE', [id, userId]);
      if (!locked.length) return undefined;
    }
    const rows = await m.query(`${SELECT_CONSENT} WHERE c.id = ? AND c.user_id = ?`, [id, userId]);
    return rows.length ? toConsent(rows[0]) : undefined;
  }

  async pageConsents(userId: string, afterId: string | undefined, limit: number): Promise<Consent[]> {
    const rows = await this.dataSource.query(`${SELECT_CONSENT} WHERE c.user_id = ? AND c.id > ? ORDER BY c.id LIMIT ?`, [
      userId,
      afterId ?? '0',
      limit + 1,
    ]);
    return rows.map(toConsent);
  }

  /** ACTIVE → REVOKED, conditional: false when it was already revoked. */
  async revokeConsent(m: EntityManager, id: string): Promise<boolean> {
    const result = await m.query(`UPDATE consents SET status = 'REVOKED', revoked_at = NOW(3) WHERE id = ? AND status = 'ACTIVE'`, [id]);
    return result.affectedRows === 1;
  }

  /** Referrals made under the consent that have no final state yet. */
  async openReferralIdsOfConsent(m: EntityManager, consentId: string): Promise<string[]> {
    const rows = await m.query(`SELECT id FROM referrals WHERE consent_id = ? AND status NOT IN (${FINAL_LIST}) ORDER BY id`, [consentId]);
    return rows.map((r: { id: string }) => String(r.id));
  }

  /**
   * The user's consents granted (`revoked` false) or revoked, in (time, id) order after `after`, for the compliance
   * timeline; each with the referral made under it.
   */
  async consentTimelineOfUser(
    userId: string,
    revoked: boolean,
    after: TimelineKey | undefined,
    limit: number,
  ): Promise<ConsentTimelineRow[]> {
    const at = revoked ? 'c.revoked_at' : 'c.granted_at';
    const cond = timelineAfter(at, 'c.id', revoked ? CONSENT_REVOKED_KIND : CONSENT_GRANTED_KIND, after);
    return this.dataSource.query(
      `SELECT c.id, ${at} AS at, pa.code AS partner_code, p.code AS product_code, c.text_version, c.shared_fields, c.retention_days,
              (SELECT MIN(r.id) FROM referrals r WHERE r.consent_id = c.id) AS referral_id
         FROM consents c JOIN partners pa ON pa.id = c.partner_id JOIN card_products p ON p.id = c.product_id
        WHERE c.user_id = ? AND ${at} IS NOT NULL AND ${cond.sql}
        ORDER BY ${at}, c.id LIMIT ?`,
      [userId, ...cond.params, limit],
    );
  }

  /** Every state change of every referral of the user (referral_timeline), in (at, id) order after `after`. */
  async referralTimelineOfUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<ReferralStateRow[]> {
    const cond = timelineAfter('t.at', 't.id', APPLICATION_STATE_KIND, after);
    return this.dataSource.query(
      `SELECT t.id, t.at, t.referral_id, t.from_status, t.to_status, t.actor_type, t.note, pa.code AS partner_code, p.code AS product_code
         FROM referrals r
         JOIN referral_timeline t ON t.referral_id = r.id
         JOIN partners pa ON pa.id = r.partner_id
         JOIN card_products p ON p.id = r.product_id
        WHERE r.user_id = ? AND ${cond.sql}
        ORDER BY t.at, t.id LIMIT ?`,
      [userId, ...cond.params, limit],
    );
  }
}

export const CONSENT_GRANTED_KIND = 'consent.granted';
export const CONSENT_REVOKED_KIND = 'consent.revoked';
export const APPLICATION_STATE_KIND = 'application.state';

export interface ConsentTimelineRow {
  id: string;
  at: Date;
  partner_code: string;
  product_code: string;
  text_version: number;
  shared_fields: string | string[];
  retention_days: number;
  referral_id: string | null;
}

export interface ReferralStateRow {
  id: string;
  at: Date;
  referral_id: string;
  from_status: string | null;
  to_status: string;
  actor_type: string;
  note: string | null;
  partner_code: string;
  product_code: string;
}
