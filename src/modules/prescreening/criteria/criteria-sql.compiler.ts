import { CREDIT_RECORD_FIELD_BY_PATH, CREDIT_RECORD_FIELDS, CreditRecordField } from '../../credit-records/credit-record-fields';
import { CriteriaRule, CriteriaScalar } from './criteria-rule';
import { SQL_DECIMAL_TYPE } from './decimal';
import {
  compileExcludedUsers,
  compileExclusions,
  ExcludedUsers,
  EXCLUSION_REASONS,
  ExclusionContext,
  ExclusionReason,
  SqlFragment,
} from './exclusions';

export type { SqlFragment } from './exclusions';

/** One 0/1 column of the bulk evaluation: 1 when the rule failed / the exclusion applies, never NULL. */
export interface CompiledCheck extends SqlFragment {
  /** Column alias in `selectList`: `fail_<i>` for rule i, `excl_<reason>` for an exclusion. */
  column: string;
  reason: string;
  ruleIndex?: number;
  exclusion?: ExclusionReason;
  /** For an exclusion kept in a table: the same check in set form (the users it applies to). */
  excludedUsers?: ExcludedUsers;
}

/**
 * `reasons` in the form a range evaluation uses: each reason's checks on the record row (`0` when it has none) and,
 * separately, the exclusions kept in tables as sets of users whose reason column is then set to 1. For every user,
 * "row expression, or 1 when in one of the reason's sets" equals the reason's expression in `reasons`.
 */
export interface MarkedReasons {
  row: Array<SqlFragment & { reason: string }>;
  marks: Array<{ reasonIndex: number; exclusion: ExclusionReason; users: ExcludedUsers }>;
}

export interface CompiledCriteria {
  /** Rules first (in rule order), then the exclusions (in EXCLUSION_REASONS order) when a context was given. */
  checks: CompiledCheck[];
  /** `<check> AS fail_0, …, <check> AS excl_…, <eligible> AS eligible`, for a SELECT over `credit_records <alias>`. */
  selectList: SqlFragment;
  /** A condition true exactly for eligible rows, for a WHERE clause. */
  eligible: SqlFragment;
  /**
   * One 0/1 expression per distinct reason (rules sharing a reason merged with GREATEST), in evaluateRecord's
   * reason order: SUM() each to count users per reason, each user once per reason.
   */
  reasons: Array<SqlFragment & { reason: string }>;
  /** The same reasons, with the exclusions kept in tables as sets of users to mark (PrescreenRunsRepository.evaluateRange). */
  marked: MarkedReasons;
}

const ALIAS = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** Columns of credit_records that a derived field's expression may name; each is qualified with the alias. */
const RECORD_COLUMNS = new Set(['as_of', ...CREDIT_RECORD_FIELDS.filter((f) => !f.derived).map((f) => f.column)]);

/** The registry's column (or derived expression) with every credit_records column qualified by the alias. */
function columnExpression(field: CreditRecordField, alias: string): string {
  if (!field.derived) return `${alias}.${field.column}`;
  return field.column.replace(/\b[a-z_][a-z0-9_]*\b/g, (name) => (RECORD_COLUMNS.has(name) ? `${alias}.${name}` : name));
}

/**
 * How a field and a value meet in SQL so that MySQL compares exactly like the in-process evaluator:
 * decimals as DECIMAL (a text parameter against a DECIMAL column would be compared as a double), dates as DATE,
 * text as binary strings (no case folding, no PAD SPACE: 'a' ≠ 'A' ≠ 'A '), booleans as column <> 0.
 */
function operand(field: CreditRecordField, alias: string): string {
  const column = columnExpression(field, alias);
  switch (field.type) {
    case 'string':
      return `CAST(${column} AS BINARY)`;
    case 'boolean':
      return `(${column} <> 0)`;
    default:
      return column;
  }
}

function placeholder(field: CreditRecordField): string {
  switch (field.type) {
    case 'decimal':
      return `CAST(? AS ${SQL_DECIMAL_TYPE})`;
    case 'date':
      return 'CAST(? AS DATE)';
    case 'string':
      return 'CAST(? AS BINARY)';
    default:
      return '?';
  }
}

const parameter = (field: CreditRecordField, value: CriteriaScalar): unknown => (field.type === 'boolean' ? (value ? 1 : 0) : value);

const SQL_OPERATOR = { '>=': '>=', '<=': '<=', '=': '=', '!=': '<>' } as const;

