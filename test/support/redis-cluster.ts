import { ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { eventually } from './app';

const run = promisify(execFile);

/** Whether redis-server and redis-cli can be run here; a spec that needs them skips, and says so, when not. */
export function redisServerAvailable(): boolean {
  return ['redis-server', 'redis-cli'].every((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0);
}

/** A port free for the node and for its cluster bus (port + 10000), away from the shared 6379. */
async function freeNodePort(taken: Set<number>): Promise<number> {
  const bindable = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (taken.has(port)) continue;
    if ((await bindable(port)) && (await bindable(port + 10_000))) return port;
  }
}

/**
 * Three redis-server processes in cluster mode on free local ports, owned by the test: no persistence, so a node
 * stopped and started again comes back knowing its slots (nodes-<port>.conf) but holding no data, the worst case.
 */
export class LocalRedisCluster {
  readonly ports: number[] = [];
  private dir = '';
  private readonly processes = new Map<number, ChildProcess>();

  /** `host:port,...`, the REDIS_CLUSTER_NODES of the gateway under test. */
  get nodes(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(',');
  }

  async start(size = 3): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'rg-redis-cluster-'));
    const taken = new Set<number>();
    for (let i = 0; i < size; i++) {
      const port = await freeNodePort(taken);
      taken.add(port);
      this.ports.push(port);
      await this.startNode(port);
    }
    await run('redis-cli', ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    await this.waitUntilOk();
  }

  /** (Re)starts the node on its port with its nodes file, and waits until it answers. */
  async startNode(port: number): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', this.dir],
        ...['--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, `nodes-${port}.conf`)],
        // Failure detection in 2 s rather than 15 s, so the spec does not wait on it.
        ...['--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      ],
      { stdio: 'ignore' },
    );
    this.processes.set(port, child);
    await eventually(async () => (await this.cli(port, 'PING')) === 'PONG', 10_000, 50);
  }

  /** Stops the node (SIGTERM; without persistence it keeps nothing) and waits until its process has exited. */
  async stopNode(port: number): Promise<void> {
    const child = this.processes.get(port);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  /** Keys matching `pattern` on every node (SCAN, so never a blocking KEYS). */
  async keys(pattern: string): Promise<string[]> {
    const found: string[] = [];
    for (const port of this.ports) {
      const { stdout } = await run('redis-cli', ['-p', String(port), '--scan', '--pattern', pattern]);
      found.push(...stdout.split('\n').filter(Boolean));
    }
    return found;
  }

  /** Starts again every node that was stopped. */
  async startStoppedNodes(): Promise<void> {
    for (const [port, child] of this.processes) if (child.exitCode !== null || child.signalCode !== null) await this.startNode(port);
  }

  /** The port of the master serving the slot of `key`. */
  async ownerOf(key: string): Promise<number> {
    const slot = Number(await this.cli(this.ports[0], 'CLUSTER', 'KEYSLOT', key));
    const ranges = (await run('redis-cli', ['-p', String(this.ports[0]), '--json', 'CLUSTER', 'SLOTS'])).stdout;
    const owner = (JSON.parse(ranges) as [number, number, [string, number]][]).find(([from, to]) => slot >= from && slot <= to);
    if (!owner) throw new Error(`no node serves slot ${slot}`);
    return owner[2][1];
  }

  /** Until every running node says cluster_state:ok (all slots served, every master reachable). */
  async waitUntilOk(timeoutMs = 30_000): Promise<void> {
    await eventually(
      async () => {
        for (const port of this.ports) if (!/cluster_state:ok/.test(await this.cli(port, 'CLUSTER', 'INFO'))) return false;
        return true;
      },
      timeoutMs,
      100,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.ports.map((p) => this.stopNode(p)));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  private async cli(port: number, ...args: string[]): Promise<string> {
    return (await run('redis-cli', ['-p', String(port), ...args])).stdout.trim();
  }
}
