import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';

import { BadRequestError } from '../../src/common/errors';
import { decodeCursor, encodeCursor, PageQuery, toPage } from '../../src/common/pagination';

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: String(i + 1) }));

describe('PageQuery', () => {
  const check = (query: Record<string, string>) => {
    const dto = plainToInstance(PageQuery, query);
    return { dto, errors: validateSync(dto, { whitelist: true, forbidNonWhitelisted: true }) };
  };

  it('defaults limit to 100', () => {
    const { dto, errors } = check({});
    expect(errors).toEqual([]);
    expect(dto.limit).toBe(100);
  });

  it.each(['1', '250', '500'])('accepts limit=%s as a number', (limit) => {
    const { dto, errors } = check({ limit });
    expect(errors).toEqual([]);
    expect(dto.limit).toBe(Number(limit));
  });

  it.each(['0', '501', '-5', '1.5', 'ten', ''])('refuses limit=%j', (limit) => {
    const { errors } = check({ limit });
    expect(errors.map((e) => e.property)).toEqual(['limit']);
  });
});

describe('cursors', () => {
  it('round-trips the last seen key through a sealed base64url token', () => {
    const cursor = encodeCursor('9007199254740993');
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain('9007199254740993');
    expect(decodeCursor(cursor)).toBe('9007199254740993');
  });

  it('treats a missing or empty cursor as the first page', () => {
    expect(decodeCursor(undefined)).toBeUndefined();
    expect(decodeCursor('')).toBeUndefined();
  });

  it.each([
    ['garbage', 'not a cursor!'],
    ['base64 of non-JSON', Buffer.from('hello').toString('base64url')],
    ['JSON without a version', Buffer.from(JSON.stringify({ after: '5' })).toString('base64url')],
    ['a key that is not an id', Buffer.from(JSON.stringify({ v: 1, after: "5' OR '1'='1" })).toString('base64url')],
    ['a number instead of a string', Buffer.from(JSON.stringify({ v: 1, after: 5 })).toString('base64url')],
    ['JSON null', Buffer.from('null').toString('base64url')],
    // The earlier, readable encoding: a client could write any internal key into it.
    ['a well-formed cursor of the readable encoding', Buffer.from(JSON.stringify({ v: 1, after: '5' })).toString('base64url')],
  ])('refuses %s with a 400 BadRequestError', (_why, cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(BadRequestError);
  });

  it('accepts other key shapes when the caller says so', () => {
    const cursor = encodeCursor('2026-11-22T08:00:00.000Z|42');
    expect(decodeCursor(cursor, /^[0-9TZ:.-]+\|[0-9]+$/)).toBe('2026-11-22T08:00:00.000Z|42');
    expect(() => decodeCursor(cursor)).toThrow(BadRequestError);
  });
});

describe('toPage', () => {
  it('returns limit rows and a cursor at the last of them when limit + 1 rows came back', () => {
    const page = toPage(rows(4), 3, (r) => r.id);
    expect(page.data.map((r) => r.id)).toEqual(['1', '2', '3']);
    expect(decodeCursor(page.nextCursor!)).toBe('3');
  });

  it('returns nextCursor null when there is nothing more', () => {
    expect(toPage(rows(3), 3, (r) => r.id)).toEqual({ data: rows(3), nextCursor: null });
    expect(toPage([], 3, (r: { id: string }) => r.id)).toEqual({ data: [], nextCursor: null });
  });

  it('maps rows to the public shape', () => {
    const page = toPage(
      rows(2),
      1,
      (r) => r.id,
      (r) => ({ ref: `ref_${r.id}` }),
    );
    expect(page.data).toEqual([{ ref: 'ref_1' }]);
    expect(decodeCursor(page.nextCursor!)).toBe('1');
  });
});
