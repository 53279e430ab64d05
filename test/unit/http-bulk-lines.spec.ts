import {
  atMostLines,
  boundedErrors,
  bulkLinesOf,
  MAX_ERRORS_PER_LINE,
  physicalLines,
  TooManyLinesError,
} from '../../src/infra/http/bulk-lines';
import { toProblem } from '../../src/infra/http/problem-details';
import { checkDecisionFile } from '../../src/modules/decisions/decision-file-lines';

describe('bulk line cap', () => {
  it('reads no further than the line after the cap', () => {
    let pulled = 0;
    function* endless() {
      for (;;) yield ++pulled;
    }
    expect(atMostLines([1, 2, 3], 3)).toEqual([1, 2, 3]);
    expect(() => atMostLines(endless(), 1000)).toThrow(TooManyLinesError);
    expect(pulled).toBe(1001);
  });

  it('refuses 10 MiB of "0\\n" (five million lines) at the cap, without walking the body', () => {
    const body = '0\n'.repeat(5 * 1024 * 1024);
    const started = process.hrtime.bigint();
    expect(() => bulkLinesOf(body, 10_000)).toThrow(TooManyLinesError);
    // Parsing the whole body line by line takes seconds; stopping at line 10,001 takes milliseconds.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(1000);
    expect(bulkLinesOf('0\n'.repeat(10_000), 10_000)).toHaveLength(10_000);
  });

  it('counts a JSON array by its elements, and does not count blank NDJSON lines', () => {
    expect(() => bulkLinesOf([1, 2, 3], 2)).toThrow(TooManyLinesError);
    expect(bulkLinesOf([1, 2], 2)).toHaveLength(2);
    expect(bulkLinesOf('\n1\n\n  \n2\n\n', 2).map((l) => l.line)).toEqual([2, 5]);
  });

  it('answers 413 problem details that name the cap', () => {
    const { problem } = toProblem(new TooManyLinesError(10_000), 'req-1');
    expect(problem).toEqual({
      type: 'https://errors.referral-gateway.dev/too-many-lines',
      title: 'Too many lines',
      status: 413,
      detail: expect.stringContaining('at most 10,000 lines per request'),
      instance: 'req-1',
    });
  });

  it('keeps the first errors of a line, at most MAX_ERRORS_PER_LINE', () => {
    const errors = Array.from({ length: 50 }, (_, i) => ({ field: `x${i}`, message: 'is not a known member' }));
    expect(boundedErrors(errors)).toEqual(errors.slice(0, MAX_ERRORS_PER_LINE));
    expect(boundedErrors(errors.slice(0, 3))).toEqual(errors.slice(0, 3));
  });

  it('walks physical lines lazily: numbered from 1, without BOM or CR', () => {
    expect([...physicalLines('\uFEFFa\r\nb\n\nc')]).toEqual([
      { line: 1, text: 'a' },
      { line: 2, text: 'b' },
      { line: 3, text: '' },
      { line: 4, text: 'c' },
    ]);
  });
});

describe('decision file line cap', () => {
  const header = 'referralId,decision,decidedAt';
  const row = 'ref_1,APPROVED,2026-11-20T08:00:00Z';

  it('counts decision lines only (not the CSV header, not blank lines) up to the cap', () => {
    expect(checkDecisionFile('CSV', [header, row, '', row, row].join('\r\n') + '\r\n', 3)).toBe(3);
    expect(() => checkDecisionFile('CSV', [header, row, row, row, row].join('\n'), 3)).toThrow(TooManyLinesError);
    expect(checkDecisionFile('NDJSON', '{}\n\n{}\n{}\n', 3)).toBe(3);
    expect(() => checkDecisionFile('NDJSON', '{}\n{}\n{}\n{}', 3)).toThrow(TooManyLinesError);
  });

  it('still refuses an empty file or a bad header with 400 first', () => {
    expect(() => checkDecisionFile('NDJSON', '\n\n', 3)).toThrow(/no decision lines/);
    expect(() => checkDecisionFile('CSV', `referralId,when\n${row}\n`, 3)).toThrow(/header/);
  });
});
