import { CREDIT_RECORD_FIELD_BY_PATH, CreditFieldType } from '../../credit-records/credit-record-fields';
import { CriteriaRule, CriteriaScalar } from './criteria-rule';
import { compareDecimal } from './decimal';
import { EvaluableRecord, FieldValue, fieldValue } from './evaluable-record';
import { evaluateExclusions, ExclusionContext, ExclusionFacts, ExclusionReason } from './exclusions';

export interface Evaluation {
  eligible: boolean;
  /** Distinct reason codes: failed rules' reasons in rule order, then exclusions in EXCLUSION_REASONS order. */
  reasons: string[];
  /** Indexes of the failed rules. */
  failedRules: number[];
  exclusions: ExclusionReason[];
}

/** -1, 0 or 1; both operands are non-null and of the field's type. */
function compare(type: CreditFieldType, a: Exclude<FieldValue, null>, b: CriteriaScalar): number {
  switch (type) {
    case 'int':
      return a < b ? -1 : a > b ? 1 : 0;
    case 'decimal':
      return compareDecimal(a as string, b as string);
    case 'date': // YYYY-MM-DD text orders like the dates
      return a < b ? -1 : a > b ? 1 : 0;
    case 'string':
    case 'boolean':
      // Equality only (criteria-rule.ts refuses ordering operators for these): code units, like SQL's binary compare.
      return a === b ? 0 : 1;
  }
}

/** Whether the rule holds. A NULL (unknown) value fails every operator, != and not_in included. */
export function ruleHolds(rule: CriteriaRule, record: EvaluableRecord): boolean {
  const field = CREDIT_RECORD_FIELD_BY_PATH.get(rule.field);
  if (!field) throw new Error(`unknown criteria field ${rule.field}`);
  const value = fieldValue(field, record);
  if (value === null) return false;
  const cmp = (b: CriteriaScalar) => compare(field.type, value, b);
  switch (rule.op) {
    case '>=':
      return cmp(rule.value as CriteriaScalar) >= 0;
    case '<=':
      return cmp(rule.value as CriteriaScalar) <= 0;
    case '=':
      return cmp(rule.value as CriteriaScalar) === 0;
    case '!=':
      return cmp(rule.value as CriteriaScalar) !== 0;
    case 'in':
      return (rule.value as CriteriaScalar[]).some((v) => cmp(v) === 0);
    case 'not_in':
      return (rule.value as CriteriaScalar[]).every((v) => cmp(v) !== 0);
  }
}

/**
 * The in-process evaluator: one record against validated rules (parseCriteria), plus the exclusions when
 * `exclusions` is given. Agrees with compileCriteria's SQL on eligibility and reasons (criteria-agreement.spec.ts).
 */
export function evaluateRecord(
  rules: readonly CriteriaRule[],
  record: EvaluableRecord,
  exclusions?: { context: ExclusionContext; facts: ExclusionFacts },
): Evaluation {
  const failedRules: number[] = [];
  rules.forEach((rule, i) => {
    if (!ruleHolds(rule, record)) failedRules.push(i);
  });
  const currentDpd = record.values['repayment.currentDpd'];
  const excluded = exclusions
    ? evaluateExclusions(exclusions.context, exclusions.facts, typeof currentDpd === 'number' ? currentDpd : null)
    : [];
  const reasons = [...new Set([...failedRules.map((i) => rules[i].reason), ...excluded])];
  return { eligible: reasons.length === 0, reasons, failedRules, exclusions: excluded };
}
