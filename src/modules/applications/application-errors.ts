import { ConflictError, DomainError } from '../../common/errors';

/** Why an application was refused; each is the problem `type` code the client sees (docs/DECISIONS.md). */
export const offerNotLive = () => new ConflictError('offer-not-live', 'The offer has expired, was withdrawn or was already used');
export const consentMismatch = () =>
  new ConflictError('consent-text-mismatch', 'The consent text version or digest is not the one this offer shows; read the consent again');
export const openApplication = () => new ConflictError('open-application', 'There is already an open application with this partner');
export const existingCardholder = () => new ConflictError('existing-cardholder', 'You already hold a card of this partner');
export const productUnavailable = () => new ConflictError('product-unavailable', 'This card product is not taking applications now');
export const applicationFinal = () => new ConflictError('application-final', 'The application already has a final outcome');

/** The product's referrals for today (UTC) are used up; retry-after points at the next UTC midnight. */
export class DailyCapReachedError extends DomainError {
  constructor(now = new Date()) {
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    super(
      409,
      'daily-referral-cap-reached',
      'Conflict with the current state',
      'This card product takes no more applications today',
      undefined,
      {
        'retry-after': String(Math.max(1, Math.ceil((midnight - now.getTime()) / 1000))),
      },
    );
  }
}

/** Anti-fraud refusals (403): the reason code is the problem type; the detail never says more than the rule. */
export class ApplicationRefusedError extends DomainError {
  constructor(code: 'identity-shared-across-accounts' | 'application-velocity-exceeded', detail: string) {
    super(403, code, 'Application refused', detail);
  }
}
