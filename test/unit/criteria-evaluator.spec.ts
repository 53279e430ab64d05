import {
  CriteriaRule,
  EvaluableRecord,
  evaluateRecord,
  ExclusionContext,
  ExclusionFacts,
  NO_EXCLUSION_FACTS,
  parseCriteria,
} from '../../src/modules/prescreening/criteria';

/** A record builder: every field known and unremarkable unless a test says otherwise. */
function record(values: Record<string, unknown> = {}, asOf = '2026-11-20'): EvaluableRecord {
  return {
    asOf,
    values: {
      score: 712,
      riskGrade: 'A',
      creditLimit: '15000.00',
      balance: '3200.50',
      accountOpenedAt: '2019-04-01',
      'identity.kycLevel': 2,
      'repayment.onTimeCount24m': 22,
      'repayment.overdueCount24m': 1,
      'repayment.maxDpd24m': 12,
      'repayment.currentDpd': 0,
      'repayment.overdueAmount': '0.00',
      'consumption.orders12m': 86,
      'consumption.gmv12m': '42100.00',
      'consumption.returnRate12m': '0.0400',
      'consumption.avgReviewScore': '4.80',
      'consumption.addressStable12m': true,
      'device.accountsOnDevice': 1,
      ...(values as Record<string, never>),
    },
  };
}

const rule = (field: string, op: string, value: unknown, reason = 'FAILED'): CriteriaRule[] =>
  parseCriteria([{ field, op, value, reason }]);
const holds = (rules: CriteriaRule[], r = record()) => evaluateRecord(rules, r).eligible;

describe('in-process evaluator: operators', () => {
  it.each([
    ['>=', 712, true],
    ['>=', 713, false],
    ['<=', 712, true],
    ['<=', 711, false],
    ['=', 712, true],
    ['=', 700, false],
    ['!=', 700, true],
    ['!=', 712, false],
  ])('int score %s %p → %p', (op, value, expected) => {
    expect(holds(rule('score', op, value))).toBe(expected);
  });

  it.each([
    ['in', [700, 712], true],
    ['in', [700, 713], false],
    ['not_in', [700, 713], true],
    ['not_in', [712], false],
  ])('int score %s %p → %p', (op, value, expected) => {
    expect(holds(rule('score', op, value))).toBe(expected);
  });

  it('compares decimals exactly, whatever the scale or form of the value', () => {
    expect(holds(rule('creditLimit', '>=', '15000'))).toBe(true);
    expect(holds(rule('creditLimit', '=', 15000))).toBe(true);
    expect(holds(rule('creditLimit', '>=', '15000.0000000001'))).toBe(false);
    expect(holds(rule('creditLimit', '<=', '14999.9999999999'))).toBe(false);
    expect(holds(rule('consumption.returnRate12m', '=', 0.04))).toBe(true);
    expect(holds(rule('consumption.returnRate12m', 'in', ['0.03', '0.040']))).toBe(true);
    expect(holds(rule('balance', '>=', '-1'), record({ balance: '-0.50' }))).toBe(true);
    expect(holds(rule('balance', '<=', '-0.51'), record({ balance: '-0.50' }))).toBe(false);
    // 0.1 + 0.2 style traps: exact text, never floats.
    expect(holds(rule('consumption.avgReviewScore', '>=', '4.8'), record({ 'consumption.avgReviewScore': '4.80' }))).toBe(true);
  });

  it('compares dates as calendar dates', () => {
    expect(holds(rule('accountOpenedAt', '<=', '2019-04-01'))).toBe(true);
    expect(holds(rule('accountOpenedAt', '<=', '2019-03-31'))).toBe(false);
    expect(holds(rule('accountOpenedAt', 'in', ['2019-04-01']))).toBe(true);
  });

  it('compares text byte for byte and only for (in)equality', () => {
    expect(holds(rule('riskGrade', '=', 'A'))).toBe(true);
    expect(holds(rule('riskGrade', '=', 'a'))).toBe(false);
    expect(holds(rule('riskGrade', '=', 'A'), record({ riskGrade: 'A ' }))).toBe(false);
    expect(holds(rule('riskGrade', 'not_in', ['B', 'C']))).toBe(true);
    expect(holds(rule('riskGrade', '!=', 'A'))).toBe(false);
  });

  it('compares booleans', () => {
    expect(holds(rule('consumption.addressStable12m', '=', true))).toBe(true);
    expect(holds(rule('consumption.addressStable12m', '!=', true))).toBe(false);
    expect(holds(rule('consumption.addressStable12m', 'in', [false]))).toBe(false);
  });

  it('derives accountAgeMonths like TIMESTAMPDIFF(MONTH, accountOpenedAt, asOf)', () => {
    const age = (opened: string, asOf: string, months: number) =>
      holds(rule('accountAgeMonths', '=', months), record({ accountOpenedAt: opened }, asOf));
    expect(age('2019-04-01', '2026-11-20', 91)).toBe(true);
    expect(age('2026-01-31', '2026-02-28', 0)).toBe(true); // the end day is before the start day
    expect(age('2026-01-31', '2026-03-31', 2)).toBe(true);
    expect(age('2024-02-29', '2025-02-28', 11)).toBe(true);
    expect(age('2026-03-15', '2026-01-20', -1)).toBe(true); // opened after asOf: negative, like MySQL
    expect(age('2026-03-15', '2026-01-10', -2)).toBe(true);
  });
});

