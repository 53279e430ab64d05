import { BadRequestError, FieldError } from '../../common/errors';
import { isBlank, ndjsonLines, physicalLines, TooManyLinesError } from '../../infra/http/bulk-lines';
import { DecisionLine } from './decision-recorder';

export const DECISION_FILE_FORMATS = ['NDJSON', 'CSV'] as const;
export type DecisionFileFormat = (typeof DECISION_FILE_FORMATS)[number];

/** The CSV columns, as the header must name them (any order; the first three are required). */
export const CSV_COLUMNS = ['referralId', 'decision', 'decidedAt', 'creditLimit', 'cardLast4', 'declineReasons'] as const;
const REQUIRED_COLUMNS = ['referralId', 'decision', 'decidedAt'];

/** A line of a decision file: a decision line for DecisionRecorder, or a line that is broken as CSV (`invalid`). */
export type FileLine = DecisionLine | { line: number; invalid: FieldError[] };

export const isInvalidLine = (l: FileLine): l is { line: number; invalid: FieldError[] } => 'invalid' in l;

/**
 * The lines of a decision file, numbered as the file's physical lines from 1 (so for CSV the header is line 1 and the
 * first decision line 2: the numbers a bank sees in its editor). Blank lines are skipped but counted. NDJSON lines are
 * the bulk endpoint's lines exactly; a CSV line becomes the same JSON object (empty cells are absent fields,
 * declineReasons split on ';'), so both formats are validated by parseDecision and nothing else.
 */
export function decisionFileLines(format: DecisionFileFormat, body: string): FileLine[] {
  if (format === 'NDJSON') return [...ndjsonLines(body)];
  const rows = physicalLines(body);
  const header = rows.next();
  if (header.done) return [];
  const columns = csvHeader(header.value.text);
  const lines: FileLine[] = [];
  for (const { line, text } of rows) {
    if (isBlank(text)) continue;
    const cells = splitCsvLine(text);
    if (!cells) {
      lines.push({ line, invalid: [{ field: null, message: 'is not a valid CSV line (unbalanced quotes)' }] });
    } else if (cells.length !== columns.length) {
      lines.push({ line, invalid: [{ field: null, message: `has ${cells.length} columns; the header has ${columns.length}` }] });
    } else {
      const value: Record<string, unknown> = {};
      columns.forEach((column, i) => {
        if (cells[i] === '') return;
        value[column] = column === 'declineReasons' ? cells[i].split(';') : cells[i];
      });
      lines.push({ line, value });
    }
  }
  return lines;
}

/**
 * Checks the file as a whole before it is accepted (a 400 or 413 at upload, not a file of failed lines): not empty, at
 * most `maxLines` decision lines (blank lines and the CSV header not counted), and for CSV a header naming known
 * columns, each once, the required ones present. Lines are counted, not parsed (the job parses them), and counting
 * stops at the line after the cap. Returns the number of lines to answer.
 */
export function checkDecisionFile(format: DecisionFileFormat, body: string, maxLines: number): number {
  const rows = physicalLines(body);
  if (format === 'CSV') {
    const header = rows.next();
    if (header.done || isBlank(header.value.text))
      throw new BadRequestError(`The first line must be the CSV header: ${CSV_COLUMNS.join(',')}`);
    csvHeader(header.value.text);
  }
  let total = 0;
  for (const { text } of rows) {
    if (isBlank(text)) continue;
    if (total === maxLines) throw new TooManyLinesError(maxLines);
    total++;
  }
  if (total === 0) throw new BadRequestError('The file holds no decision lines');
  return total;
}

function csvHeader(text: string): string[] {
  const columns = splitCsvLine(text)?.map((c) => c.trim());
  const known = new Set<string>(CSV_COLUMNS);
  const errors: FieldError[] = [];
  if (!columns) errors.push({ field: null, message: 'the header is not valid CSV' });
  else {
    columns.forEach((c, i) => {
      if (!known.has(c)) errors.push({ field: `header.${i + 1}`, message: `is not a known column (${CSV_COLUMNS.join(', ')})` });
      else if (columns.indexOf(c) !== i) errors.push({ field: `header.${i + 1}`, message: 'repeats a column' });
    });
    for (const required of REQUIRED_COLUMNS)
      if (!columns.includes(required)) errors.push({ field: 'header', message: `must name the column ${required}` });
  }
  if (errors.length) throw new BadRequestError('The CSV header is not valid', errors);
  return columns!;
}

/**
 * One CSV record of RFC 4180 on one physical line: cells split on commas, a cell may be quoted ("" for a quote).
 * Quoted line breaks are not supported (no decision value needs one). Undefined when the quotes do not balance.
 */
export function splitCsvLine(text: string): string[] | undefined {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let cell = '';
      i++;
      for (;;) {
        if (i >= text.length) return undefined;
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        cell += text[i++];
      }
      if (i < text.length && text[i] !== ',') return undefined;
      cells.push(cell);
    } else {
      const end = text.indexOf(',', i);
      const cell = end === -1 ? text.slice(i) : text.slice(i, end);
      if (cell.includes('"')) return undefined;
      cells.push(cell);
      i = end === -1 ? text.length : end;
    }
    if (i >= text.length) return cells;
    i++; // the comma
    if (i === text.length) {
      cells.push('');
      return cells;
    }
  }
}
