import { asOfBeforeDecision, parseDelinquency } from '../../src/modules/delinquencies/delinquency-input';

const good = { referralId: 'ref_1', dpd: 30, amountOverdue: '1200.00', asOf: '2026-12-03' };
const fields = (body: object, now = new Date('2026-12-03T12:00:00Z')) => {
  const r = parseDelinquency(body, now);
  return r.ok ? [] : r.errors.map((e) => e.field);
};

describe('parseDelinquency', () => {
  it('accepts a report and keeps its values as sent', () => {
    expect(parseDelinquency(good, new Date('2026-12-03T00:00:00Z'))).toEqual({
      ok: true,
      referralId: 'ref_1',
      report: { dpd: 30, amountOverdue: '1200.00', asOf: '2026-12-03' },
    });
  });

  it('takes asOf up to the date already begun in UTC+14, not later', () => {
    const tomorrow = { ...good, asOf: '2026-12-04' };
    expect(fields(tomorrow, new Date('2026-12-03T09:59:59Z'))).toEqual(['asOf']);
    expect(fields(tomorrow, new Date('2026-12-03T10:00:00Z'))).toEqual([]);
    expect(fields({ ...good, asOf: '2026-12-05' }, new Date('2026-12-03T23:59:59Z'))).toEqual(['asOf']);
  });

  it('bounds dpd to 1–3650 and the amount to positive two-place strings within DECIMAL(14,2)', () => {
    expect(fields({ ...good, dpd: 1 })).toEqual([]);
    expect(fields({ ...good, dpd: 3650 })).toEqual([]);
    expect(fields({ ...good, amountOverdue: '0.01' })).toEqual([]);
    expect(fields({ ...good, amountOverdue: '999999999999.99' })).toEqual([]);
    expect(fields({ ...good, amountOverdue: '1000000000000.00' })).toEqual(['amountOverdue']);
    expect(fields({ ...good, amountOverdue: '01.00' })).toEqual(['amountOverdue']);
    expect(fields({ ...good, dpd: Number.NaN })).toEqual(['dpd']);
  });

  it('refuses a non-object and unknown members, naming them', () => {
    expect(fields([good])).toEqual([null]);
    expect(fields({ ...good, userId: 'u1', status: 'X' })).toEqual(['userId', 'status']);
  });

  it('compares asOf with the decision date as dates', () => {
    expect(asOfBeforeDecision(good, '2026-12-03')).toBe(false);
    expect(asOfBeforeDecision(good, '2026-12-04')).toBe(true);
  });
});
