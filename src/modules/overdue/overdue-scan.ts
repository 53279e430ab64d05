import { scanPublicId } from './overdue-record';

export const SCAN_STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED'] as const;
export type ScanStatus = (typeof SCAN_STATUSES)[number];

/** Cardholders per chunk: one chunk is one transaction, with its records' SETs signed inside it. */
export const DEFAULT_SCAN_CHUNK_SIZE = 10_000;
export const MIN_SCAN_CHUNK_SIZE = 100;
export const MAX_SCAN_CHUNK_SIZE = 50_000;

export interface OverdueScan {
  id: string;
  asOf: string;
  status: ScanStatus;
  chunkSize: number;
  chunkCount: number | null;
  chunksDone: number;
  totalCardholders: number | null;
  failureReason: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** What one chunk (or the sum of a scan's DONE chunks) did. */
export interface ScanCounts {
  cardholders: number;
  noticesSent: number;
  noticesCancelled: number;
  reported: number;
  updated: number;
  cured: number;
  suppressed: number;
}

export const ZERO_COUNTS: ScanCounts = {
  cardholders: 0,
  noticesSent: 0,
  noticesCancelled: 0,
  reported: 0,
  updated: 0,
  cured: 0,
  suppressed: 0,
};

/** `GET /v1/admin/overdue-scans/{id}` (API.md); failureReason is an addition, present only on a FAILED scan. */
export interface OverdueScanView {
  id: string;
  asOf: string;
  status: ScanStatus;
  progress: { evaluated: number; total: number | null };
  counts: ScanCounts;
  startedAt: string | null;
  finishedAt: string | null;
  failureReason?: string;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** While running, total is the cardholders counted when the scan was planned; once COMPLETED, what was evaluated. */
export function toScanView(scan: OverdueScan, counts: ScanCounts): OverdueScanView {
  const view: OverdueScanView = {
    id: scanPublicId(scan.id),
    asOf: scan.asOf,
    status: scan.status,
    progress: { evaluated: counts.cardholders, total: scan.status === 'COMPLETED' ? counts.cardholders : scan.totalCardholders },
    counts,
    startedAt: iso(scan.startedAt),
    finishedAt: iso(scan.finishedAt),
  };
  if (scan.failureReason) view.failureReason = scan.failureReason;
  return view;
}

/** Today's business date in UTC (API.md: dates are UTC). */
export const utcToday = (now: Date = new Date()) => now.toISOString().slice(0, 10);
