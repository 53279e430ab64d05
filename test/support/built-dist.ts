import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
/** The compiled gateway and CLI, as operators run them (`npm run start:api`, `npm run cli`). */
export const BUILT_GATEWAY = join(ROOT, 'dist', 'src', 'main.js');
export const BUILT_CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** Newest modification time of the TypeScript sources under a folder. */
function newestSource(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return Math.max(latest, newestSource(path));
    return entry.name.endsWith('.ts') ? Math.max(latest, statSync(path).mtimeMs) : latest;
  }, 0);
}

/** CI builds first; a local run rebuilds dist/ when it is missing or older than a source file. */
export function ensureBuilt(): void {
  const builtAt = Math.min(...[BUILT_GATEWAY, BUILT_CLI].map((file) => (existsSync(file) ? statSync(file).mtimeMs : 0)));
  if (newestSource(join(ROOT, 'src')) <= builtAt) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}
