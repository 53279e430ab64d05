import { OwnedProcess, until } from './processes';

/** `until` for a check that finds something: resolves to what it found (never `undefined` or `false`). */
export async function untilFound<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  opts: Parameters<typeof until>[2] = {},
): Promise<T> {
  return (await until(what, check, opts)) as T;
}

/**
 * Polls `check` until it holds, failing at once when `broken` reports that the state the wait depends on has ended
 * (e.g. a hung push released), so what a case asserts is the order of the two, not a duration.
 */
export async function untilWhile(
  what: string,
  check: () => Promise<boolean>,
  broken: () => string | undefined,
  opts: { everyMs?: number; watch?: OwnedProcess[] } = {},
): Promise<void> {
  const { everyMs = 200, watch = [] } = opts;
  for (;;) {
    if (await check()) return;
    const why = broken();
    if (why) throw new Error(`${what}: ${why}`);
    const dead = watch.find((p) => !p.alive);
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}:\n${dead.output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
