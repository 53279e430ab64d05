import { ChildProcess, fork } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { BenchEnvironment } from './env';

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The next IPC message from `child` that satisfies `accept`; fails if the child exits first. */
export function nextMessage<T>(child: ChildProcess, accept: (m: any) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (!accept(m)) return;
      cleanup();
      resolve(m as T);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`child process exited (${code}) before answering`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Children being stopped on purpose: any other exit of a gateway process is reported. */
const stopping = new WeakSet<ChildProcess>();

/** Stops a child we started (SIGTERM, then SIGKILL after a grace period). */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  stopping.add(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A compiled script of this folder's tree (dist/bench/...), as a child process with IPC. */
export function forkBenchScript(relative: string, env: Record<string, string> = {}, args: string[] = []): ChildProcess {
  return fork(join(__dirname, '..', relative), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

export interface GatewayProcess {
  child: ChildProcess;
  baseUrl: string;
}

/**
 * The api role runs as operators would deploy it on this host: one process per core (API_PROCESSES=auto), the
 * cluster's primary forking the workers (docs/BENCHMARKS.md, "What is measured").
 */
export const API_PROCESSES = availableParallelism();

/** The gateway as operators run it (dist/src/main.js <role>), on the run's database and Redis. */
export async function startGatewayProcess(bench: BenchEnvironment, role: 'api' | 'worker'): Promise<GatewayProcess> {
  const port = await freePort();
  // BENCH_CPU_PROF=<dir>: V8 CPU profiles of the gateway processes (every api worker too: cluster workers inherit
  // the primary's execArgv), for finding where a missed target's time goes.
  const profileDir = process.env.BENCH_CPU_PROF;
  const child = fork(join(__dirname, '..', '..', 'src', 'main.js'), [role], {
    env: { ...process.env, ...bench.env, PORT: String(port), ...(role === 'api' ? { API_PROCESSES: 'auto' } : {}) },
    execArgv: profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  child.once('exit', (code, signal) => {
    if (!stopping.has(child)) console.error(`gateway ${role} process ${child.pid} exited unexpectedly (code ${code}, signal ${signal})`);
  });
  if (role === 'api') await waitForApiCluster(child, baseUrl, bench.env.METRICS_TOKEN);
  return { child, baseUrl };
}

/** Until every api process listens: the aggregated `api_processes` gauge counts the workers that do. */
async function waitForApiCluster(child: ChildProcess, baseUrl: string, metricsToken: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode} during start-up`);
    try {
      const res = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
      const listening = /^api_processes (\d+)$/m.exec(await res.text());
      if (res.ok && Number(listening?.[1]) === API_PROCESSES) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the api role did not run ${API_PROCESSES} processes within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
