import { buildReferralClaim, pickPaths, ReferralFileInput } from '../../src/modules/referrals/packaging/referral-file';

const input = (sharedFields: string[]): ReferralFileInput => ({
  referralId: 'ref_7',
  productCode: 'XB-PLATINUM',
  createdAt: new Date('2026-11-22T08:00:00.000Z'),
  userRef: 'u'.repeat(43),
  snapshot: {
    asOf: '2026-11-20',
    identity: { name: 'Li Lei', nationalId: '110105199003071234', phone: '+8613800000000' },
    kycLevel: 2,
    score: 712,
    riskGrade: 'A',
    creditLimit: '15000.00',
    balance: '3200.50',
    accountOpenedAt: '2019-04-01',
    onTimeCount24m: 22,
    overdueCount24m: 1,
    maxDpd24m: 12,
    currentDpd: 0,
    orders12m: 86,
    gmv12m: '42100.00',
    returnRate12m: 0.04,
    avgReviewScore: 4.8,
  },
  prescreen: { runId: 'run_3', evaluatedAt: new Date('2026-11-21T00:00:00.000Z'), criteriaVersion: 3 },
  consent: { id: 'cns_9', textVersion: 2, textSha256: 'a'.repeat(64), grantedAt: new Date('2026-11-22T07:59:00.000Z') },
  sharedFields,
});

describe('referral file claim', () => {
  it('holds only userRef and asOf of the applicant and credit record when nothing is shared', () => {
    const claim = buildReferralClaim(input([]));
    expect(claim).toEqual({
      id: 'ref_7',
      productCode: 'XB-PLATINUM',
      createdAt: '2026-11-22T08:00:00.000Z',
      applicant: { userRef: 'u'.repeat(43) },
      creditRecord: { asOf: '2026-11-20' },
      prescreen: { runId: 'run_3', evaluatedAt: '2026-11-21T00:00:00.000Z', criteriaVersion: 3 },
      consent: { id: 'cns_9', textVersion: 2, textSha256: 'a'.repeat(64), grantedAt: '2026-11-22T07:59:00.000Z' },
    });
    expect(JSON.stringify(claim)).not.toMatch(/Li Lei|110105|\+86138/);
  });

  it('adds exactly the shared paths: a member path takes everything under it, a leaf path only itself', () => {
    const claim = buildReferralClaim(
      input(['applicant.name', 'creditRecord.score', 'creditRecord.repayment', 'creditRecord.consumption.gmv12m']),
    );
    expect(claim.applicant).toEqual({ userRef: 'u'.repeat(43), name: 'Li Lei' });
    expect(claim.creditRecord).toEqual({
      asOf: '2026-11-20',
      score: 712,
      repayment: { onTimeCount24m: 22, overdueCount24m: 1, maxDpd24m: 12, currentDpd: 0 },
      consumption: { gmv12m: '42100.00' },
    });
    expect(JSON.stringify(claim)).not.toMatch(/nationalId|phone|kycLevel|riskGrade|creditLimit|balance|orders12m/);
  });

  it("has API.md's shape with every field shared", () => {
    const claim = buildReferralClaim(
      input([
        'applicant.name',
        'applicant.nationalId',
        'applicant.phone',
        'applicant.kycLevel',
        'creditRecord.score',
        'creditRecord.riskGrade',
        'creditRecord.creditLimit',
        'creditRecord.balance',
        'creditRecord.accountOpenedAt',
        'creditRecord.repayment',
        'creditRecord.consumption',
      ]),
    );
    expect(claim.applicant).toEqual({
      userRef: 'u'.repeat(43),
      name: 'Li Lei',
      nationalId: '110105199003071234',
      phone: '+8613800000000',
      kycLevel: 2,
    });
    expect(claim.creditRecord).toEqual({
      asOf: '2026-11-20',
      score: 712,
      riskGrade: 'A',
      creditLimit: '15000.00',
      balance: '3200.50',
      accountOpenedAt: '2019-04-01',
      repayment: { onTimeCount24m: 22, overdueCount24m: 1, maxDpd24m: 12, currentDpd: 0 },
      consumption: { orders12m: 86, gmv12m: '42100.00', returnRate12m: 0.04, avgReviewScore: 4.8 },
    });
  });

  it('refuses a shared path that names nothing, rather than silently sharing less', () => {
    expect(() => buildReferralClaim(input(['creditRecord.device']))).toThrow(/not a referral file path/);
    expect(() => pickPaths({ a: { b: 1 } }, ['a.b.c'])).toThrow();
  });
});
