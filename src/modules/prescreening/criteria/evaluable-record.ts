import { CREDIT_RECORD_FIELDS, CreditRecordField } from '../../credit-records/credit-record-fields';
import { monthsBetween, toDateText } from './calendar';
import { DECIMAL_LITERAL } from './decimal';

/** A field value in the form the in-process evaluator compares: see EvaluableRecord.values. */
export type FieldValue = number | string | boolean | null;

/**
 * One credit record as the in-process evaluator reads it: values by registry path, typed as the registry says
 * (int → number, decimal → decimal literal text, date → "YYYY-MM-DD", boolean, string), null when unknown.
 */
export interface EvaluableRecord {
  /** The record's asOf (YYYY-MM-DD): derived fields are measured up to it. */
  asOf: string;
  values: Readonly<Record<string, FieldValue | undefined>>;
}

/**
 * Derived fields computed in process, mirroring the SQL expression in the registry's `column`.
 * accountAgeMonths ↔ TIMESTAMPDIFF(MONTH, account_opened_at, as_of).
 */
const DERIVATIONS: Record<string, (record: EvaluableRecord) => FieldValue> = {
  accountAgeMonths: (r) => {
    const opened = r.values.accountOpenedAt;
    return typeof opened === 'string' ? monthsBetween(opened, r.asOf) : null;
  },
};

// A derived field added to the registry without its in-process twin would silently disagree with SQL: refuse early.
for (const field of CREDIT_RECORD_FIELDS) {
  if (field.derived && !DERIVATIONS[field.path]) throw new Error(`derived criteria field ${field.path} has no in-process derivation`);
}

/** The value of a registry field for a record (derived fields computed). */
export function fieldValue(field: CreditRecordField, record: EvaluableRecord): FieldValue {
  if (field.derived) return DERIVATIONS[field.path](record);
  return record.values[field.path] ?? null;
}

function columnValue(field: CreditRecordField, raw: unknown): FieldValue {
  if (raw === null || raw === undefined) return null;
  switch (field.type) {
    case 'int':
      return Number(raw);
    case 'decimal': {
      // mysql2 returns DECIMAL as text (a number only with decimalNumbers on, which this project never sets).
      const text = String(raw);
      if (!DECIMAL_LITERAL.test(text)) throw new Error(`column ${field.column} holds a value that is not a decimal`);
      return text;
    }
    case 'date':
      return toDateText(raw as Date | string);
    case 'boolean':
      // TINYINT(1): any non-zero value is true, as the SQL compiler's (col <> 0).
      return Number(raw) !== 0;
    case 'string':
      return String(raw);
  }
}

/** A `credit_records` (or `credit_record_snapshots`) row, as selected with `SELECT *`, in evaluable form. */
export function evaluableRecordFromRow(row: Record<string, unknown>): EvaluableRecord {
  const values: Record<string, FieldValue> = {};
  for (const field of CREDIT_RECORD_FIELDS) {
    if (!field.derived) values[field.path] = columnValue(field, row[field.column]);
  }
  return { asOf: toDateText(row.as_of as Date | string), values };
}

/** The non-derived columns of credit_records the evaluators read (plus user_id, as_of): a narrower SELECT list. */
export const EVALUATED_COLUMNS: readonly string[] = [
  'user_id',
  'as_of',
  ...CREDIT_RECORD_FIELDS.filter((f) => !f.derived).map((f) => f.column),
];
