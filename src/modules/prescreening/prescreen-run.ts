import { keyOf, toPublicId } from '../../common/public-id';

export const PRESCREEN_RUN_STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED'] as const;
export type PrescreenRunStatus = (typeof PRESCREEN_RUN_STATUSES)[number];

/** Users per chunk: big enough that per-chunk overhead is small, small enough that one chunk's transaction is short. */
export const DEFAULT_CHUNK_SIZE = 10_000;
export const MIN_CHUNK_SIZE = 1_000;
export const MAX_CHUNK_SIZE = 50_000;

/** The opaque public id of a run (API.md: `run_…`). */
export const runPublicId = (id: string | number) => toPublicId('run', id);

/** The numeric key behind a public id, or undefined for anything this API did not issue (answered as 404). */
export const runKeyOf = (publicId: string): string | undefined => keyOf('run', publicId);

/** A run as stored, with the sums of its DONE chunks. */
export interface PrescreenRun {
  id: string;
  productId: string;
  productCode: string;
  productVersion: number;
  status: PrescreenRunStatus;
  chunkSize: number;
  chunkCount: number | null;
  chunksDone: number;
  totalUsers: number | null;
  failureReason: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface RunTotals {
  evaluated: number;
  eligible: number;
  ineligible: number;
  offersCreated: number;
}

/** `GET /v1/admin/prescreen-runs/{id}` (API.md); productVersion, chunks and failureReason are additions. */
export interface PrescreenRunView {
  id: string;
  productCode: string;
  productVersion: number;
  status: PrescreenRunStatus;
  progress: { evaluated: number; total: number | null; chunksDone: number; chunks: number | null };
  counts: { eligible: number; ineligible: number; offersCreated: number };
  reasons: Record<string, number>;
  failureReason?: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * `reasonCodes` lists every code the pinned criteria and the exclusions can yield, so a reason nobody failed reads
 * 0 instead of being absent. While a run is going, total is the number of users when it was planned; once it is
 * COMPLETED, total is what was evaluated (users ingested during the run are evaluated too).
 */
export function toRunView(run: PrescreenRun, totals: RunTotals, reasons: Map<string, number>, reasonCodes: string[]): PrescreenRunView {
  const all: Record<string, number> = {};
  for (const code of reasonCodes) all[code] = 0;
  for (const [code, n] of reasons) all[code] = n;
  const view: PrescreenRunView = {
    id: runPublicId(run.id),
    productCode: run.productCode,
    productVersion: run.productVersion,
    status: run.status,
    progress: {
      evaluated: totals.evaluated,
      total: run.status === 'COMPLETED' ? totals.evaluated : run.totalUsers,
      chunksDone: run.chunksDone,
      chunks: run.chunkCount,
    },
    counts: { eligible: totals.eligible, ineligible: totals.ineligible, offersCreated: totals.offersCreated },
    reasons: all,
    createdAt: run.createdAt.toISOString(),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
  };
  if (run.failureReason) view.failureReason = run.failureReason;
  return view;
}
