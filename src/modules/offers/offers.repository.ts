import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { timelineAfter, TimelineKey } from '../../common/timeline';
import { SqlFragment } from '../prescreening/criteria';
import { Offer, OfferStatus } from './offer';

/** A user_id key range (after, upto]; a null bound is open. Pre-screen chunks are such ranges. */
export interface UserIdRange {
  after: string | null;
  upto: string | null;
}

/** `<column> > ? AND <column> <= ?` for the bounds that are set (TRUE for a fully open range). */
export function userIdRangeSql(column: string, range: UserIdRange): SqlFragment {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (range.after !== null) {
    parts.push(`${column} > ?`);
    params.push(range.after);
  }
  if (range.upto !== null) {
    parts.push(`${column} <= ?`);
    params.push(range.upto);
  }
  return { sql: parts.length ? `(${parts.join(' AND ')})` : '(1 = 1)', params };
}

/**
 * The users to offer: `from` joins credit_records as `cr` (the caller decides what drives the join), `where` keeps
 * the eligible ones, `orderBy` is the driving table's user_id column (the rows are inserted in user_id order).
 */
export interface OfferCandidates {
  from: string;
  where: SqlFragment;
  orderBy: string;
}

export interface NewOffers {
  productId: string;
  productVersion: number;
  runId: string;
  ttlDays: number;
}

interface OfferRow {
  id: string;
  user_id: string;
  product_id: string;
  product_code: string;
  product_name: string;
  product_version: number;
  partner_code: string;
  partner_name: string;
  record_version: number;
  run_id: string;
  status: OfferStatus;
  expires_at: Date;
  created_at: Date;
}

const toOffer = (r: OfferRow): Offer => ({
  id: String(r.id),
  userId: r.user_id,
  productId: String(r.product_id),
  productCode: r.product_code,
  productName: r.product_name,
  productVersion: Number(r.product_version),
  partnerCode: r.partner_code,
  partnerName: r.partner_name,
  recordVersion: Number(r.record_version),
  runId: String(r.run_id),
  status: r.status,
  expiresAt: new Date(r.expires_at),
  createdAt: new Date(r.created_at),
});

// The product's name is the pinned version's: what the user was offered, even if the product was renamed since.
const SELECT_OFFER = `
  SELECT o.id, o.user_id, o.product_id, p.code AS product_code, v.name AS product_name, o.product_version,
         pa.code AS partner_code, pa.name AS partner_name, o.record_version, o.run_id, o.status, o.expires_at, o.created_at
    FROM offers o
    JOIN card_products p ON p.id = o.product_id
    JOIN card_product_versions v ON v.product_id = o.product_id AND v.version = o.product_version
    JOIN partners pa ON pa.id = p.partner_id`;

/**
 * The SQL of offers. A LIVE offer has live_key = 1, every other state NULL: the unique key
 * (user_id, product_id, live_key) is what guarantees one live offer per user and product, whoever writes.
 * "Live" for readers also means unexpired; writers turn expired LIVE rows into EXPIRED before making new ones.
 */
