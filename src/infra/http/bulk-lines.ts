import { Injectable, PipeTransform } from '@nestjs/common';

import { BadRequestError, DomainError, FieldError } from '../../common/errors';
import { AppConfigService } from '../config/app-config';

/**
 * Bulk bodies (NDJSON, a JSON array, a decision file), read line by line under one cap per request: BULK_MAX_LINES
 * non-blank lines (docs/BULK.md). Without it a 10 MiB body of `0\n` is five million lines, each answered with its own
 * error object, and the answer alone outgrows the heap. The cap is checked while reading, before any line is applied.
 */

/** One line of a bulk body: its number (from 1) and its parsed JSON, or `notJson` when it could not be parsed. */
export type BulkLine = { line: number; value: unknown; notJson?: false } | { line: number; notJson: true };

/** Errors reported for one line at most: an answer stays bounded however many members a line gets wrong. */
export const MAX_ERRORS_PER_LINE = 20;

/** A body with more lines than the endpoint takes per request: 413, and nothing of it applied. */
export class TooManyLinesError extends DomainError {
  constructor(maxLines: number) {
    super(
      413,
      'too-many-lines',
      'Too many lines',
      `This endpoint takes at most ${maxLines.toLocaleString('en-US')} lines per request; split the body into several requests`,
    );
  }
}

/** A line's errors, the first MAX_ERRORS_PER_LINE of them. */
export const boundedErrors = (errors: FieldError[]): FieldError[] =>
  errors.length > MAX_ERRORS_PER_LINE ? errors.slice(0, MAX_ERRORS_PER_LINE) : errors;

/** The lines read, at most `max`: the line after the cap is a TooManyLinesError, and nothing beyond it is read. */
export function atMostLines<T>(lines: Iterable<T>, max: number): T[] {
  const taken: T[] = [];
  for (const line of lines) {
    if (taken.length === max) throw new TooManyLinesError(max);
    taken.push(line);
  }
  return taken;
}

/** True when `text` holds only white space (the blank lines a bulk body may have, skipped but counted). */
export const isBlank = (text: string): boolean => text.length === 0 || text.trim() === '';

/**
 * The physical lines of a text, one at a time: numbered from 1, without their line break (LF or CRLF) and without a
 * leading byte-order mark. Lazy, so a caller that stops early never walks (or copies) the rest of the body.
 */
export function* physicalLines(text: string): Generator<{ line: number; text: string }> {
  let line = 1;
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const cut = end > start && text.charCodeAt(end - 1) === 0x0d ? end - 1 : end;
    yield { line: line++, text: text.slice(start, cut) };
    start = end + 1;
  }
}

/** One NDJSON line: undefined when blank (skipped, though still counted), `notJson` when it does not parse. */
export function parseNdjsonLine(raw: string, line: number): BulkLine | undefined {
  // A line opening with '{' (nearly all of them) is not blank: skip the trimmed copy.
  if (raw.charCodeAt(0) !== 0x7b && raw.trim() === '') return undefined;
  try {
    return { line, value: JSON.parse(raw) };
  } catch {
    return { line, notJson: true };
  }
}

/**
 * Parses NDJSON text line by line, lazily: a bad line becomes a `notJson` entry and never stops its neighbours.
 * Blank lines (a trailing newline, spacing) are skipped but still counted, so numbers match the file.
 */
export function* ndjsonLines(text: string, firstLine = 1): Generator<BulkLine> {
  let line = firstLine;
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte-order mark is not part of the first line
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const parsed = parseNdjsonLine(text.slice(start, end), line);
    if (parsed) yield parsed;
    line++;
    start = end + 1;
  }
}

/**
 * The lines of a bulk request body, at most `maxLines` of them (else TooManyLinesError): NDJSON arrives as a string
 * (the application/x-ndjson parser keeps it raw) and is parsed only up to the line after the cap; a JSON array
 * arrives parsed, each element being line `index + 1`, and is refused on its length before any line is built.
 */
export function bulkLinesOf(body: unknown, maxLines: number): BulkLine[] {
  if (typeof body === 'string') return atMostLines(ndjsonLines(body), maxLines);
  if (Array.isArray(body)) {
    if (body.length > maxLines) throw new TooManyLinesError(maxLines);
    return body.map((value, i) => ({ line: i + 1, value }));
  }
  throw new BadRequestError('The body must be NDJSON (application/x-ndjson) or a JSON array of lines (application/json)');
}

/** `@Body(BulkLinesPipe) lines: BulkLine[]`: a bulk endpoint's body as lines, under the configured cap. */
@Injectable()
export class BulkLinesPipe implements PipeTransform<unknown, BulkLine[]> {
  constructor(private readonly config: AppConfigService) {}

  transform(body: unknown): BulkLine[] {
    return bulkLinesOf(body, this.config.values.bulk.maxLines);
  }
}

/** OpenAPI: the 413 every bulk endpoint may answer. */
export const BULK_TOO_LARGE_RESPONSE = {
  description:
    'The body is over 10 MiB (payload-too-large) or holds more lines than the gateway takes per request ' +
    '(too-many-lines; 10,000 unless configured otherwise, the detail names the limit). Nothing of it is applied.',
};
