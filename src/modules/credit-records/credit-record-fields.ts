/**
 * The one registry of credit-record fields that card-product criteria may name: the dotted path of the
 * platform's credit record line (API.md), the column of `credit_records` that holds it, and its type.
 * Ingest writes these columns, the SQL criteria compiler reads them, the in-process evaluator reads the same
 * values from a record: one definition for all three.
 */
export type CreditFieldType = 'int' | 'decimal' | 'string' | 'date' | 'boolean';

export interface CreditRecordField {
  path: string;
  /** Column of credit_records, or a SQL expression over them for derived fields. */
  column: string;
  type: CreditFieldType;
  /** Derived fields are computed, not ingested. */
  derived?: boolean;
}

export const CREDIT_RECORD_FIELDS: readonly CreditRecordField[] = [
  { path: 'score', column: 'score', type: 'int' },
  { path: 'riskGrade', column: 'risk_grade', type: 'string' },
  { path: 'creditLimit', column: 'credit_limit', type: 'decimal' },
  { path: 'balance', column: 'balance', type: 'decimal' },
  { path: 'accountOpenedAt', column: 'account_opened_at', type: 'date' },
  { path: 'identity.kycLevel', column: 'kyc_level', type: 'int' },
  { path: 'repayment.onTimeCount24m', column: 'on_time_count_24m', type: 'int' },
  { path: 'repayment.overdueCount24m', column: 'overdue_count_24m', type: 'int' },
  { path: 'repayment.maxDpd24m', column: 'max_dpd_24m', type: 'int' },
  { path: 'repayment.currentDpd', column: 'current_dpd', type: 'int' },
  { path: 'repayment.overdueAmount', column: 'overdue_amount', type: 'decimal' },
  { path: 'consumption.orders12m', column: 'orders_12m', type: 'int' },
  { path: 'consumption.gmv12m', column: 'gmv_12m', type: 'decimal' },
  { path: 'consumption.returnRate12m', column: 'return_rate_12m', type: 'decimal' },
  { path: 'consumption.avgReviewScore', column: 'avg_review_score', type: 'decimal' },
  { path: 'consumption.addressStable12m', column: 'address_stable_12m', type: 'boolean' },
  { path: 'device.accountsOnDevice', column: 'accounts_on_device', type: 'int' },
  // Whole months from accountOpenedAt to the record's asOf, rounded down (API.md).
  { path: 'accountAgeMonths', column: 'TIMESTAMPDIFF(MONTH, account_opened_at, as_of)', type: 'int', derived: true },
];

export const CREDIT_RECORD_FIELD_BY_PATH: ReadonlyMap<string, CreditRecordField> = new Map(CREDIT_RECORD_FIELDS.map((f) => [f.path, f]));