@Injectable()
export class OffersRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * LIVE offers of the product in the range whose time is up become EXPIRED, freeing the live key. Found by a plain
   * SELECT first (a non-locking read; the product and live key are checked on the index entries, which hold every
   * product's offers of the range's users), then updated by primary key with the conditions checked again under
   * the row lock (an offer consumed meanwhile stays CONSUMED). A single UPDATE over the range locked and read the
   * row of every product's offer there: 10 ms on an idle server, 210–360 ms per chunk in a second product's run.
   */
  async expireInRange(m: EntityManager, productId: string, range: UserIdRange): Promise<number> {
    const inRange = userIdRangeSql('user_id', range);
    const due: { id: string }[] = await m.query(
      `SELECT id FROM offers WHERE product_id = ? AND ${inRange.sql} AND live_key = 1 AND expires_at <= NOW(3)`,
      [productId, ...inRange.params],
    );
    if (!due.length) return 0;
    const result: { affectedRows: number } = await m.query(
      `UPDATE offers SET status = 'EXPIRED', live_key = NULL, status_changed_at = NOW(3)
        WHERE id IN (?) AND live_key = 1 AND expires_at <= NOW(3)`,
      [due.map((r) => r.id)],
    );
    return result.affectedRows;
  }

  /**
   * One INSERT … SELECT: an offer for every candidate credit_records row (`cr`) that has no live offer for the
   * product, pinning the row's record_version. LOCK IN SHARE MODE holds the pinned rows until the caller commits:
   * an ingest that replaces one waits for the offer to be committed, then copies the pinned version to a snapshot
   * before changing it (CreditRecordsRepository.preservePinnedVersions); one that got there first has a new version
   * by the time this reads the row, and the candidate (joined on the version evaluated) makes no offer. Either way
   * every offer can be packaged exactly as evaluated. No IGNORE: a concurrent run's offer for the same user makes
   * this fail on the unique key and the caller's transaction is retried, never silently miscounted. Returns how
   * many offers were made.
   */
  async createForEligible(m: EntityManager, offers: NewOffers, candidates: OfferCandidates): Promise<number> {
    const result: { affectedRows: number } = await m.query(
      `INSERT INTO offers (user_id, product_id, product_version, record_version, run_id, status, live_key, expires_at)
       SELECT cr.user_id, ?, ?, cr.record_version, ?, 'LIVE', 1, NOW(3) + INTERVAL ? DAY
         FROM ${candidates.from}
        WHERE ${candidates.where.sql}
          AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.product_id = ? AND o.user_id = cr.user_id AND o.live_key = 1)
        ORDER BY ${candidates.orderBy}
        LOCK IN SHARE MODE`,
      [offers.productId, offers.productVersion, offers.runId, offers.ttlDays, ...candidates.where.params, offers.productId],
    );
    return result.affectedRows;
  }

  /**
   * Withdraws every live offer of a user (opt-out), in the caller's transaction; an expired one becomes EXPIRED.
   * Returns the ids of the offers withdrawn.
   */
  async withdrawLiveOfUser(m: EntityManager, userId: string): Promise<string[]> {
    const rows: { id: string; expired: number }[] = await m.query(
      'SELECT id, expires_at <= NOW(3) AS expired FROM offers WHERE user_id = ? AND live_key = 1 ORDER BY id FOR UPDATE',
      [userId],
    );
    if (!rows.length) return [];
    await m.query(
      `UPDATE offers SET status = IF(expires_at <= NOW(3), 'EXPIRED', 'WITHDRAWN'), live_key = NULL, status_changed_at = NOW(3)
        WHERE id IN (?) AND live_key = 1`,
      [rows.map((r) => r.id)],
    );
    return rows.filter((r) => Number(r.expired) === 0).map((r) => String(r.id));
  }

  /** A user's live (LIVE and unexpired) offers in creation order, `limit + 1` rows for the page. */
  async pageLiveOfUser(userId: string, afterId: string | undefined, limit: number): Promise<Offer[]> {
    const rows: OfferRow[] = await this.dataSource.query(
      `${SELECT_OFFER}
        WHERE o.user_id = ? AND o.live_key = 1 AND o.expires_at > NOW(3) AND o.id > ?
        ORDER BY o.id LIMIT ?`,
      [userId, afterId ?? '0', limit + 1],
    );
    return rows.map(toOffer);
  }

  /** The user's offers of every status in (created_at, id) order after `after`: the offer part of a compliance timeline. */
  async timelineOfUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<OfferTimelineRow[]> {
    const cond = timelineAfter('o.created_at', 'o.id', OFFER_KIND, after);
    return this.dataSource.query(
      `SELECT o.id, o.created_at AS at, o.status, cp.code AS product_code, pa.code AS partner_code
         FROM offers o JOIN card_products cp ON cp.id = o.product_id JOIN partners pa ON pa.id = cp.partner_id
        WHERE o.user_id = ? AND ${cond.sql}
        ORDER BY o.created_at, o.id LIMIT ?`,
      [userId, ...cond.params, limit],
    );
  }
}

export const OFFER_KIND = 'offer';

export interface OfferTimelineRow {
  id: string;
  at: Date;
  status: OfferStatus;
  product_code: string;
  partner_code: string;
}
