import { DomainError } from '../../common/errors';

/**
 * A change of what a product shares without a new consent text: the text must name every field it shares (API.md), and
 * an application is checked against the text's version and digest only, so a new set of fields under an unchanged
 * text would let new offers share more than the text the applicant agreed to.
 */
export const consentTextUnchanged = () =>
  new DomainError(
    409,
    'consent-text-unchanged',
    'Conflict with the current state',
    'A change of sharedFields needs a new consentText that names the fields shared',
    [{ field: 'consentText', message: 'must change when sharedFields changes, and name every shared field' }],
  );
