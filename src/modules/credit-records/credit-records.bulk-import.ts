import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';

import { BulkLine, parseNdjsonLine } from '../../infra/http/bulk-lines';
import { CreditRecordsService, IngestResult, RejectedLine } from './credit-records.service';
import { syntheticCreditRecords, SyntheticOptions } from './synthetic/synthetic-credit-records';

/** Running totals of a long import, reported after every batch. */
export interface ImportProgress {
  lines: number;
  accepted: number;
  ignored: number;
  rejected: number;
  elapsedMs: number;
}

export interface ImportOptions {
  /** Lines handed to the service per call (each call writes them in 1,000-row transactions). */
  batchLines?: number;
  onProgress?: (progress: ImportProgress) => void;
  /** Rejected lines kept for the final report (their count is always exact). */
  keepRejected?: number;
}

export interface ImportResult extends ImportProgress {
  /** The first `keepRejected` rejected lines, with line numbers and errors (never the line's content). */
  rejectedLines: RejectedLine[];
}

/**
 * Feeds the service in batches from any source of lines, in constant memory. Lines of one user in different
 * batches are applied in order (a later, newer snapshot wins; an equal one is ignored), as over HTTP.
 */
export async function importLines(
  service: CreditRecordsService,
  lines: AsyncIterable<BulkLine> | Iterable<BulkLine>,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const batchLines = options.batchLines ?? 5000;
  const keep = options.keepRejected ?? 100;
  const started = Date.now();
  const totals: ImportResult = { lines: 0, accepted: 0, ignored: 0, rejected: 0, elapsedMs: 0, rejectedLines: [] };
  let batch: BulkLine[] = [];
  let lastLine = 0;
  const flush = async () => {
    const result: IngestResult = await service.writeCreditRecords(batch);
    totals.lines = lastLine;
    totals.accepted += result.accepted;
    totals.ignored += result.ignored;
    totals.rejected += result.rejected.length;
    totals.rejectedLines.push(...result.rejected.slice(0, Math.max(0, keep - totals.rejectedLines.length)));
    totals.elapsedMs = Date.now() - started;
    batch = [];
    options.onProgress?.({ ...totals });
  };
  for await (const line of lines) {
    batch.push(line);
    lastLine = line.line;
    if (batch.length >= batchLines) await flush();
  }
  if (batch.length) await flush();
  totals.elapsedMs = Date.now() - started;
  return totals;
}

/** The lines of an NDJSON file (or stdin for "-"), numbered as in the file. */
export async function* ndjsonFileLines(path: string): AsyncGenerator<BulkLine> {
  const input = path === '-' ? process.stdin : createReadStream(path, { encoding: 'utf8' });
  const reader = createInterface({ input: input as Readable, crlfDelay: Infinity });
  let n = 0;
  for await (const raw of reader) {
    n++;
    const parsed = parseNdjsonLine(n === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw, n);
    if (parsed) yield parsed;
  }
}

/** Synthetic users as bulk lines, straight from the generator (no file in between). */
export function* syntheticLines(options: SyntheticOptions): Generator<BulkLine> {
  let n = 0;
  for (const record of syntheticCreditRecords(options)) yield { line: ++n, value: record };
}
