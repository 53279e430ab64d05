import { FieldError } from '../../../common/errors';
import { LineResult, USER_ID_PATTERN } from './credit-record-line';
import { compileSpec, INT32_MAX, Spec } from './line-validation';

/** A repayment status update between snapshots (API.md `POST /v1/platform/repayment-status`). */
export interface RepaymentStatusLine {
  userId: string;
  currentDpd: number;
  overdueAmount: string;
  asOf: string;
}

export const REPAYMENT_STATUS_LINE_SPEC: Spec = {
  kind: 'object',
  fields: {
    userId: { kind: 'string', min: 1, max: 64, pattern: USER_ID_PATTERN, patternMessage: 'must be 1–64 characters of [A-Za-z0-9._:-]' },
    currentDpd: { kind: 'int', min: 0, max: INT32_MAX },
    overdueAmount: { kind: 'money' },
    asOf: { kind: 'date' },
  },
};

const checkRepaymentStatusLine = compileSpec(REPAYMENT_STATUS_LINE_SPEC);

export function validateRepaymentStatusLine(value: unknown, latestAsOf: string): LineResult<RepaymentStatusLine> {
  const errors: FieldError[] = [];
  checkRepaymentStatusLine(value, errors);
  if (errors.length) return { ok: false, errors };
  const line = value as RepaymentStatusLine;
  if (line.asOf > latestAsOf) return { ok: false, errors: [{ field: 'asOf', message: 'must not be in the future' }] };
  return { ok: true, value: line };
}
