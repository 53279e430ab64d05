import { BadRequestError } from '../../../common/errors';

/** One line of a bulk body: its number (from 1) and its parsed JSON, or `notJson` when it could not be parsed. */
export type BulkLine = { line: number; value: unknown; notJson?: false } | { line: number; notJson: true };

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
 * Parses NDJSON text line by line: a bad line becomes a `notJson` entry and never stops its neighbours.
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
 * The lines of a bulk request body: NDJSON arrives as a string (the application/x-ndjson parser keeps it raw),
 * a JSON array already parsed, each element being line `index + 1`.
 */
export function bulkLinesOf(body: unknown): BulkLine[] {
  if (typeof body === 'string') return [...ndjsonLines(body)];
  if (Array.isArray(body)) return body.map((value, i) => ({ line: i + 1, value }));
  throw new BadRequestError('The body must be NDJSON (application/x-ndjson) or a JSON array of lines (application/json)');
}
