import { ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { ClientRequest, get } from 'node:http';
import { createServer, Server } from 'node:net';

import * as mysql from 'mysql2/promise';

import { API_SHUTDOWN_TIMEOUT_MS } from '../../src/infra/cluster/api-cluster.supervisor';
import { OUTBOX_STATUSES } from '../../src/infra/ops/outbox-stats.repository';
import { eventually } from '../support/app';
import { BUILT_GATEWAY, ensureBuilt } from '../support/built-dist';

/**
 * The api role as a cluster (API_PROCESSES=2), started as operators start it (`node dist/src/main.js api`) on the
 * run's database and Redis: both workers answer, /metrics is one answer for the role, a killed worker is replaced,
 * SIGTERM stops everything, and workers that cannot start stop the primary.
 */
jest.setTimeout(120_000);

interface Started {
  primary: ChildProcess;
  baseUrl: string;
  port: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  logLines: () => Array<Record<string, unknown>>;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function startCluster(port: number, processes = 2): Started {
  const primary = spawn(process.execPath, [BUILT_GATEWAY, 'api'], {
    env: { ...process.env, API_PROCESSES: String(processes), PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  primary.stdout!.on('data', (chunk) => (output += chunk));
  primary.stderr!.on('data', (chunk) => (output += chunk));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    primary.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const logLines = () =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { primary, baseUrl: `http://127.0.0.1:${port}`, port, exit, logLines };
}

/** GET on a connection of its own (no keep-alive), so the cluster hands each request to a worker afresh. */
function getOnNewConnection(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, timeout: 15_000, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    })
      .on('timeout', function (this: ClientRequest) {
        this.destroy(new Error(`no answer from ${url}`));
      })
      .on('error', reject);
  });
}

/** Prometheus text format, checked line by line: every sample once, every family typed once. Keys are `name{labels}`. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE (\w+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      if (typed.has(type[1])) throw new Error(`metric family ${type[1]} typed twice`);
      typed.add(type[1]);
      continue;
    }
    const sample = /^(\w+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!sample || Number.isNaN(Number(sample[2]))) throw new Error(`not a Prometheus sample: ${line}`);
    if (samples.has(sample[1])) throw new Error(`sample ${sample[1]} appears twice`);
    samples.set(sample[1], Number(sample[2]));
  }
  return samples;
}

async function scrape(baseUrl: string): Promise<Map<string, number>> {
  const res = await getOnNewConnection(`${baseUrl}/metrics`, { authorization: `Bearer ${process.env.METRICS_TOKEN}` });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseMetrics(res.body);
}

const LIVE_COUNT = 'http_request_duration_seconds_count{method="GET",route="/health/live",status="200"}';

/** The worker processes of a primary, from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        // Field 4 of /proc/<pid>/stat is the parent pid; the command name (field 2) may contain spaces, so split after it.
        const afterName = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1];
        return Number(afterName.split(' ')[1]) === pid;
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function sendLiveRequests(baseUrl: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) expect((await getOnNewConnection(`${baseUrl}/health/live`)).status).toBe(200);
}

beforeAll(ensureBuilt, 180_000);

describe('api role with API_PROCESSES=2', () => {
  let cluster: Started;
  let db: mysql.Connection;
  let outboxRowId: number | undefined;

  beforeAll(async () => {
    db = await mysql.createConnection({ uri: process.env.DATABASE_URL });
    cluster = startCluster(await freePort());
    await eventually(async () => (await scrape(cluster.baseUrl)).get('api_processes') === 2, 90_000, 250);
  });

  afterAll(async () => {
    if (cluster.primary.exitCode === null && cluster.primary.signalCode === null) {
      for (const pid of childrenOf(cluster.primary.pid!)) process.kill(pid, 'SIGKILL');
      cluster.primary.kill('SIGKILL');
    }
    if (outboxRowId !== undefined) await db.query('DELETE FROM outbox WHERE id = ?', [outboxRowId]);
    await db.end();
  });

  it('runs one primary with two workers, and /metrics counts the requests of both once each', async () => {
    expect(childrenOf(cluster.primary.pid!)).toHaveLength(2);
    await sendLiveRequests(cluster.baseUrl, 40);
    await eventually(async () => (await scrape(cluster.baseUrl)).get(LIVE_COUNT) === 40);
    const metrics = await scrape(cluster.baseUrl);
    expect(metrics.get('api_processes')).toBe(2);
    // prom-client's own aggregators: versions are not added up, start times are left out.
    const versions = [...metrics].filter(([key]) => key.startsWith('nodejs_version_info{'));
    expect(versions.map(([, value]) => value)).toEqual([1]);
    expect([...metrics.keys()].some((k) => k.startsWith('process_start_time_seconds'))).toBe(false);
  });

  it('reports gauges of shared state once, not once per process', async () => {
    const [inserted] = await db.query<mysql.ResultSetHeader>(
      "INSERT INTO outbox (queue, job_name, payload, status, finished_at) VALUES ('maintenance', 'outbox.probe', '{}', 'DONE', NOW(3))",
    );
    outboxRowId = inserted.insertId;
    const [rows] = await db.query<mysql.RowDataPacket[]>('SELECT status, COUNT(*) AS n FROM outbox GROUP BY status');
    const expected = Object.fromEntries(OUTBOX_STATUSES.map((s) => [s, 0]));
    for (const row of rows) expected[row.status] = Number(row.n);
    expect(expected.DONE).toBeGreaterThanOrEqual(1);

    const metrics = await scrape(cluster.baseUrl);
    for (const status of OUTBOX_STATUSES) expect(metrics.get(`outbox_rows{status="${status}"}`)).toBe(expected[status]);
    expect(metrics.get('queue_jobs{queue="maintenance",state="waiting"}')).toBe(0);
  });

  it('replaces a worker killed with SIGKILL and keeps answering meanwhile', async () => {
    const [victim, survivor] = childrenOf(cluster.primary.pid!);
    process.kill(victim, 'SIGKILL');
    // node:cluster hands a new connection to a free worker; one handed over in the instant the worker dies, before the
    // primary has reaped it, is lost (the client's timeout ends it). Requests start once the primary knows.
    await eventually(async () => !isAlive(victim));
    expect((await scrape(cluster.baseUrl)).get('api_processes')).toBe(1);
    // The victim's counts went with it, so both workers had answered some of the 40 requests.
    const survivorCount = (await scrape(cluster.baseUrl)).get(LIVE_COUNT)!;
    expect(survivorCount).toBeGreaterThan(0);
    expect(survivorCount).toBeLessThan(40);

    await sendLiveRequests(cluster.baseUrl, 10);
    await eventually(async () => (await scrape(cluster.baseUrl)).get('api_processes') === 2, 60_000, 250);
    const workers = childrenOf(cluster.primary.pid!);
    expect(workers).toHaveLength(2);
    expect(workers).toContain(survivor);
    expect(workers).not.toContain(victim);
    await eventually(async () => (await scrape(cluster.baseUrl)).get(LIVE_COUNT) === survivorCount + 10);
    expect(cluster.logLines()).toContainEqual(
      expect.objectContaining({ msg: 'api worker exited unexpectedly; restarting it', workerPid: victim, signal: 'SIGKILL' }),
    );
  });

  it('stops on SIGTERM: workers shut down, the primary exits 0 within the time limit, no process is left', async () => {
    const workers = childrenOf(cluster.primary.pid!);
    expect(workers).toHaveLength(2);
    const sentAt = Date.now();
    cluster.primary.kill('SIGTERM');
    const { code } = await cluster.exit;
    expect(code).toBe(0);
    expect(Date.now() - sentAt).toBeLessThan(API_SHUTDOWN_TIMEOUT_MS);
    for (const pid of workers) expect(isAlive(pid)).toBe(false);
  });
});

describe('api role with API_PROCESSES=2 whose workers cannot start', () => {
  let occupier: Server;

  afterAll(() => new Promise<void>((resolve) => occupier.close(() => resolve())));

  it('stops the primary with a non-zero exit instead of restarting them forever', async () => {
    // Its port is taken, so every worker fails at start-up.
    const port = await freePort();
    occupier = createServer().listen(port, '0.0.0.0');
    const cluster = startCluster(port);
    let timer: NodeJS.Timeout | undefined;
    const { code } = await Promise.race([
      cluster.exit,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the primary kept running')), 100_000))),
    ]).finally(() => clearTimeout(timer));
    expect(code).toBe(1);
    expect(childrenOf(cluster.primary.pid!)).toEqual([]);
    expect(cluster.logLines()).toContainEqual(
      expect.objectContaining({ msg: 'api workers keep failing at start-up; stopping the cluster' }),
    );
  });
});
