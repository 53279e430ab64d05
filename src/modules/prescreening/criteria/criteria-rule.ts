import { FieldError, ValidationFailedError } from '../../../common/errors';
import { CREDIT_RECORD_FIELD_BY_PATH, CreditFieldType } from '../../credit-records/credit-record-fields';
import { isCalendarDate } from './calendar';
import { DECIMAL_LITERAL, decimalFromNumber } from './decimal';
import { EXCLUSION_REASONS } from './exclusions';

/**
 * A card product's criteria: a list of rules, every one of which must hold for a user to be eligible.
 * This file is the one definition both evaluators (criteria-sql.compiler.ts, criteria.evaluator.ts) consume.
 */
export const CRITERIA_OPS = ['>=', '<=', '=', '!=', 'in', 'not_in'] as const;
export type CriteriaOp = (typeof CRITERIA_OPS)[number];

/**
 * A validated value: int → number (safe integer), decimal → decimal literal text ("15000.00"; numbers are
 * converted), string → text, date → "YYYY-MM-DD", boolean → boolean.
 */
export type CriteriaScalar = number | string | boolean;

export interface CriteriaRule {
  /** A path of the credit-record field registry (credit-record-fields.ts). */
  field: string;
  op: CriteriaOp;
  /** A scalar for >=, <=, =, !=; a non-empty array for in / not_in. */
  value: CriteriaScalar | CriteriaScalar[];
  /** Reason code reported when this rule fails. */
  reason: string;
}

export const MAX_RULES = 64;
export const MAX_LIST_VALUES = 100;
export const MAX_STRING_VALUE = 64;
export const REASON_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;

/**
 * Text is compared byte for byte and only for (in)equality: ordering text under a collation would make the two
 * evaluators disagree (case folding, trailing spaces), and grades like "A" < "B" are not a meaningful scale.
 */
const OPS_BY_TYPE: Record<CreditFieldType, readonly CriteriaOp[]> = {
  int: CRITERIA_OPS,
  decimal: CRITERIA_OPS,
  date: CRITERIA_OPS,
  string: ['=', '!=', 'in', 'not_in'],
  boolean: ['=', '!=', 'in', 'not_in'],
};

const TYPE_WORDING: Record<CreditFieldType, string> = {
  int: 'an integer',
  decimal: 'a decimal (string like "15000.00" or a number) with at most 28 integer and 10 fractional digits',
  string: `a string of 1 to ${MAX_STRING_VALUE} characters`,
  date: 'a date YYYY-MM-DD',
  boolean: 'true or false',
};

const RULE_KEYS = ['field', 'op', 'value', 'reason'];
const isList = (op: CriteriaOp) => op === 'in' || op === 'not_in';
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value in its canonical form when it is one of `type`, else undefined. */
export function normaliseScalar(type: CreditFieldType, value: unknown): CriteriaScalar | undefined {
  switch (type) {
    case 'int':
      return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
    case 'decimal':
      if (typeof value === 'number') return decimalFromNumber(value);
      return typeof value === 'string' && DECIMAL_LITERAL.test(value) ? value : undefined;
    case 'string':
      return typeof value === 'string' && value.length >= 1 && value.length <= MAX_STRING_VALUE ? value : undefined;
    case 'date':
      return typeof value === 'string' && isCalendarDate(value) ? value : undefined;
    case 'boolean':
      return typeof value === 'boolean' ? value : undefined;
  }
}

/**
 * Validates criteria as submitted (unknown input) and returns them in canonical form, or every problem found,
 * each named by its position: `criteria[2].op`. Never throws.
 */
export function validateCriteria(input: unknown, path = 'criteria'): { rules: CriteriaRule[]; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const rules: CriteriaRule[] = [];
  if (!Array.isArray(input)) return { rules, errors: [{ field: path, message: 'must be an array of rules' }] };
  if (input.length > MAX_RULES) return { rules, errors: [{ field: path, message: `may hold at most ${MAX_RULES} rules` }] };

  input.forEach((raw, i) => {
    const at = `${path}[${i}]`;
    if (!isRecord(raw)) {
      errors.push({ field: at, message: 'must be an object { field, op, value, reason }' });
      return;
    }
    const before = errors.length;
    for (const key of Object.keys(raw)) {
      if (!RULE_KEYS.includes(key)) errors.push({ field: `${at}.${key}`, message: 'is not an accepted field' });
    }
    const { field, op, value, reason } = raw;

    const definition = typeof field === 'string' ? CREDIT_RECORD_FIELD_BY_PATH.get(field) : undefined;
    if (!definition) {
      errors.push({ field: `${at}.field`, message: `must be a criteria field (${[...CREDIT_RECORD_FIELD_BY_PATH.keys()].join(', ')})` });
    }
    const knownOp = typeof op === 'string' && (CRITERIA_OPS as readonly string[]).includes(op) ? (op as CriteriaOp) : undefined;
    if (!knownOp) errors.push({ field: `${at}.op`, message: `must be one of ${CRITERIA_OPS.join(', ')}` });
    if (typeof reason !== 'string' || !REASON_CODE.test(reason)) {
      errors.push({ field: `${at}.reason`, message: 'must be an upper-case code matching [A-Z][A-Z0-9_]{1,63}' });
    } else if ((EXCLUSION_REASONS as readonly string[]).includes(reason)) {
      errors.push({ field: `${at}.reason`, message: 'is reserved for an exclusion; choose another code' });
    }

    let normalised: CriteriaScalar | CriteriaScalar[] | undefined;
    if (definition && knownOp) {
      if (!OPS_BY_TYPE[definition.type].includes(knownOp)) {
        errors.push({
          field: `${at}.op`,
          message: `${knownOp} is not defined for the ${definition.type} field ${definition.path}; use one of ${OPS_BY_TYPE[definition.type].join(', ')}`,
        });
      } else if (isList(knownOp)) {
        if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LIST_VALUES) {
          errors.push({ field: `${at}.value`, message: `must be a non-empty array of at most ${MAX_LIST_VALUES} values for ${knownOp}` });
        } else {
          const items = value.map((v) => normaliseScalar(definition.type, v));
          items.forEach((item, j) => {
            if (item === undefined) errors.push({ field: `${at}.value[${j}]`, message: `must be ${TYPE_WORDING[definition.type]}` });
          });
          normalised = items as CriteriaScalar[];
        }
      } else {
        normalised = normaliseScalar(definition.type, value);
        if (normalised === undefined) {
          errors.push({ field: `${at}.value`, message: `must be ${TYPE_WORDING[definition.type]} for ${knownOp}` });
        }
      }
    }

    if (errors.length === before && definition && knownOp && normalised !== undefined) {
      rules.push({ field: definition.path, op: knownOp, value: normalised, reason: reason as string });
    }
  });
  return { rules, errors };
}

/** validateCriteria, throwing a 400 ValidationFailedError with every problem. */
export function parseCriteria(input: unknown, path = 'criteria'): CriteriaRule[] {
  const { rules, errors } = validateCriteria(input, path);
  if (errors.length) throw new ValidationFailedError(errors, 'The criteria are not valid');
  return rules;
}
