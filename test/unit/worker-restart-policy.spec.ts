import {
  FIRST_RESTART_DELAY_MS,
  MAX_FAILED_START_UPS,
  MAX_RESTART_DELAY_MS,
  STABLE_AFTER_MS,
  WorkerRestartPolicy,
} from '../../src/infra/cluster/worker-restart.policy';

describe('WorkerRestartPolicy (one slot of the api cluster)', () => {
  /** A worker that starts, listens at `at` and exits `after` ms later. */
  const crashAfterListening = (policy: WorkerRestartPolicy, at: number, after: number) => {
    policy.started();
    policy.listening(at);
    return policy.exited(at + after);
  };

  it('restarts a crashing worker after a delay that doubles with each crash in a row, up to the maximum', () => {
    const policy = new WorkerRestartPolicy();
    const delays = Array.from({ length: 10 }, (_, i) => crashAfterListening(policy, i * 1000, 100));
    expect(delays.slice(0, 4)).toEqual([
      { restartInMs: FIRST_RESTART_DELAY_MS },
      { restartInMs: FIRST_RESTART_DELAY_MS * 2 },
      { restartInMs: FIRST_RESTART_DELAY_MS * 4 },
      { restartInMs: FIRST_RESTART_DELAY_MS * 8 },
    ]);
    expect(delays.at(-1)).toEqual({ restartInMs: MAX_RESTART_DELAY_MS });
  });

  it('starts a fresh streak after a worker served long enough', () => {
    const policy = new WorkerRestartPolicy();
    crashAfterListening(policy, 0, 100);
    crashAfterListening(policy, 1000, 100);
    expect(crashAfterListening(policy, 2000, STABLE_AFTER_MS)).toEqual({ restartInMs: FIRST_RESTART_DELAY_MS });
  });

  it('gives up after start-ups in a row that end before listening, and only then', () => {
    const policy = new WorkerRestartPolicy();
    const decisions = Array.from({ length: MAX_FAILED_START_UPS }, (_, i) => {
      policy.started();
      return policy.exited(i * 1000);
    });
    expect(decisions.slice(0, -1).every((d) => 'restartInMs' in d)).toBe(true);
    expect(decisions.at(-1)).toEqual({ giveUp: expect.stringContaining(`${MAX_FAILED_START_UPS} start-ups in a row`) });
  });

  it('does not count failed start-ups separated by a worker that listened', () => {
    const policy = new WorkerRestartPolicy();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < MAX_FAILED_START_UPS - 1; i++) {
        policy.started();
        expect(policy.exited(0)).toHaveProperty('restartInMs');
      }
      expect(crashAfterListening(policy, 0, 100)).toHaveProperty('restartInMs');
    }
  });
});