describe('in-process evaluator: NULL and reasons', () => {
  it('fails every operator on an unknown (null) value, != and not_in included', () => {
    const unknown = record({ score: null, riskGrade: null, accountOpenedAt: null });
    for (const [field, op, value] of [
      ['score', '>=', 0],
      ['score', '!=', 1],
      ['score', 'not_in', [1]],
      ['riskGrade', '!=', 'Z'],
      ['accountAgeMonths', '>=', -1000],
    ] as const) {
      expect(evaluateRecord(rule(field, op, value, 'UNKNOWN'), unknown)).toMatchObject({ eligible: false, reasons: ['UNKNOWN'] });
    }
  });

  it('reports each failed rule, reasons once each in rule order', () => {
    const rules = parseCriteria([
      { field: 'score', op: '>=', value: 800, reason: 'SCORE' },
      { field: 'riskGrade', op: '=', value: 'A', reason: 'GRADE' },
      { field: 'creditLimit', op: '>=', value: '20000', reason: 'LIMIT' },
      { field: 'balance', op: '<=', value: '100', reason: 'SCORE' },
    ]);
    expect(evaluateRecord(rules, record())).toEqual({
      eligible: false,
      reasons: ['SCORE', 'LIMIT'],
      failedRules: [0, 2, 3],
      exclusions: [],
    });
    expect(evaluateRecord([], record())).toEqual({ eligible: true, reasons: [], failedRules: [], exclusions: [] });
  });
});

describe('in-process evaluator: exclusions', () => {
  const context: ExclusionContext = { partnerId: '7', delinquencyScope: 'ANY_PARTNER' };
  const facts = (f: Partial<ExclusionFacts>): ExclusionFacts => ({ ...NO_EXCLUSION_FACTS, ...f });
  const reasons = (f: Partial<ExclusionFacts>, r = record(), ctx = context) =>
    evaluateRecord([], r, { context: ctx, facts: facts(f) }).reasons;

  it('applies each exclusion with its reason code', () => {
    expect(reasons({})).toEqual([]);
    expect(reasons({ prescreenOptOut: true })).toEqual(['PRESCREEN_OPT_OUT']);
    expect(reasons({}, record({ 'repayment.currentDpd': 3 }))).toEqual(['CURRENTLY_OVERDUE']);
    expect(reasons({}, record({ 'repayment.currentDpd': null }))).toEqual([]);
    expect(reasons({ relationships: [{ partnerId: '7', kind: 'OPEN_APPLICATION' }] })).toEqual(['OPEN_APPLICATION']);
    expect(reasons({ relationships: [{ partnerId: '7', kind: 'CARDHOLDER' }] })).toEqual(['EXISTING_CARDHOLDER']);
    expect(reasons({ delinquencies: [{ partnerId: '9', dpd: 31 }] })).toEqual(['PARTNER_DELINQUENCY']);
  });

  it('counts relationships only with the product partner, and delinquencies per the product scope', () => {
    expect(
      reasons({
        relationships: [
          { partnerId: '8', kind: 'CARDHOLDER' },
          { partnerId: '8', kind: 'OPEN_APPLICATION' },
        ],
      }),
    ).toEqual([]);
    expect(reasons({ delinquencies: [{ partnerId: '9', dpd: 31 }] }, record(), { ...context, delinquencyScope: 'SAME_PARTNER' })).toEqual(
      [],
    );
    expect(reasons({ delinquencies: [{ partnerId: '7', dpd: 1 }] }, record(), { ...context, delinquencyScope: 'SAME_PARTNER' })).toEqual([
      'PARTNER_DELINQUENCY',
    ]);
    expect(reasons({ delinquencies: [{ partnerId: '7', dpd: 0 }] })).toEqual([]);
  });

  it('lists failed rules first, then exclusions in a fixed order', () => {
    const result = evaluateRecord(rule('score', '>=', 800, 'SCORE'), record({ 'repayment.currentDpd': 5 }), {
      context,
      facts: facts({ prescreenOptOut: true, delinquencies: [{ partnerId: '1', dpd: 60 }] }),
    });
    expect(result).toEqual({
      eligible: false,
      reasons: ['SCORE', 'PRESCREEN_OPT_OUT', 'CURRENTLY_OVERDUE', 'PARTNER_DELINQUENCY'],
      failedRules: [0],
      exclusions: ['PRESCREEN_OPT_OUT', 'CURRENTLY_OVERDUE', 'PARTNER_DELINQUENCY'],
    });
  });
});
