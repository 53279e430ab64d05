import { ValidationFailedError } from '../../src/common/errors';
import { MAX_RULES, parseCriteria, validateCriteria } from '../../src/modules/prescreening/criteria';

const fieldsOf = (input: unknown) => validateCriteria(input).errors.map((e) => e.field);

describe('criteria validation', () => {
  it('accepts every operator with values of the field type, in canonical form', () => {
    expect(
      parseCriteria([
        { field: 'score', op: '>=', value: 650, reason: 'SCORE' },
        { field: 'creditLimit', op: '<=', value: 15000.5, reason: 'LIMIT' },
        { field: 'balance', op: '=', value: '-12.30', reason: 'BAL' },
        { field: 'riskGrade', op: 'in', value: ['A', 'B'], reason: 'GRADE' },
        { field: 'accountOpenedAt', op: '!=', value: '2024-02-29', reason: 'DATE' },
        { field: 'consumption.addressStable12m', op: 'not_in', value: [false], reason: 'ADDR' },
        { field: 'accountAgeMonths', op: '>=', value: -3, reason: 'AGE' },
      ]),
    ).toEqual([
      { field: 'score', op: '>=', value: 650, reason: 'SCORE' },
      { field: 'creditLimit', op: '<=', value: '15000.5', reason: 'LIMIT' },
      { field: 'balance', op: '=', value: '-12.30', reason: 'BAL' },
      { field: 'riskGrade', op: 'in', value: ['A', 'B'], reason: 'GRADE' },
      { field: 'accountOpenedAt', op: '!=', value: '2024-02-29', reason: 'DATE' },
      { field: 'consumption.addressStable12m', op: 'not_in', value: [false], reason: 'ADDR' },
      { field: 'accountAgeMonths', op: '>=', value: -3, reason: 'AGE' },
    ]);
  });

  it('names every problem by rule index and member', () => {
    expect(
      fieldsOf([
        { field: 'score', op: '>=', value: 1, reason: 'OK_1' },
        { field: 'nope', op: '>=', value: 1, reason: 'OK_2' },
        { field: 'score', op: 'like', value: 1, reason: 'x' },
        'not a rule',
        { field: 'score', op: 'in', value: 3, reason: 'OK_3' },
        { field: 'score', op: '>=', value: '3', reason: 'OK_4', extra: 1 },
      ]),
    ).toEqual([
      'criteria[1].field',
      'criteria[2].op',
      'criteria[2].reason',
      'criteria[3]',
      'criteria[4].value',
      'criteria[5].extra',
      'criteria[5].value',
    ]);
  });

  it.each([
    ['decimal with 11 fractional digits', 'creditLimit', '1.00000000001'],
    ['decimal in exponent form', 'creditLimit', 1e-7],
    ['decimal with a plus sign', 'creditLimit', '+1'],
    ['unsafe integer', 'score', 2 ** 53],
    ['int as text', 'score', '650'],
    ['date out of range', 'accountOpenedAt', '0999-12-31'],
    ['date with time', 'accountOpenedAt', '2024-01-01T00:00:00Z'],
    ['boolean as number', 'consumption.addressStable12m', 1],
    ['empty text', 'riskGrade', ''],
    ['null', 'score', null],
  ])('refuses a %s', (_name, field, value) => {
    expect(fieldsOf([{ field, op: '=', value, reason: 'R_X' }])).toEqual(['criteria[0].value']);
  });

  it('refuses ordering operators on text and booleans, and lists for scalar operators', () => {
    expect(fieldsOf([{ field: 'riskGrade', op: '<=', value: 'B', reason: 'R_X' }])).toEqual(['criteria[0].op']);
    expect(fieldsOf([{ field: 'consumption.addressStable12m', op: '>=', value: true, reason: 'R_X' }])).toEqual(['criteria[0].op']);
    expect(fieldsOf([{ field: 'score', op: '=', value: [1], reason: 'R_X' }])).toEqual(['criteria[0].value']);
    expect(fieldsOf([{ field: 'score', op: 'in', value: Array(101).fill(1), reason: 'R_X' }])).toEqual(['criteria[0].value']);
  });

  it('refuses a non-array, too many rules, and reserved reason codes', () => {
    expect(fieldsOf({ field: 'score' })).toEqual(['criteria']);
    expect(fieldsOf(Array(MAX_RULES + 1).fill({ field: 'score', op: '>=', value: 1, reason: 'R_X' }))).toEqual(['criteria']);
    expect(fieldsOf([{ field: 'score', op: '>=', value: 1, reason: 'PRESCREEN_OPT_OUT' }])).toEqual(['criteria[0].reason']);
    expect(fieldsOf([{ field: 'score', op: '>=', value: 1, reason: 'A' }])).toEqual(['criteria[0].reason']);
  });

  it('parseCriteria throws a 400 ValidationFailedError carrying the field errors', () => {
    try {
      parseCriteria([{ field: 'score', op: '>', value: 1, reason: 'R_X' }]);
      throw new Error('expected a validation error');
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationFailedError);
      expect((error as ValidationFailedError).status).toBe(400);
      expect((error as ValidationFailedError).errors).toEqual([{ field: 'criteria[0].op', message: expect.stringContaining('>=') }]);
    }
  });
});
