import { Injectable, Logger } from '@nestjs/common';

/** What a notice says, for a sender to word and deliver to the user (an SMS, an app push). */
export interface OverdueNoticeMessage {
  /** `ntc_…` */
  noticeId: string;
  /** The platform user to reach (never logged). */
  userId: string;
  partner: { code: string; name: string };
  dpd: number;
  overdueAmount: string;
  noticeDate: string;
  shareOn: string;
}

/**
 * Delivers an overdue notice to the user. A real SMS or app-push sender implements this and is provided in its place
 * (OverdueModule). `send` may run more than once for one notice (at-least-once jobs): a sender that can should
 * de-duplicate by noticeId. Throwing makes the job retry; the report waits until a notice was delivered.
 */
export abstract class NoticeSender {
  abstract send(message: OverdueNoticeMessage): Promise<void>;
}

/** The delivery channel for now: one log line per notice, with ids and dates only (no personal data). */
@Injectable()
export class LoggingNoticeSender extends NoticeSender {
  private readonly logger = new Logger('OverdueNotice');

  async send(message: OverdueNoticeMessage): Promise<void> {
    this.logger.log(
      { noticeId: message.noticeId, partnerCode: message.partner.code, noticeDate: message.noticeDate, shareOn: message.shareOn },
      'overdue notice delivered',
    );
  }
}
