import { createHmac, randomBytes } from 'node:crypto';

import { deriveKey, keyedHash, keyedHashBytes, open, seal } from '../../src/infra/crypto/envelope';
import { CREDIT_RECORD_LINE_SPEC } from '../../src/modules/credit-records/ingest/credit-record-line';
import { check, compileSpec, isCalendarDate } from '../../src/modules/credit-records/ingest/line-validation';
import { REPAYMENT_STATUS_LINE_SPEC } from '../../src/modules/credit-records/ingest/repayment-status-line';
import { syntheticCreditRecord } from '../../src/modules/credit-records/synthetic/synthetic-credit-records';

/** The ingest's faster paths must answer exactly as the generic ones they replace. */
describe('ingest fast paths', () => {
  it('the compiled validator reports the same errors, in the same order, as the generic one', () => {
    const base = () => JSON.parse(JSON.stringify(syntheticCreditRecord({ seed: 'seed' }, 7))) as Record<string, any>;
    const variants: unknown[] = [base(), null, [], 'x', 1, {}];
    const mutations: ((l: Record<string, any>) => void)[] = [
      (l) => (l.extra = 1),
      (l) => (l['x'.repeat(80)] = 1),
      (l) => delete l.asOf,
      (l) => (l.asOf = undefined),
      (l) => (l.asOf = '2024-02-30'),
      (l) => (l.asOf = '2024-2-3'),
      (l) => (l.score = 1.5),
      (l) => (l.score = '700'),
      (l) => (l.userId = ' '),
      (l) => (l.userId = ' a'),
      (l) => (l.userId = 'ü'),
      (l) => (l.identity.name = '\u00a0'),
      (l) => (l.identity.name = 'n'.repeat(201)),
      (l) => (l.identity = []),
      (l) => (l.identity.phone = '12'),
      (l) => (l.creditLimit = '1.5'),
      (l) => (l.consumption.returnRate12m = 0.12345),
      (l) => (l.consumption.returnRate12m = Infinity),
      (l) => (l.consumption.avgReviewScore = 6),
      (l) => (l.consumption.topCategories = ['ok', 3, ' ', 'x'.repeat(65)]),
      (l) => (l.consumption.topCategories = Array(21).fill('a')),
      (l) => (l.consumption.addressStable12m = 1),
      (l) => (l.device = { accountsOnDevice: -1, more: true }),
    ];
    for (const mutate of mutations) {
      const line = base();
      mutate(line);
      variants.push(line);
    }
    const compiled = compileSpec(CREDIT_RECORD_LINE_SPEC);
    for (const value of variants) {
      const generic: unknown[] = [];
      const fast: unknown[] = [];
      check(CREDIT_RECORD_LINE_SPEC, value, '', generic as never);
      compiled(value, fast as never);
      expect(fast).toEqual(generic);
    }
    const status = compileSpec(REPAYMENT_STATUS_LINE_SPEC);
    for (const value of [
      { userId: 'u', currentDpd: 2, overdueAmount: '1.00', asOf: '2026-01-01' },
      { currentDpd: -1, asOf: 3 },
    ]) {
      const generic: unknown[] = [];
      const fast: unknown[] = [];
      check(REPAYMENT_STATUS_LINE_SPEC, value, '', generic as never);
      status(value, fast as never);
      expect(fast).toEqual(generic);
    }
  });

  it('calendar dates: leap years, month lengths, the 1900 floor and the exact shape', () => {
    expect(['2024-02-29', '2000-02-29', '1900-01-01', '9999-12-31', '2026-04-30'].map(isCalendarDate)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(
      [
        '2023-02-29',
        '1900-02-29',
        '1899-12-31',
        '2026-04-31',
        '2026-13-01',
        '2026-00-10',
        '2026-01-00',
        '2026-1-01',
        '2026-01-01 ',
        '20260101',
        '2026/01/01',
        '+026-01-01',
      ].map(isCalendarDate),
    ).toEqual(Array(12).fill(false));
  });

  it('keyed hash bytes are the HMAC-SHA256 of the hex form; sealing still uses a fresh IV per value', () => {
    const key = deriveKey(randomBytes(32), 'pii.phone', 'mac');
    expect(keyedHashBytes(key, '+8613800001111').toString('hex')).toBe(keyedHash(key, '+8613800001111'));
    expect(keyedHashBytes(key, 'é').equals(createHmac('sha256', key).update('é', 'utf8').digest())).toBe(true);

    const enc = deriveKey(randomBytes(32), 'pii.credit-record.identity', 'enc');
    const ivs = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const sealed = seal(enc, `v${i}`, `u_${i}`);
      ivs.add(sealed.subarray(1, 13).toString('hex'));
      if (i % 997 === 0) expect(open(enc, sealed, `u_${i}`).toString()).toBe(`v${i}`);
    }
    expect(ivs.size).toBe(5000);
  });
});
