import { keyOf, toPublicId } from '../../common/public-id';

/** Public ids (API.md): `ovd_…` report record, `ntc_…` notice, `osc_…` scan. Formatted and parsed only here. */
export const recordPublicId = (id: string | number) => toPublicId('ovd', id);
export const recordKeyOf = (publicId: string) => keyOf('ovd', publicId);
export const noticePublicId = (id: string | number) => toPublicId('ntc', id);
export const scanPublicId = (id: string | number) => toPublicId('osc', id);
export const scanKeyOf = (publicId: string) => keyOf('osc', publicId);
export const referralPublicId = (id: string | number) => toPublicId('ref', id);

export const RECORD_STATUSES = ['NEW', 'UPDATED', 'CURED'] as const;
export type RecordStatus = (typeof RECORD_STATUSES)[number];
export const NOTICE_STATUSES = ['PENDING', 'SHARED', 'CANCELLED'] as const;
export type NoticeStatus = (typeof NOTICE_STATUSES)[number];

/**
 * DPD buckets and their Metro 2-style account status (API.md), highest first: one table for the scan's SQL and for
 * JS. Under 30 days Metro 2 reports the account as current ("11"), and so does a cure.
 */
export const DPD_BUCKETS: ReadonlyArray<{ from: number; bucket: string; accountStatus: string }> = [
  { from: 180, bucket: '180+', accountStatus: '84' },
  { from: 150, bucket: '150-179', accountStatus: '83' },
  { from: 120, bucket: '120-149', accountStatus: '82' },
  { from: 90, bucket: '90-119', accountStatus: '80' },
  { from: 60, bucket: '60-89', accountStatus: '78' },
  { from: 30, bucket: '30-59', accountStatus: '71' },
  { from: 1, bucket: '1-29', accountStatus: '11' },
];
export const CURRENT_ACCOUNT_STATUS = '11';

export function dpdBucket(dpd: number): string | null {
  return DPD_BUCKETS.find((b) => dpd >= b.from)?.bucket ?? null;
}

export function accountStatus(dpd: number): string {
  return DPD_BUCKETS.find((b) => dpd >= b.from)?.accountStatus ?? CURRENT_ACCOUNT_STATUS;
}

/** The same two functions as SQL over an integer expression (NULL bucket for 0). */
export const dpdBucketSql = (dpd: string) =>
  `(CASE ${DPD_BUCKETS.map((b) => `WHEN ${dpd} >= ${b.from} THEN '${b.bucket}'`).join(' ')} ELSE NULL END)`;
export const accountStatusSql = (dpd: string) =>
  `(CASE ${DPD_BUCKETS.map((b) => `WHEN ${dpd} >= ${b.from} THEN '${b.accountStatus}'`).join(' ')} ELSE '${CURRENT_ACCOUNT_STATUS}' END)`;

/** The field paths an overdue report discloses (the disclosure ledger keeps paths, never values). */
export const OVERDUE_REPORT_FIELDS = [
  'overdueReport.status',
  'overdueReport.dpd',
  'overdueReport.dpdBucket',
  'overdueReport.accountStatus',
  'overdueReport.overdueAmount',
  'overdueReport.overdueSince',
  'overdueReport.asOf',
  'overdueReport.noticeSentAt',
];

/** An overdue report record as stored (dates YYYY-MM-DD, money as DECIMAL text). */
export interface OverdueRecordRow {
  id: string;
  partner_id: string;
  referral_id: string;
  user_id: string;
  user_ref: string;
  status: RecordStatus;
  dpd: number;
  dpd_bucket: string | null;
  account_status: string;
  overdue_amount: string;
  overdue_since: string;
  state_as_of: string;
  notice_id: string;
  notice_sent_at: Date;
  report_date: string;
  scan_id: string;
  created_at: Date;
  acknowledged_at: Date | null;
}

/** The overdue report record of API.md, as partners receive it (list, SET, daily file). */
export interface OverdueRecordView {
  id: string;
  referralId: string;
  userRef: string;
  status: RecordStatus;
  dpd: number;
  dpdBucket: string | null;
  accountStatus: string;
  overdueAmount: string;
  overdueSince: string;
  asOf: string;
  noticeSentAt: string;
  reportDate: string;
  createdAt: string;
  acknowledgedAt: string | null;
}

export function toRecordView(r: OverdueRecordRow): OverdueRecordView {
  return {
    id: recordPublicId(r.id),
    referralId: referralPublicId(r.referral_id),
    userRef: r.user_ref,
    status: r.status,
    dpd: Number(r.dpd),
    dpdBucket: r.dpd_bucket,
    accountStatus: r.account_status,
    overdueAmount: r.overdue_amount,
    overdueSince: r.overdue_since,
    asOf: r.state_as_of,
    noticeSentAt: new Date(r.notice_sent_at).toISOString(),
    reportDate: r.report_date,
    createdAt: new Date(r.created_at).toISOString(),
    acknowledgedAt: r.acknowledged_at ? new Date(r.acknowledged_at).toISOString() : null,
  };
}

/** An operator's view of a record: the partner's view plus whose it is. */
export interface AdminOverdueRecordView extends OverdueRecordView {
  partnerCode: string;
}

/** `GET /v1/me/overdue-notices` (API.md). */
export interface OverdueNoticeView {
  id: string;
  partner: { code: string; name: string };
  referralId: string;
  dpd: number;
  overdueAmount: string;
  noticeDate: string;
  shareOn: string;
  status: NoticeStatus;
}

/** The SELECT list of a record row with its dates as text (DATE columns would otherwise come back as Dates). */
export const RECORD_COLUMNS = `o.id, o.partner_id, o.referral_id, o.user_id, o.user_ref, o.status, o.dpd, o.dpd_bucket, o.account_status,
  o.overdue_amount, DATE_FORMAT(o.overdue_since, '%Y-%m-%d') AS overdue_since, DATE_FORMAT(o.state_as_of, '%Y-%m-%d') AS state_as_of,
  o.notice_id, o.notice_sent_at, DATE_FORMAT(o.report_date, '%Y-%m-%d') AS report_date, o.scan_id, o.created_at, o.acknowledged_at`;
