import * as mysql from 'mysql2/promise';

import { BenchEnvironment } from '../support/env';
import { forkBenchScript, nextMessage, stopChild } from '../support/processes';
import { sleep } from '../support/timing';

export interface AuditFigures {
  /** Entries appended and chained, per second, from "go" to the head reaching the last one. */
  chainedPerSec: number;
  /** Entries appended per second (inbox inserts committed), both processes together. */
  appendedPerSec: number;
  entries: number;
  /** How long the two processes took to finish the work earlier sections left, before the clock started. */
  settledSeconds: number;
}

async function chainState(pool: mysql.Pool): Promise<{ seq: number; inbox: number }> {
  const [[head]] = (await pool.query('SELECT seq FROM audit_chain_head WHERE id = 1')) as unknown as [{ seq: string }[]];
  const [[inbox]] = (await pool.query('SELECT COUNT(*) AS n FROM audit_inbox')) as unknown as [{ n: string }[]];
  return { seq: Number(head.seq), inbox: Number(inbox.n) };
}

/** Outbox rows due now and not yet handled: work earlier sections left for the worker role (delayed SLA checks aside). */
async function dueOutboxRows(pool: mysql.Pool): Promise<number> {
  const [[due]] = (await pool.query(
    `SELECT COUNT(*) AS n FROM outbox WHERE status IN ('PENDING', 'ENQUEUED') AND delay_ms = 0`,
  )) as unknown as [{ n: string }[]];
  return Number(due.n);
}

/** Two gateway processes append `perProcess` entries each, concurrently, while their chain pumps link them. */
export async function auditAppendsWithChain(
  bench: BenchEnvironment,
  pool: mysql.Pool,
  perProcess: number,
  concurrency: number,
): Promise<AuditFigures> {
  const children = ['a', 'b'].map((name) => forkBenchScript('paths/audit-appender.js', bench.env, [name]));
  try {
    await Promise.all(children.map((c) => nextMessage(c, (m) => m?.ready)));
    // Earlier sections left work behind: the bulk decisions' decision.apply jobs (one per decision) and entries in the
    // inbox (no worker ran then). The two processes finish it first, so what is timed is the appends and the chain,
    // not the appends competing with 100,000 decision applications (docs/BENCHMARKS.md, "Audit").
    const settleStart = process.hrtime.bigint();
    while ((await dueOutboxRows(pool)) > 0 || (await chainState(pool)).inbox > 0) await sleep(100);
    const settledSeconds = Number(process.hrtime.bigint() - settleStart) / 1e9;
    const before = (await chainState(pool)).seq;
    const target = before + 2 * perProcess;
    const start = process.hrtime.bigint();
    const appended = children.map((c) => nextMessage<{ seconds: number }>(c, (m) => m?.appended));
    for (const c of children) c.send({ cmd: 'go', count: perProcess, concurrency });
    const appendSeconds = Math.max(...(await Promise.all(appended)).map((m) => m.seconds));
    while ((await chainState(pool)).seq < target) await sleep(20);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return {
      chainedPerSec: (2 * perProcess) / seconds,
      appendedPerSec: (2 * perProcess) / appendSeconds,
      entries: 2 * perProcess,
      settledSeconds,
    };
  } finally {
    for (const c of children) if (c.connected) c.send({ cmd: 'stop' });
    await Promise.all(children.map((c) => stopChild(c)));
  }
}