/** The rule's condition: TRUE when it holds, FALSE or NULL otherwise. Values travel only as bound parameters. */
export function compileRule(rule: CriteriaRule, alias = 'cr'): SqlFragment {
  const field = CREDIT_RECORD_FIELD_BY_PATH.get(rule.field);
  if (!field) throw new Error(`unknown criteria field ${rule.field}`);
  const left = operand(field, alias);
  if (rule.op === 'in' || rule.op === 'not_in') {
    const values = rule.value as CriteriaScalar[];
    if (values.length === 0) throw new Error('in / not_in need at least one value');
    return {
      sql: `${left} ${rule.op === 'in' ? 'IN' : 'NOT IN'} (${values.map(() => placeholder(field)).join(', ')})`,
      params: values.map((v) => parameter(field, v)),
    };
  }
  return { sql: `${left} ${SQL_OPERATOR[rule.op]} ${placeholder(field)}`, params: [parameter(field, rule.value as CriteriaScalar)] };
}

/**
 * The bulk (SQL) evaluator of validated rules (parseCriteria) over `credit_records AS <alias>`:
 * every rule becomes `((cond) IS NOT TRUE)`, so a NULL value fails the rule exactly as in evaluateRecord, and
 * every exclusion (when `exclusions` is given) a 0/1 EXISTS probe. Sum the check columns to count reasons.
 *
 *   const c = compileCriteria(rules, { alias: 'cr', exclusions: { partnerId, delinquencyScope } });
 *   SELECT cr.user_id, ${c.selectList.sql} FROM credit_records cr WHERE cr.user_id > ? …  -- [...c.selectList.params, …]
 */
export function compileCriteria(
  rules: readonly CriteriaRule[],
  options: { alias?: string; exclusions?: ExclusionContext } = {},
): CompiledCriteria {
  const alias = options.alias ?? 'cr';
  if (!ALIAS.test(alias)) throw new Error('the table alias must be a plain identifier');

  const checks: CompiledCheck[] = rules.map((rule, i) => {
    const cond = compileRule(rule, alias);
    return { column: `fail_${i}`, reason: rule.reason, ruleIndex: i, sql: `((${cond.sql}) IS NOT TRUE)`, params: cond.params };
  });
  if (options.exclusions) {
    const compiled = compileExclusions(alias, options.exclusions);
    const sets = compileExcludedUsers(options.exclusions);
    for (const reason of EXCLUSION_REASONS) {
      checks.push({ column: `excl_${reason.toLowerCase()}`, reason, exclusion: reason, ...compiled[reason], excludedUsers: sets[reason] });
    }
  }

  const eligible: SqlFragment = checks.length
    ? { sql: `(${checks.map((c) => `(${c.sql}) = 0`).join(' AND ')})`, params: checks.flatMap((c) => c.params) }
    : { sql: '(1 = 1)', params: [] };
  const selectList: SqlFragment = {
    sql: [...checks.map((c) => `${c.sql} AS ${c.column}`), `${eligible.sql} AS eligible`].join(',\n  '),
    params: [...checks.flatMap((c) => c.params), ...eligible.params],
  };
  const reasons = [...new Set(checks.map((c) => c.reason))].map((reason) => {
    const same = checks.filter((c) => c.reason === reason);
    return same.length === 1
      ? { reason, sql: same[0].sql, params: same[0].params }
      : { reason, sql: `GREATEST(${same.map((c) => c.sql).join(', ')})`, params: same.flatMap((c) => c.params) };
  });
  const marked: MarkedReasons = { row: [], marks: [] };
  reasons.forEach(({ reason }, reasonIndex) => {
    const onRow = checks.filter((c) => c.reason === reason && !c.excludedUsers);
    marked.row.push(
      onRow.length === 0
        ? { reason, sql: '0', params: [] }
        : onRow.length === 1
          ? { reason, sql: onRow[0].sql, params: onRow[0].params }
          : { reason, sql: `GREATEST(${onRow.map((c) => c.sql).join(', ')})`, params: onRow.flatMap((c) => c.params) },
    );
    for (const c of checks) {
      if (c.reason === reason && c.excludedUsers) marked.marks.push({ reasonIndex, exclusion: c.exclusion!, users: c.excludedUsers });
    }
  });
  return { checks, selectList, eligible, reasons, marked };
}

/**
 * Reads a row selected with `selectList` back into the evaluator's terms: eligibility, distinct reasons (same
 * order as evaluateRecord), failed rule indexes and exclusions.
 */
export function evaluationFromRow(compiled: CompiledCriteria, row: Record<string, unknown>) {
  const failed = compiled.checks.filter((c) => Number(row[c.column]) === 1);
  return {
    eligible: Number(row.eligible) === 1,
    reasons: [...new Set(failed.map((c) => c.reason))],
    failedRules: failed.filter((c) => c.ruleIndex !== undefined).map((c) => c.ruleIndex as number),
    exclusions: failed.filter((c) => c.exclusion !== undefined).map((c) => c.exclusion as ExclusionReason),
  };
}
