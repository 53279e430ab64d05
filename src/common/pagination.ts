import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

import { BadRequestError } from './errors';
import { openCursorKey, sealCursorKey } from './public-id';

/**
 * Cursor pagination as API.md defines it: `?limit=` (1–500, default 100) and `?cursor=`, answered with
 * `{ data, nextCursor }` in creation order. A cursor is opaque to clients (sealed, see encodeCursor); inside it is
 * the sort key of the last row handed out (an auto-increment id by default), so the next page is
 * `WHERE id > :after ORDER BY id LIMIT :limit + 1`, which stays fast and stable however deep the client pages,
 * unlike OFFSET.
 */
export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 500;

/** Query DTO for list endpoints; extend it to add filters (`class ReferralQuery extends PageQuery { status? }`). */
export class PageQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_LIMIT, default: DEFAULT_PAGE_LIMIT, type: Number })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_LIMIT)
  limit: number = DEFAULT_PAGE_LIMIT;

  @ApiPropertyOptional({ description: 'The nextCursor of the previous page; opaque' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** Auto-increment ids as MySQL BIGINT returns them (strings, see data-source-options). */
const ID_KEY = /^[0-9]{1,20}$/;

/**
 * Wraps the last seen sort key in an opaque cursor, encrypted and authenticated (public-id.ts): the sort key is
 * usually a row's internal id, which a client must neither read (it would tell the platform's volumes) nor forge.
 */
export function encodeCursor(after: string | number | bigint): string {
  return sealCursorKey(String(after));
}

/**
 * The sort key a cursor carries, or undefined for the first page. A cursor that was not issued by encodeCursor
 * (or carries a key the caller's `accepts` pattern refuses) is a 400, never a query with a garbage key. Cursors of
 * the earlier, readable encoding are refused too: a client could have written any key into them.
 */
export function decodeCursor(cursor: string | undefined, accepts: RegExp = ID_KEY): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const after = /^[A-Za-z0-9_-]+$/.test(cursor) ? openCursorKey(cursor) : undefined;
  if (after === undefined || !accepts.test(after)) throw invalidCursor();
  return after;
}

const invalidCursor = () =>
  new BadRequestError('The cursor is not one this API issued', [{ field: 'cursor', message: 'is not a valid cursor' }]);

/**
 * Builds the page from rows fetched with `LIMIT limit + 1`: the extra row only tells that another page exists,
 * and the cursor points at the last row actually returned.
 */
export function toPage<R, T = R>(
  rows: R[],
  limit: number,
  sortKeyOf: (row: R) => string | number | bigint,
  map: (row: R) => T = (row) => row as unknown as T,
): Page<T> {
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  return {
    data: pageRows.map(map),
    nextCursor: hasMore ? encodeCursor(sortKeyOf(pageRows[pageRows.length - 1])) : null,
  };
}
