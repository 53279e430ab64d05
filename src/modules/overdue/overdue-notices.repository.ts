import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { timelineAfter, TimelineKey } from '../../common/timeline';
import { NoticeStatus } from './overdue-record';

export interface NoticeRow {
  id: string;
  user_id: string;
  referral_id: string;
  partner_code: string;
  partner_name: string;
  dpd: number;
  overdue_amount: string;
  notice_date: string;
  share_on: string;
  status: NoticeStatus;
  sent_at: Date | null;
  created_at: Date;
}

const SELECT_NOTICE = `
  SELECT n.id, n.user_id, n.referral_id, p.code AS partner_code, p.name AS partner_name, n.dpd, n.overdue_amount,
         DATE_FORMAT(n.notice_date, '%Y-%m-%d') AS notice_date, DATE_FORMAT(n.share_on, '%Y-%m-%d') AS share_on, n.status, n.sent_at, n.created_at
    FROM overdue_notices n JOIN partners p ON p.id = n.partner_id`;

/** The SQL of overdue notices outside the scan: delivery and the applicant's list. */
@Injectable()
export class OverdueNoticesRepository {
  constructor(private readonly dataSource: DataSource) {}

  async find(id: string): Promise<NoticeRow | undefined> {
    const rows: NoticeRow[] = await this.dataSource.query(`${SELECT_NOTICE} WHERE n.id = ?`, [id]);
    return rows[0];
  }

  /** Marks the notice delivered; false when another delivery of the job marked it first. */
  async markSent(m: EntityManager, id: string): Promise<boolean> {
    const result: { affectedRows: number } = await m.query('UPDATE overdue_notices SET sent_at = NOW(3) WHERE id = ? AND sent_at IS NULL', [
      id,
    ]);
    return result.affectedRows === 1;
  }

  /** The user's notices in creation order, `limit + 1` rows after `afterId`. */
  async pageOfUser(userId: string, afterId: string | undefined, limit: number): Promise<NoticeRow[]> {
    return this.dataSource.query(`${SELECT_NOTICE} WHERE n.user_id = ? AND n.id > ? ORDER BY n.id LIMIT ?`, [
      userId,
      afterId ?? '0',
      limit + 1,
    ]);
  }

  /** The user's notices in (created_at, id) order after `after`: the compliance timeline's part. */
  async timelineOfUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<NoticeRow[]> {
    const cond = timelineAfter('n.created_at', 'n.id', NOTICE_KIND, after);
    return this.dataSource.query(`${SELECT_NOTICE} WHERE n.user_id = ? AND ${cond.sql} ORDER BY n.created_at, n.id LIMIT ?`, [
      userId,
      ...cond.params,
      limit,
    ]);
  }
}

export const NOTICE_KIND = 'overdue.notice';
