import { Injectable } from '@nestjs/common';

import { NotFoundError } from '../../common/errors';
import { decodeCursor, Page, toPage } from '../../common/pagination';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { AuditWriter } from '../audit/audit.writer';
import { partnerAuditFields, RequestActor } from '../auth/actor.decorator';
import { AdminOverdueRecordView, OverdueRecordView, recordKeyOf, recordPublicId, referralPublicId, toRecordView } from './overdue-record';
import { OverdueRecordsRepository, RecordFilter } from './overdue-records.repository';

const HOUR_MS = 3_600_000;

/** Overdue report records after the scan: the partner's list and acknowledgements, the operators' follow-up list. */
@Injectable()
export class OverdueReportsService {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly records: OverdueRecordsRepository,
    private readonly audit: AuditWriter,
  ) {}

  async listForPartner(partnerId: string, query: RecordFilter & { limit: number; cursor?: string }): Promise<Page<OverdueRecordView>> {
    const rows = await this.records.pageOfPartner(partnerId, query, decodeCursor(query.cursor), query.limit);
    return toPage(rows, query.limit, (r) => r.id, toRecordView);
  }

  /**
   * The bank confirms receipt of one record. Idempotent: a repeat answers the record as acknowledged the first time,
   * and only the first is audited (it is the state change). Another partner's record is 404 like a missing one, with
   * a DENIED audit entry so probing shows.
   */
  async acknowledge(actor: RequestActor, publicId: string): Promise<OverdueRecordView> {
    const partnerId = actor.principal.type === 'partner' ? actor.principal.partnerId : undefined;
    const key = recordKeyOf(publicId);
    if (!partnerId || !key) throw new NotFoundError('overdue report');
    const view = await this.tx.run(async (m) => {
      const record = await this.records.lockOfPartner(m, partnerId, key);
      if (!record) return undefined;
      if (record.acknowledged_at) return toRecordView(record);
      await this.records.acknowledge(m, record.id);
      await this.audit.append(
        {
          ...partnerAuditFields(actor),
          action: 'overdue_report.acknowledged',
          resourceType: 'overdue_report',
          resourceId: recordPublicId(record.id),
          subjectUserHash: this.audit.subjectHash(record.user_id),
          outcome: 'SUCCESS',
          httpStatus: 200,
          details: { referralId: referralPublicId(record.referral_id) },
        },
        m,
      );
      const acknowledged = await this.records.lockOfPartner(m, partnerId, key);
      return toRecordView(acknowledged!);
    });
    if (view) return view;
    if (await this.records.ownedByAnother(partnerId, key)) {
      await this.audit.append({
        ...partnerAuditFields(actor),
        action: 'overdue_report.access.denied',
        resourceType: 'overdue_report',
        resourceId: recordPublicId(key),
        outcome: 'DENIED',
        httpStatus: 404,
      });
    }
    throw new NotFoundError('overdue report');
  }

  /** Records for operators, e.g. those not acknowledged within 72 hours (`unacknowledged=true&olderThanHours=72`). */
  async listForOperators(query: {
    unacknowledged?: boolean;
    olderThanHours?: number;
    partner?: string;
    limit: number;
    cursor?: string;
  }): Promise<Page<AdminOverdueRecordView>> {
    const createdBefore = query.olderThanHours === undefined ? undefined : new Date(Date.now() - query.olderThanHours * HOUR_MS);
    const rows = await this.records.pageForOperators(
      { unacknowledged: query.unacknowledged, createdBefore, partnerCode: query.partner },
      decodeCursor(query.cursor),
      query.limit,
    );
    return toPage(
      rows,
      query.limit,
      (r) => r.id,
      (r) => ({ ...toRecordView(r), partnerCode: r.partner_code }),
    );
  }
}
