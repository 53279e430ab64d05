import { accountStatus, dpdBucket } from '../../src/modules/overdue/overdue-record';

/** API.md: DPD buckets and Metro 2-style account statuses; under 30 days and cured report as current ("11"). */
describe('overdue buckets and account statuses', () => {
  it.each([
    [0, null, '11'],
    [1, '1-29', '11'],
    [29, '1-29', '11'],
    [30, '30-59', '71'],
    [59, '30-59', '71'],
    [60, '60-89', '78'],
    [89, '60-89', '78'],
    [90, '90-119', '80'],
    [119, '90-119', '80'],
    [120, '120-149', '82'],
    [149, '120-149', '82'],
    [150, '150-179', '83'],
    [179, '150-179', '83'],
    [180, '180+', '84'],
    [3650, '180+', '84'],
  ])('dpd %i is bucket %s, account status %s', (dpd, bucket, status) => {
    expect(dpdBucket(dpd)).toBe(bucket);
    expect(accountStatus(dpd)).toBe(status);
  });
});
