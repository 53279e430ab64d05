import { Foundation1763800000000 } from './1763800000000-foundation';
import { OutboxProbes1763800050000 } from './1763800050000-outbox-probes';
import { SigningKeysAndAuditChain1763800300000 } from './1763800300000-signing-keys-and-audit-chain';
import { Partners1763800400000 } from './1763800400000-partners';
import { CreditRecords1763800500000 } from './1763800500000-credit-records';
import { CardProductsAndExclusions1763800600000 } from './1763800600000-card-products-and-exclusions';
import { Prescreening1763800700000 } from './1763800700000-prescreening';
import { Referrals1763800800000 } from './1763800800000-referrals';
import { PartnerEventDelivery1763800830000 } from './1763800830000-partner-event-delivery';
import { Decisions1763800900000 } from './1763800900000-decisions';
import { ReferralSla1763800910000 } from './1763800910000-referral-sla';
import { OffersWriteCost1763801000000 } from './1763801000000-offers-write-cost';
import { ReferralApplyRequest1763801100000 } from './1763801100000-referral-apply-request';
import { RepaymentStates1763801210000 } from './1763801210000-repayment-states';
import { OverdueSharing1763801220000 } from './1763801220000-overdue-sharing';
import { ReferralFileSealing1763801230000 } from './1763801230000-referral-file-sealing';
import { PartnerDelinquencyReports1763801250000 } from './1763801250000-partner-delinquency-reports';
import { CardholdersScanIndex1763801260000 } from './1763801260000-cardholders-scan-index';
import { OverdueReportFiles1763801270000 } from './1763801270000-overdue-report-files';
import { PublicIdLegacyCeilings1763801300000 } from './1763801300000-public-id-legacy-ceilings';
import { AuditSearchIndexes1763801510000 } from './1763801510000-audit-search-indexes';
import { OutboxReliability1763801600000 } from './1763801600000-outbox-reliability';
import { IdempotencyAnswerStates1763801750000 } from './1763801750000-idempotency-answer-states';
import { AuditInboxProtection1763801760000 } from './1763801760000-audit-inbox-protection';
import { AuditArchives1763801800000 } from './1763801800000-audit-archives';

/** Every migration, in order. A new migration is added here (explicit beats a glob that silently misses one). */
export const MIGRATIONS = [
  Foundation1763800000000,
  OutboxProbes1763800050000,
  SigningKeysAndAuditChain1763800300000,
  Partners1763800400000,
  CreditRecords1763800500000,
  CardProductsAndExclusions1763800600000,
  Prescreening1763800700000,
  Referrals1763800800000,
  PartnerEventDelivery1763800830000,
  Decisions1763800900000,
  ReferralSla1763800910000,
  OffersWriteCost1763801000000,
  ReferralApplyRequest1763801100000,
  RepaymentStates1763801210000,
  OverdueSharing1763801220000,
  ReferralFileSealing1763801230000,
  PartnerDelinquencyReports1763801250000,
  CardholdersScanIndex1763801260000,
  OverdueReportFiles1763801270000,
  PublicIdLegacyCeilings1763801300000,
  AuditSearchIndexes1763801510000,
  OutboxReliability1763801600000,
  IdempotencyAnswerStates1763801750000,
  AuditInboxProtection1763801760000,
  AuditArchives1763801800000,
];
