import { BadRequestError, ConflictError, DomainError } from '../../common/errors';

/** The overdue module's refusals (mapped to problem+json by the global filter). */
export type OverdueErrorCode = 'overdue-scan-date-behind' | 'overdue-scan-in-progress';

/** 409: scans only move forward (API.md): an asOf before the latest completed scan's would rewrite shared history. */
export const scanDateBehind = (latest: string) =>
  new ConflictError('overdue-scan-date-behind' satisfies OverdueErrorCode, `asOf is before the latest completed scan's date (${latest})`);

/** 409: one scan at a time, so that two dates never interleave over the same cardholders. */
export const scanInProgress = () =>
  new ConflictError(
    'overdue-scan-in-progress' satisfies OverdueErrorCode,
    'Another overdue scan is queued or running; start this one when it has ended',
  );

/** 400: a business date after today (UTC) has no repayment state yet. */
export const scanDateInFuture = () =>
  new BadRequestError('asOf must not be in the future', [{ field: 'asOf', message: 'must not be after today (UTC)' }]);

/** 404 (API.md): a day's files exist once that date's overdue scan has completed; before, there is nothing to sign. */
export const reportFilesNotReady = () =>
  new DomainError(404, 'not-found', 'Not found', 'No overdue report file for this date: its overdue scan has not completed');
