import { JOB_CATALOGUE, QueueName } from '../queues/job-catalogue';

/** An outbox row as the relay and sweeper read it. */
export interface OutboxRow {
  id: string;
  queue: string;
  job_name: string;
  job_token: string;
  payload: string | object;
  /** Milliseconds until the job is due (created_at + delay_ms), negative once due. */
  due_in_ms: string | number;
}

/** The columns both read; `due_in_ms` is the remaining delay, so a re-added job keeps its due time. */
export const OUTBOX_ROW_COLUMNS = `id, queue, job_name, job_token, payload,
  TIMESTAMPDIFF(MICROSECOND, NOW(3), created_at + INTERVAL delay_ms * 1000 MICROSECOND) / 1000 AS due_in_ms`;

/** A row BullMQ can be handed: its queue and job are in this build's catalogue and its payload is a JSON object. */
export interface RelayableRow extends OutboxRow {
  queue: QueueName;
  data: object;
}

/**
 * Why the relay cannot hand a row to BullMQ, or the row ready to hand. Such a row would fail the same way on every
 * try (a queue or job this build does not know, e.g. during a rolling deploy, or a payload that is not an object),
 * so it is parked rather than retried ahead of every row behind it.
 */
export function checkOutboxRow(row: OutboxRow): { ok: RelayableRow } | { refused: string } {
  const jobs = (JOB_CATALOGUE as Record<string, readonly string[] | undefined>)[row.queue];
  if (!Object.hasOwn(JOB_CATALOGUE, row.queue) || !jobs) return { refused: `unknown queue ${row.queue.slice(0, 64)}` };
  if (!jobs.includes(row.job_name)) return { refused: `unknown job ${row.queue}/${row.job_name.slice(0, 64)}` };
  let data: unknown;
  try {
    data = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
  } catch {
    return { refused: 'payload is not JSON' };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { refused: 'payload is not a JSON object' };
  return { ok: { ...row, queue: row.queue as QueueName, data } };
}

/** Rejects with a clear error when `work` takes longer than `ms`: a Redis outage fails the step instead of hanging it. */
export async function withinMs<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from Redis within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
