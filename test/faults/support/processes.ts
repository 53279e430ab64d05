import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** A free TCP port on loopback (the kernel's pick; closed again before the caller binds it). */
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

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A child process the suite started and owns: its output is kept (the last 200 KiB) for a failure's message, and
 * every one still running when a file ends is killed by killAll(), so no case leaves a process behind.
 */
export class OwnedProcess {
  private static readonly running = new Set<OwnedProcess>();
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private log = '';

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      this.log = (this.log + chunk.toString('utf8')).slice(-200_000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    OwnedProcess.running.add(this);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        OwnedProcess.running.delete(this);
        resolve({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.log;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** kill -9: no shutdown hook runs, open transactions are rolled back by the server, held jobs stall. */
  async kill9(): Promise<Exit> {
    this.signal('SIGKILL');
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; returns how it ended. */
  async stop(graceMs = 20_000): Promise<Exit> {
    if (!this.alive) return this.exited;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** Every process the suite started and that still runs (afterAll of each file). */
  static async killAll(): Promise<void> {
    await Promise.all([...OwnedProcess.running].map((p) => p.kill9()));
  }
}

/** Polls until `check` is truthy; a process that exits meanwhile ends the wait with its output. */
export async function until<T>(
  what: string,
  check: () => Promise<T> | T,
  opts: { timeoutMs?: number; everyMs?: number; watch?: OwnedProcess[] } = {},
): Promise<T> {
  const { timeoutMs = 30_000, everyMs = 100, watch = [] } = opts;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const dead = watch.find((p) => !p.alive);
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}:\n${dead.output().slice(-4000)}`);
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
