import { DomainError } from '../../common/errors';

/** The compliance module's refusals (mapped to problem+json by the global filter). */
export type ComplianceErrorCode = 'exports-busy';

/** How long a refused export is told to wait: about what a large export takes to finish. */
const EXPORT_RETRY_AFTER_SECONDS = 30;

/** 429: every export slot of this process is streaming; one more would take a pooled connection from the API. */
export const exportsBusy = (limit: number) =>
  new DomainError(
    429,
    'exports-busy' satisfies ComplianceErrorCode,
    'Too many exports in progress',
    `${limit} exports are already streaming from this server; retry when one has finished`,
    undefined,
    { 'retry-after': String(EXPORT_RETRY_AFTER_SECONDS) },
  );
