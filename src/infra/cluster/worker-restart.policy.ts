/** Delay before restarting a worker after its first unexpected exit; it doubles with each exit in a row. */
export const FIRST_RESTART_DELAY_MS = 500;
export const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that served this long before dying starts a fresh streak: one crash a day must not wait 30 s. */
export const STABLE_AFTER_MS = 30_000;
/**
 * Start-ups in a row that end before the worker listens, after which the cluster stops (exit 1). A worker has already
 * retried its database for ~27 s before it gives up (TypeORM's retries), so three in a row is a configuration or
 * infrastructure problem the operator must see, not something to loop on.
 */
export const MAX_FAILED_START_UPS = 3;

export type RestartDecision = { restartInMs: number } | { giveUp: string };

/**
 * When to restart one worker slot of the api cluster, from the history of the workers that ran in it. Pure (the clock
 * is passed in) so the policy is tested without processes.
 */
export class WorkerRestartPolicy {
  private exitsInARow = 0;
  private failedStartUpsInARow = 0;
  private listeningSince: number | undefined;

  /** A new worker was forked into the slot. */
  started(): void {
    this.listeningSince = undefined;
  }

  /** The slot's worker accepts connections. */
  listening(now: number): void {
    this.listeningSince = now;
    this.failedStartUpsInARow = 0;
  }

  /** The slot's worker exited although nobody asked it to. */
  exited(now: number): RestartDecision {
    if (this.listeningSince === undefined) {
      this.failedStartUpsInARow++;
      if (this.failedStartUpsInARow >= MAX_FAILED_START_UPS) {
        return { giveUp: `${this.failedStartUpsInARow} start-ups in a row ended before listening` };
      }
    } else if (now - this.listeningSince >= STABLE_AFTER_MS) {
      this.exitsInARow = 0;
    }
    this.exitsInARow++;
    return { restartInMs: Math.min(FIRST_RESTART_DELAY_MS * 2 ** (this.exitsInARow - 1), MAX_RESTART_DELAY_MS) };
  }
}
