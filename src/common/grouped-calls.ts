export interface GroupedCallsOptions<In, Out> {
  /** Runs one group; returns one result per input, in order. */
  run: (inputs: In[]) => Promise<Out[]>;
  /** Most inputs one group takes (bounds IN lists and multi-row statements). */
  maxGroup: number;
  /** Groups in flight at once (1: a group waits for the previous one). */
  concurrency?: number;
  /**
   * When a group of several fails: `run-each-alone` runs each input again on its own, so one bad input cannot fail
   * its neighbours (writes); `fail-all` fails them all with the group's error (reads, where a retry would fail alike).
   */
  onGroupFailure: 'run-each-alone' | 'fail-all';
  /** Told when a group of several failed and its inputs are run one by one. */
  onRetryEach?: (error: unknown, size: number) => void;
}

interface Pending<In, Out> {
  input: In;
  resolve: (out: Out) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit, as one mechanism: calls that arrive while a group is being run wait and run together in the next
 * group, so a burst of N calls costs a few round trips and commits instead of N. Each caller's promise settles only
 * when its own group has finished: nothing is acknowledged that could still be rolled back.
 */
export class GroupedCalls<In, Out> {
  private pending: Array<Pending<In, Out>> = [];
  private running = 0;

  constructor(private readonly options: GroupedCallsOptions<In, Out>) {}

  call(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.pending.push({ input, resolve, reject });
      if (this.running < (this.options.concurrency ?? 1)) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running++;
    try {
      while (this.pending.length) {
        const group = this.pending.splice(0, this.options.maxGroup);
        try {
          const outs = await this.options.run(group.map((p) => p.input));
          group.forEach((p, i) => p.resolve(outs[i]));
        } catch (error) {
          if (group.length === 1 || this.options.onGroupFailure === 'fail-all') {
            for (const p of group) p.reject(error);
            continue;
          }
          this.options.onRetryEach?.(error, group.length);
          for (const p of group) await this.options.run([p.input]).then((outs) => p.resolve(outs[0]), p.reject);
        }
      }
    } finally {
      this.running--;
    }
  }
}
