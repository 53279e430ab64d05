import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as mysql from 'mysql2/promise';

import { mintDevelopmentPlatformToken } from '../../src/modules/auth/platform-token.dev';
import { BenchEnvironment } from '../support/env';
import { freePort, stopChild } from '../support/processes';
import { sleep } from '../support/timing';

export const AUDIT_EXPORT_EVENTS = 1_000_000;
/** The partner code of the seeded events: the export asks for exactly them (idx_audit_partner). */
const PARTNER = 'BENCH_EXPORT';
const SEED_BATCH = 100_000;

export interface AuditExportFigures {
  rows: number;
  megabytes: number;
  seconds: number;
  rowsPerSec: number;
  seedSeconds: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  /** The highest RSS sampled (every 100 ms) while the export ran. */
  rssPeakMiB: number;
}

/**
 * `count` chained-looking entries appended after the chain head, set-based from MariaDB's sequence tables, a batch per
 * transaction under the head's row lock (so a chainer running meanwhile appends after them). Their hashes are not a
 * valid chain — the export does not verify — but every column is filled as a partner call's entry is.
 */
export async function seedAuditEvents(pool: mysql.Pool, count: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let done = 0; done < count;) {
    const n = Math.min(SEED_BATCH, count - done);
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      const [[head]] = (await conn.query('SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE')) as unknown as [{ seq: string }[]];
      const base = Number(head.seq);
      await conn.query(
        `INSERT INTO audit_events (seq, occurred_at, actor_type, actor_id, action, resource_type, resource_id, subject_user_hash,
                                   partner_code, request_id, client_ip, outcome, http_status, details, prev_hash, hash)
         SELECT ? + s.seq, NOW(3) - INTERVAL (? - s.seq) SECOND, 'partner', CONCAT('bench-client-', s.seq MOD 7),
                ELT(1 + s.seq MOD 4, 'partner_api.call', 'referral.file.disclosed', 'referral.decided', 'oauth.token.issued'),
                'referral', CONCAT('ref_', LPAD(HEX(? + s.seq), 22, '0')), SHA2(CONCAT('user-', s.seq MOD 50000), 256),
                ?, CONCAT('req-', UUID()), '10.0.0.1', IF(s.seq MOD 50 = 0, 'DENIED', 'SUCCESS'), IF(s.seq MOD 50 = 0, 403, 200),
                CONCAT('{"fields":["applicant.name","applicant.income"],"route":"/partner/v1/referrals/:id","status":"DELIVERED","n":',
                       s.seq, '}'),
                SHA2(CONCAT('bench-', ? + s.seq - 1), 256), SHA2(CONCAT('bench-', ? + s.seq), 256)
           FROM seq_1_to_${n} s`,
        [base, n, base, PARTNER, base, base],
      );
      await conn.query("UPDATE audit_chain_head SET seq = ?, hash = SHA2(CONCAT('bench-', ?), 256) WHERE id = 1", [base + n, base + n]);
      await conn.commit();
    } catch (error) {
      await conn.rollback();
      throw error;
    } finally {
      conn.release();
    }
    done += n;
  }
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const rssMiB = (pid: number): number => {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) / 1024;
};

/**
 * GET /v1/compliance/audit-events/export?format=ndjson of the seeded events from **one** api process (API_PROCESSES=1,
 * so the process measured is the one answering), read over a real socket by this process and counted, never kept.
 * RSS is read from /proc before the request (after a warm-up search), every 100 ms during it, and after it.
 */
export async function auditExportMemory(bench: BenchEnvironment, pool: mysql.Pool, count: number): Promise<AuditExportFigures> {
  const seedSeconds = await seedAuditEvents(pool, count);
  const port = await freePort();
  const child = fork(join(__dirname, '..', '..', 'src', 'main.js'), ['api'], {
    env: { ...process.env, ...bench.env, PORT: String(port), API_PROCESSES: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    for (let deadline = Date.now() + 60_000; ;) {
      if (child.exitCode !== null) throw new Error(`the api process exited with ${child.exitCode} during start-up`);
      const ready = await fetch(`${baseUrl}/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error('the api process was not ready within 60 s');
      await sleep(200);
    }
    const token = mintDevelopmentPlatformToken(bench.config, { sub: 'bench-compliance', roles: ['compliance'], expiresInSeconds: 7200 });
    const headers = { authorization: `Bearer ${token}` };
    const warm = await fetch(`${baseUrl}/v1/compliance/audit-events?partner=${PARTNER}&limit=500`, { headers });
    if (!warm.ok) throw new Error(`compliance search answered ${warm.status}`);
    await warm.arrayBuffer();

    const pid = child.pid!;
    const rssBeforeMiB = rssMiB(pid);
    let rssPeakMiB = rssBeforeMiB;
    const sampler = setInterval(() => {
      rssPeakMiB = Math.max(rssPeakMiB, rssMiB(pid));
    }, 100);
    const start = process.hrtime.bigint();
    let rows = 0;
    let bytes = 0;
    try {
      const res = await fetch(`${baseUrl}/v1/compliance/audit-events/export?format=ndjson&partner=${PARTNER}`, { headers });
      if (!res.ok || !res.body) throw new Error(`export answered ${res.status}`);
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++;
      }
    } finally {
      clearInterval(sampler);
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const rssAfterMiB = rssMiB(pid);
    rssPeakMiB = Math.max(rssPeakMiB, rssAfterMiB);
    if (rows !== count) throw new Error(`the export answered ${rows} lines for ${count} seeded events`);
    return { rows, megabytes: bytes / 1e6, seconds, rowsPerSec: rows / seconds, seedSeconds, rssBeforeMiB, rssAfterMiB, rssPeakMiB };
  } finally {
    await stopChild(child);
  }
}
