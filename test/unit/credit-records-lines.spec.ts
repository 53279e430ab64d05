import { bulkLinesOf, ndjsonLines } from '../../src/infra/http/bulk-lines';
import { validateCreditRecordLine } from '../../src/modules/credit-records/ingest/credit-record-line';
import { validateRepaymentStatusLine } from '../../src/modules/credit-records/ingest/repayment-status-line';
import {
  riskGradeOf,
  syntheticCreditRecord,
  syntheticCreditRecords,
} from '../../src/modules/credit-records/synthetic/synthetic-credit-records';

const LATEST = '2026-11-21';

/** The API.md example line. */
const line = () => ({
  userId: 'u_000123',
  asOf: '2026-11-20',
  identity: { name: 'Li Lei', nationalId: '11010119900307123X', phone: '+8613800001111', kycLevel: 2 },
  score: 712,
  riskGrade: 'A',
  creditLimit: '15000.00',
  balance: '3200.50',
  accountOpenedAt: '2019-04-01',
  repayment: { onTimeCount24m: 22, overdueCount24m: 1, maxDpd24m: 12, currentDpd: 0, overdueAmount: '0.00' },
  consumption: {
    orders12m: 86,
    gmv12m: '42100.00',
    returnRate12m: 0.04,
    avgReviewScore: 4.8,
    topCategories: ['3C', 'grocery'],
    addressStable12m: true,
  },
  device: { accountsOnDevice: 1 },
});

const errorsOf = (value: unknown) => {
  const result = validateCreditRecordLine(value, LATEST);
  return result.ok ? [] : result.errors;
};

describe('credit record line validation', () => {
  it('accepts the contract example', () => {
    expect(validateCreditRecordLine(line(), LATEST)).toEqual({ ok: true, value: line() });
  });

  it('names every problem by its dotted path, without echoing the value', () => {
    const bad: any = line();
    bad.extra = 1;
    bad.identity.nickname = 'x';
    bad.score = '712';
    bad.creditLimit = 15000;
    bad.balance = '3200.5';
    bad.accountOpenedAt = '2019-02-30';
    delete bad.riskGrade;
    bad.consumption.returnRate12m = 0.12345;
    bad.consumption.topCategories = ['3C', 7];
    const errors = errorsOf(bad);
    expect(errors.map((e) => e.field).sort()).toEqual(
      [
        'extra',
        'identity.nickname',
        'score',
        'creditLimit',
        'balance',
        'accountOpenedAt',
        'riskGrade',
        'consumption.returnRate12m',
        'consumption.topCategories.1',
      ].sort(),
    );
    expect(JSON.stringify(errors)).not.toContain('Li Lei');
  });

  it('refuses non-objects with a null field', () => {
    expect(errorsOf([1, 2])).toEqual([{ field: null, message: 'must be an object, got array' }]);
    expect(errorsOf(null)[0].field).toBeNull();
  });

  it('refuses a future asOf and an account opened after asOf', () => {
    expect(errorsOf({ ...line(), asOf: '2026-11-22' })).toEqual([{ field: 'asOf', message: 'must not be in the future' }]);
    expect(errorsOf({ ...line(), accountOpenedAt: '2026-11-21', asOf: '2026-11-20' })[0].field).toBe('accountOpenedAt');
  });

  it('refuses negative, oversized and float money', () => {
    for (const v of ['-1.00', '1234567890123.00', '1.0', '1.000', '01.00', 1.5]) {
      expect(errorsOf({ ...line(), balance: v }).map((e) => e.field)).toEqual(['balance']);
    }
  });

  it('validates repayment status lines the same way', () => {
    expect(validateRepaymentStatusLine({ userId: 'u_1', currentDpd: 3, overdueAmount: '10.00', asOf: '2026-11-20' }, LATEST).ok).toBe(true);
    const bad = validateRepaymentStatusLine({ userId: 'u 1', currentDpd: -1, overdueAmount: '10', asOf: '2026-13-01', x: 1 }, LATEST);
    expect(bad.ok ? [] : bad.errors.map((e) => e.field).sort()).toEqual(['asOf', 'currentDpd', 'overdueAmount', 'userId', 'x']);
  });
});

describe('bulk lines', () => {
  it('numbers NDJSON lines from 1, skipping blank ones, keeping unparsable ones as notJson', () => {
    const lines = [...ndjsonLines('\uFEFF{"a":1}\r\n\n{oops\n  \n[2]\n')];
    expect(lines).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 3, notJson: true },
      { line: 5, value: [2] },
    ]);
  });

  it('takes a JSON array element by element and refuses other JSON bodies', () => {
    expect(bulkLinesOf([{ a: 1 }, 'x'], 10)).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 2, value: 'x' },
    ]);
    expect(() => bulkLinesOf({ a: 1 }, 10)).toThrow(/NDJSON/);
  });
});

describe('synthetic credit records', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = [...syntheticCreditRecords({ users: 50, seed: 42 })];
    const b = [...syntheticCreditRecords({ users: 50, seed: 42 })];
    const c = [...syntheticCreditRecords({ users: 50, seed: 43 })];
    expect(a).toEqual(b);
    expect(a.map((r) => r.score)).not.toEqual(c.map((r) => r.score));
    // A slice is the same users as the full run.
    expect([...syntheticCreditRecords({ users: 10, seed: 42, startIndex: 20 })]).toEqual(a.slice(20, 30));
    expect(syntheticCreditRecord({ seed: 'demo' }, 7)).toEqual(syntheticCreditRecord({ seed: 'demo' }, 7));
  });

  it('produces only valid lines with a plausible shape', () => {
    const records = [...syntheticCreditRecords({ users: 5000, seed: 'shape', asOf: '2026-11-20' })];
    for (const r of records) {
      const v = validateCreditRecordLine(r, LATEST);
      if (!v.ok) throw new Error(`${r.userId}: ${JSON.stringify(v.errors)}`);
      expect(r.riskGrade).toBe(riskGradeOf(r.score));
      expect(r.repayment.maxDpd24m).toBeGreaterThanOrEqual(r.repayment.currentDpd);
      expect(r.repayment.currentDpd > 0).toBe(r.repayment.overdueAmount !== '0.00');
    }
    const scores = records.map((r) => r.score).sort((x, y) => x - y);
    const median = scores[scores.length / 2];
    expect(median).toBeGreaterThan(620);
    expect(median).toBeLessThan(680);
    const overdueShare = records.filter((r) => r.repayment.currentDpd > 0).length / records.length;
    expect(overdueShare).toBeGreaterThan(0.01);
    expect(overdueShare).toBeLessThan(0.15);
    // Low scores are late more often than high ones.
    const lateRate = (lo: number, hi: number) => {
      const group = records.filter((r) => r.score >= lo && r.score < hi);
      return group.reduce((s, r) => s + r.repayment.overdueCount24m, 0) / group.length;
    };
    expect(lateRate(350, 600)).toBeGreaterThan(lateRate(700, 951));
    expect(new Set(records.map((r) => r.identity.nationalId)).size).toBeGreaterThan(4990);
  });
});
