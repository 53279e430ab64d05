import fc from 'fast-check';

import { compareDecimal, compileCriteria, evaluationFromRow, monthsBetween, parseCriteria } from '../../src/modules/prescreening/criteria';

const context = { partnerId: '42', delinquencyScope: 'ANY_PARTNER' as const };
const placeholders = (sql: string) => (sql.match(/\?/g) ?? []).length;

describe('SQL compiler', () => {
  const rules = parseCriteria([
    { field: 'score', op: '>=', value: 650, reason: 'SCORE' },
    { field: 'riskGrade', op: 'in', value: ["A' OR 1=1 -- ", 'B'], reason: 'GRADE' },
    { field: 'creditLimit', op: '!=', value: '15000.00', reason: 'LIMIT' },
    { field: 'accountAgeMonths', op: '>=', value: 12, reason: 'AGE' },
    { field: 'consumption.addressStable12m', op: '=', value: true, reason: 'SCORE' },
  ]);

  it('binds every value as a parameter, never in the SQL text', () => {
    const compiled = compileCriteria(rules, { alias: 'cr', exclusions: context });
    for (const fragment of [compiled.selectList, compiled.eligible, ...compiled.checks]) {
      expect(placeholders(fragment.sql)).toBe(fragment.params.length);
      expect(fragment.sql).not.toMatch(/OR 1=1|650|15000|'B'|\b42\b/);
    }
    expect(compiled.checks[1].params).toEqual(["A' OR 1=1 -- ", 'B']);
    expect(compiled.checks[4].params).toEqual([1]);
  });

  it('gives one 0/1 check per rule, then one per exclusion, NULL failing the rule', () => {
    const compiled = compileCriteria(rules, { alias: 'cr', exclusions: context });
    expect(compiled.checks.map((c) => c.column)).toEqual([
      'fail_0',
      'fail_1',
      'fail_2',
      'fail_3',
      'fail_4',
      'excl_prescreen_opt_out',
      'excl_currently_overdue',
      'excl_open_application',
      'excl_existing_cardholder',
      'excl_partner_delinquency',
    ]);
    expect(compiled.checks[0].sql).toBe('((cr.score >= ?) IS NOT TRUE)');
    expect(compiled.checks[1].sql).toBe('((CAST(cr.risk_grade AS BINARY) IN (CAST(? AS BINARY), CAST(? AS BINARY))) IS NOT TRUE)');
    expect(compiled.checks[2].sql).toBe('((cr.credit_limit <> CAST(? AS DECIMAL(38,10))) IS NOT TRUE)');
    expect(compiled.checks[3].sql).toBe('((TIMESTAMPDIFF(MONTH, cr.account_opened_at, cr.as_of) >= ?) IS NOT TRUE)');
    expect(compiled.selectList.sql).toMatch(/ AS eligible$/);
  });

  it('binds the partner only where the delinquency scope needs it', () => {
    const any = compileCriteria([], { exclusions: context });
    const same = compileCriteria([], { exclusions: { ...context, delinquencyScope: 'SAME_PARTNER' } });
    const delinquency = (c: typeof any) => c.checks.find((k) => k.reason === 'PARTNER_DELINQUENCY')!;
    expect(delinquency(any).params).toEqual([]);
    expect(delinquency(same).params).toEqual(['42']);
  });

  it('gives the set form of the exclusions kept in tables, and keeps the others on the row', () => {
    const compiled = compileCriteria(rules, { alias: 'cr', exclusions: { ...context, delinquencyScope: 'SAME_PARTNER' } });
    const { row, marks } = compiled.marked;
    expect(row.map((r) => r.reason)).toEqual(compiled.reasons.map((r) => r.reason));
    const at = (reason: string) => row.findIndex((r) => r.reason === reason);
    expect(row[at('CURRENTLY_OVERDUE')].sql).toBe('(COALESCE(cr.current_dpd, 0) > 0)');
    for (const reason of ['PRESCREEN_OPT_OUT', 'OPEN_APPLICATION', 'EXISTING_CARDHOLDER', 'PARTNER_DELINQUENCY']) {
      expect(row[at(reason)]).toEqual({ reason, sql: '0', params: [] });
    }
    expect(marks.map((k) => [k.exclusion, k.reasonIndex])).toEqual(
      ['PRESCREEN_OPT_OUT', 'OPEN_APPLICATION', 'EXISTING_CARDHOLDER', 'PARTNER_DELINQUENCY'].map((r) => [r, at(r)]),
    );
    const users = marks[1].users((column) => ({ sql: `${column} > ?`, params: ['u_1'] }));
    expect(users.sql).toBe(
      'SELECT x_pr.user_id FROM partner_relationships x_pr WHERE x_pr.partner_id = CAST(? AS UNSIGNED) AND x_pr.kind = ? AND x_pr.user_id > ?',
    );
    expect(users.params).toEqual(['42', 'OPEN_APPLICATION', 'u_1']);
    const delinquent = marks[3].users(() => ({ sql: '1 = 1', params: [] }));
    expect(placeholders(delinquent.sql)).toBe(delinquent.params.length);
    expect(delinquent.params).toEqual(['42']);
  });

  it('compiles no rules and no exclusions to an always-true condition', () => {
    expect(compileCriteria([]).eligible).toEqual({ sql: '(1 = 1)', params: [] });
  });

  it('refuses an alias that is not a plain identifier', () => {
    expect(() => compileCriteria(rules, { alias: 'cr; DROP TABLE x' })).toThrow();
  });

  it('reads a selected row back into eligibility and distinct reasons', () => {
    const compiled = compileCriteria(rules, { exclusions: context });
    const row = {
      fail_0: 1,
      fail_1: 0,
      fail_2: '0',
      fail_3: 1,
      fail_4: 1,
      excl_prescreen_opt_out: 0,
      excl_currently_overdue: 1,
      eligible: 0,
    };
    expect(evaluationFromRow(compiled, row)).toEqual({
      eligible: false,
      reasons: ['SCORE', 'AGE', 'CURRENTLY_OVERDUE'],
      failedRules: [0, 3, 4],
      exclusions: ['CURRENTLY_OVERDUE'],
    });
  });
});

