import { Injectable } from '@nestjs/common';

import { decodeCursor, Page, toPage } from '../../common/pagination';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { AuditWriter } from '../audit/audit.writer';
import { NoticeSender } from './notice-sender';
import { NoticeRow, OverdueNoticesRepository } from './overdue-notices.repository';
import { noticePublicId, OverdueNoticeView, referralPublicId } from './overdue-record';

export type SendOutcome = 'sent' | 'already-sent' | 'not-pending' | 'missing';

const toView = (n: NoticeRow): OverdueNoticeView => ({
  id: noticePublicId(n.id),
  partner: { code: n.partner_code, name: n.partner_name },
  referralId: referralPublicId(n.referral_id),
  dpd: Number(n.dpd),
  overdueAmount: n.overdue_amount,
  noticeDate: n.notice_date,
  shareOn: n.share_on,
  status: n.status,
});

/** Notices to the user: their delivery (the `overdue.notice-send` job) and the applicant's list. */
@Injectable()
export class OverdueNoticesService {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly notices: OverdueNoticesRepository,
    private readonly sender: NoticeSender,
    private readonly audit: AuditWriter,
  ) {}

  /**
   * Delivers a pending notice once: the sender is called outside any transaction (it talks to the outside world),
   * then sent_at is set with its audit entry. A notice already delivered, or no longer pending (the user repaid before
   * the job ran), is not sent. A crash between the two sends it again: at least once, as the sender is told.
   */
  async send(noticeId: string): Promise<SendOutcome> {
    const n = await this.notices.find(noticeId);
    if (!n) return 'missing';
    if (n.sent_at) return 'already-sent';
    if (n.status !== 'PENDING') return 'not-pending';
    await this.sender.send({
      noticeId: noticePublicId(n.id),
      userId: n.user_id,
      partner: { code: n.partner_code, name: n.partner_name },
      dpd: Number(n.dpd),
      overdueAmount: n.overdue_amount,
      noticeDate: n.notice_date,
      shareOn: n.share_on,
    });
    return this.tx.run(async (m) => {
      if (!(await this.notices.markSent(m, n.id))) return 'already-sent' as const;
      await this.audit.append(
        {
          actorType: 'system',
          actorId: 'overdue-notice',
          action: 'overdue_notice.sent',
          resourceType: 'overdue_notice',
          resourceId: noticePublicId(n.id),
          subjectUserHash: this.audit.subjectHash(n.user_id),
          partnerCode: n.partner_code,
          outcome: 'SUCCESS',
          details: { referralId: referralPublicId(n.referral_id), shareOn: n.share_on },
        },
        m,
      );
      return 'sent' as const;
    });
  }

  /**
   * The job queue gave up delivering a notice: audited as a failure, so the compliance trail shows the notice was not
   * delivered (no clear text of the reason: it may hold the sender's answer). The notice stays PENDING and unsent, so
   * its report keeps waiting; an operator re-runs the outbox row once the sender works again.
   */
  async deliveryAbandoned(noticeId: string, requestId: string): Promise<void> {
    const n = await this.notices.find(noticeId);
    if (!n || n.sent_at || n.status !== 'PENDING') return;
    await this.audit.append({
      actorType: 'system',
      actorId: 'overdue-notice',
      action: 'overdue_notice.delivery_abandoned',
      resourceType: 'overdue_notice',
      resourceId: noticePublicId(n.id),
      subjectUserHash: this.audit.subjectHash(n.user_id),
      partnerCode: n.partner_code,
      requestId,
      outcome: 'FAILURE',
      details: { referralId: referralPublicId(n.referral_id), shareOn: n.share_on },
    });
  }

  async listForUser(userId: string, page: { limit: number; cursor?: string }): Promise<Page<OverdueNoticeView>> {
    const rows = await this.notices.pageOfUser(userId, decodeCursor(page.cursor), page.limit);
    return toPage(rows, page.limit, (r) => r.id, toView);
  }
}
