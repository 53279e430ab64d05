import { GroupedCalls } from '../../src/common/grouped-calls';

/** A run whose groups the test releases by hand, recording what each group held. */
function gatedRun(fail: (inputs: number[]) => boolean = () => false) {
  const groups: number[][] = [];
  const gates: Array<() => void> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const run = async (inputs: number[]) => {
    groups.push(inputs);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise<void>((release) => gates.push(release));
    inFlight--;
    if (fail(inputs)) throw new Error(`group ${inputs.join(',')} failed`);
    return inputs.map((n) => n * 10);
  };
  const releaseAll = async () => {
    while (gates.length) {
      gates.shift()!();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { run, groups, releaseAll, maxInFlight: () => maxInFlight };
}

describe('GroupedCalls', () => {
  it('runs the calls that arrive while a group is in flight together in the next group, each getting its own result', async () => {
    const g = gatedRun();
    const calls = new GroupedCalls({ run: g.run, maxGroup: 100, onGroupFailure: 'fail-all' });
    const results = Promise.all([1, 2, 3, 4].map((n) => calls.call(n)));
    await g.releaseAll();
    expect(await results).toEqual([10, 20, 30, 40]);
    expect(g.groups).toEqual([[1], [2, 3, 4]]);
  });

  it('caps a group at maxGroup and keeps at most `concurrency` groups in flight', async () => {
    const g = gatedRun();
    const calls = new GroupedCalls({ run: g.run, maxGroup: 2, concurrency: 2, onGroupFailure: 'fail-all' });
    const results = Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => calls.call(n)));
    await g.releaseAll();
    expect(await results).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(g.maxInFlight()).toBe(2);
    expect(Math.max(...g.groups.map((group) => group.length))).toBeLessThanOrEqual(2);
    expect(g.groups.flat().sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('run-each-alone: a failed group is run again input by input, so only the bad input fails', async () => {
    const g = gatedRun((inputs) => inputs.includes(3));
    const retried: number[] = [];
    const calls = new GroupedCalls({
      run: g.run,
      maxGroup: 100,
      onGroupFailure: 'run-each-alone',
      onRetryEach: (_e, size) => retried.push(size),
    });
    const settled = Promise.allSettled([1, 2, 3, 4].map((n) => calls.call(n)));
    await g.releaseAll();
    const outcomes = await settled;
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(retried).toEqual([3]);
  });

  it('fail-all: every call of a failed group fails with its error, and the next group runs afresh', async () => {
    const g = gatedRun((inputs) => inputs.includes(3));
    const calls = new GroupedCalls({ run: g.run, maxGroup: 100, onGroupFailure: 'fail-all' });
    const settled = Promise.allSettled([1, 2, 3, 4].map((n) => calls.call(n)));
    await g.releaseAll();
    expect((await settled).map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
    const after = calls.call(5);
    await g.releaseAll();
    expect(await after).toBe(50);
  });
});
