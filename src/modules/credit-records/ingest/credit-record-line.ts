import { FieldError } from '../../../common/errors';
import { compileSpec, INT32_MAX, Spec } from './line-validation';

/** One credit record snapshot as the platform sends it (API.md, "Credit record line"). */
export interface CreditRecordLine {
  userId: string;
  asOf: string;
  identity: { name: string; nationalId: string; phone: string; kycLevel: number };
  score: number;
  riskGrade: string;
  creditLimit: string;
  balance: string;
  accountOpenedAt: string;
  repayment: { onTimeCount24m: number; overdueCount24m: number; maxDpd24m: number; currentDpd: number; overdueAmount: string };
  consumption: {
    orders12m: number;
    gmv12m: string;
    returnRate12m: number;
    avgReviewScore: number;
    topCategories: string[];
    addressStable12m: boolean;
  };
  device: { accountsOnDevice: number };
}

/** Platform user ids are opaque, but they key partitions and user-id ranges: a bounded, printable alphabet. */
export const USER_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

const count = { kind: 'int', min: 0, max: INT32_MAX } as const;

/**
 * Every member is required: criteria and referral files read all of them, and a partial snapshot would
 * overwrite a complete one with holes.
 */
export const CREDIT_RECORD_LINE_SPEC: Spec = {
  kind: 'object',
  fields: {
    userId: { kind: 'string', min: 1, max: 64, pattern: USER_ID_PATTERN, patternMessage: 'must be 1–64 characters of [A-Za-z0-9._:-]' },
    asOf: { kind: 'date' },
    identity: {
      kind: 'object',
      fields: {
        name: { kind: 'string', min: 1, max: 200 },
        nationalId: { kind: 'string', min: 4, max: 32, pattern: /^[0-9A-Za-z]+$/, patternMessage: 'must be letters and digits only' },
        phone: {
          kind: 'string',
          min: 5,
          max: 32,
          pattern: /^\+?[0-9][0-9 -]{3,30}$/,
          patternMessage: 'must be digits, optionally with a leading + and spaces or dashes',
        },
        kycLevel: { kind: 'int', min: 0, max: 9 },
      },
    },
    score: { kind: 'int', min: 0, max: 1000 },
    riskGrade: {
      kind: 'string',
      min: 1,
      max: 8,
      pattern: /^[A-Z][A-Z0-9+-]{0,7}$/,
      patternMessage: 'must be an upper-case grade such as "A" or "B+"',
    },
    creditLimit: { kind: 'money' },
    balance: { kind: 'money' },
    accountOpenedAt: { kind: 'date' },
    repayment: {
      kind: 'object',
      fields: {
        onTimeCount24m: count,
        overdueCount24m: count,
        maxDpd24m: count,
        currentDpd: count,
        overdueAmount: { kind: 'money' },
      },
    },
    consumption: {
      kind: 'object',
      fields: {
        orders12m: count,
        gmv12m: { kind: 'money' },
        returnRate12m: { kind: 'number', min: 0, max: 1, places: 4 },
        avgReviewScore: { kind: 'number', min: 0, max: 5, places: 2 },
        topCategories: { kind: 'stringArray', maxItems: 20, item: { min: 1, max: 64 } },
        addressStable12m: { kind: 'boolean' },
      },
    },
    device: { kind: 'object', fields: { accountsOnDevice: count } },
  },
};

const checkCreditRecordLine = compileSpec(CREDIT_RECORD_LINE_SPEC);

/** The latest asOf accepted: tomorrow in UTC, since the platform's day may start before UTC's. */
export function latestAcceptedAsOf(now: Date = new Date()): string {
  return new Date(now.getTime() + 86_400_000).toISOString().slice(0, 10);
}

export type LineResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/**
 * Validates one parsed line. `latestAsOf` guards against a far-future asOf, which would otherwise win over
 * every later real snapshot forever.
 */
export function validateCreditRecordLine(value: unknown, latestAsOf: string): LineResult<CreditRecordLine> {
  const errors: FieldError[] = [];
  checkCreditRecordLine(value, errors);
  if (errors.length) return { ok: false, errors };
  const line = value as CreditRecordLine;
  if (line.asOf > latestAsOf) errors.push({ field: 'asOf', message: 'must not be in the future' });
  if (line.accountOpenedAt > line.asOf) errors.push({ field: 'accountOpenedAt', message: 'must not be after asOf' });
  return errors.length ? { ok: false, errors } : { ok: true, value: line };
}