describe('exact arithmetic (properties)', () => {
  const decimal = fc.tuple(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.integer({ min: 0, max: 10 })).map(([units, scale]) => {
    const negative = units < 0n;
    const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
    const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
    return { text: `${negative ? '-' : ''}${text}`, value: { units, scale } };
  });
  const exact = (v: { units: bigint; scale: number }) => v.units * 10n ** BigInt(10 - v.scale);

  it('compareDecimal orders decimal literals exactly like their rational values', () => {
    fc.assert(
      fc.property(decimal, decimal, (a, b) => {
        // Each direction computed on its own: negating 0 gives -0, which toBe (Object.is) tells apart from 0.
        const order = (x: bigint, y: bigint) => (x < y ? -1 : x > y ? 1 : 0);
        expect(compareDecimal(a.text, b.text)).toBe(order(exact(a.value), exact(b.value)));
        expect(compareDecimal(b.text, a.text)).toBe(order(exact(b.value), exact(a.value)));
      }),
      { numRuns: 1000 },
    );
  });

  const day = fc
    .date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2040-12-31T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10));

  it('monthsBetween is antisymmetric and counts whole months (adding them never passes the end date)', () => {
    fc.assert(
      fc.property(day, day, (a, b) => {
        const months = monthsBetween(a, b);
        expect(monthsBetween(b, a)).toBe(-months || 0);
        if (a <= b) {
          expect(months).toBeGreaterThanOrEqual(0);
          const [y, m] = a.split('-').map(Number);
          // The first day of the month `months` later is never after b's month; one more month is after b.
          const total = y * 12 + (m - 1) + months;
          const [by, bm] = b.split('-').map(Number);
          expect(total).toBeLessThanOrEqual(by * 12 + (bm - 1));
          expect(total + 2).toBeGreaterThan(by * 12 + (bm - 1));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
