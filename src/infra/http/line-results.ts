import { DomainError, ValidationFailedError } from '../../common/errors';
import { ProblemDetails, toProblem } from './problem-details';

/**
 * Per-line answers of the partner bulk endpoints (API.md "Bulk decisions"): each line gets the status it would have
 * had on its own and, when that is an error, its problem details. One shape for every such endpoint (decisions,
 * delinquencies), so a line always reads the same.
 */
export interface LineResult<View> {
  line: number;
  referralId: string | null;
  status: number;
  view?: View;
  problem?: ProblemDetails;
  /** The error behind `problem`, for a single endpoint to throw (never serialised). */
  error?: DomainError;
}

export interface BulkLinesAnswer {
  results: { line: number; referralId: string | null; status: number; problem?: ProblemDetails }[];
}

export const lineSucceeded = <View>(line: number, referralId: string | null, status: number, view: View): LineResult<View> => ({
  line,
  referralId,
  status,
  view,
});

export const lineFailed = (line: number, referralId: string | null, error: DomainError, requestId: string): LineResult<never> => ({
  line,
  referralId,
  status: error.status,
  problem: toProblem(error, requestId).problem,
  error,
});

/** A bulk line that is not JSON at all. */
export const notJsonLine = () => new ValidationFailedError([{ field: null, message: 'is not valid JSON' }], 'The line is not valid JSON');

/** The bulk answer: views stay out of it (a line says only how it went). */
export const bulkLinesAnswer = (results: LineResult<unknown>[]): BulkLinesAnswer => ({
  results: results.map((r) =>
    r.problem
      ? { line: r.line, referralId: r.referralId, status: r.status, problem: r.problem }
      : { line: r.line, referralId: r.referralId, status: r.status },
  ),
});

/** A line that failed for a reason of ours: the client sees a 500 with the request id, the log has the cause. */
export class InternalLineError extends DomainError {
  constructor() {
    super(
      500,
      'internal-error',
      'Internal server error',
      'An unexpected error occurred; quote the instance (request id) when reporting it',
    );
  }
}
