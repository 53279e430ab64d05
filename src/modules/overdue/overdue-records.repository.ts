import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { timelineAfter, TimelineKey } from '../../common/timeline';
import { OverdueRecordRow, RECORD_COLUMNS } from './overdue-record';

export interface RecordFilter {
  /** Created at or after. */
  since?: Date;
  unacknowledged?: boolean;
}

/** The SQL of overdue report records outside the scan. Every partner query takes the partner id. */
@Injectable()
export class OverdueRecordsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The partner's records in creation order, `limit + 1` rows after `afterId`. */
  async pageOfPartner(partnerId: string, filter: RecordFilter, afterId: string | undefined, limit: number): Promise<OverdueRecordRow[]> {
    const where = ['o.partner_id = ?', 'o.id > ?'];
    const params: unknown[] = [partnerId, afterId ?? '0'];
    if (filter.since) {
      where.push('o.created_at >= ?');
      params.push(filter.since);
    }
    if (filter.unacknowledged) where.push('o.acknowledged_at IS NULL');
    return this.dataSource.query(`SELECT ${RECORD_COLUMNS} FROM overdue_records o WHERE ${where.join(' AND ')} ORDER BY o.id LIMIT ?`, [
      ...params,
      limit + 1,
    ]);
  }

  /** Every partner's records for operators, optionally only unacknowledged ones created before `createdBefore`. */
  async pageForOperators(
    filter: { unacknowledged?: boolean; createdBefore?: Date; partnerCode?: string },
    afterId: string | undefined,
    limit: number,
  ): Promise<Array<OverdueRecordRow & { partner_code: string }>> {
    const where = ['o.id > ?'];
    const params: unknown[] = [afterId ?? '0'];
    if (filter.unacknowledged) where.push('o.acknowledged_at IS NULL');
    if (filter.createdBefore) {
      where.push('o.created_at <= ?');
      params.push(filter.createdBefore);
    }
    if (filter.partnerCode) {
      where.push('p.code = ?');
      params.push(filter.partnerCode);
    }
    return this.dataSource.query(
      `SELECT ${RECORD_COLUMNS}, p.code AS partner_code
         FROM overdue_records o JOIN partners p ON p.id = o.partner_id
        WHERE ${where.join(' AND ')} ORDER BY o.id LIMIT ?`,
      [...params, limit + 1],
    );
  }

  /** The partner's record, row-locked (for the acknowledgement). */
  async lockOfPartner(m: EntityManager, partnerId: string, id: string): Promise<OverdueRecordRow | undefined> {
    const rows: OverdueRecordRow[] = await m.query(
      `SELECT ${RECORD_COLUMNS} FROM overdue_records o WHERE o.id = ? AND o.partner_id = ? FOR UPDATE`,
      [id, partnerId],
    );
    return rows[0];
  }

  async acknowledge(m: EntityManager, id: string): Promise<void> {
    await m.query('UPDATE overdue_records SET acknowledged_at = NOW(3) WHERE id = ? AND acknowledged_at IS NULL', [id]);
  }

  async ownedByAnother(partnerId: string, id: string): Promise<boolean> {
    const rows = await this.dataSource.query('SELECT 1 FROM overdue_records WHERE id = ? AND partner_id <> ?', [id, partnerId]);
    return rows.length > 0;
  }

  /** The user's report records in (created_at, id) order after `after`, with the partner: the compliance timeline's part. */
  async timelineOfUser(
    userId: string,
    after: TimelineKey | undefined,
    limit: number,
  ): Promise<Array<OverdueRecordRow & { partner_code: string }>> {
    const cond = timelineAfter('o.created_at', 'o.id', RECORD_KIND, after);
    return this.dataSource.query(
      `SELECT ${RECORD_COLUMNS}, p.code AS partner_code
         FROM overdue_records o JOIN partners p ON p.id = o.partner_id
        WHERE o.user_id = ? AND ${cond.sql}
        ORDER BY o.created_at, o.id LIMIT ?`,
      [userId, ...cond.params, limit],
    );
  }
}

export const RECORD_KIND = 'overdue.record';
