import { Command } from 'commander';

import { register as registerAudit } from '../../src/cli/commands/audit';
import { register as registerKeys } from '../../src/cli/commands/keys';

/** Runs one CLI command in-process and returns what it printed as JSON. */
async function cli(...args: string[]): Promise<unknown> {
  const program = new Command().exitOverride();
  registerKeys(program);
  registerAudit(program);
  const lines: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
  try {
    await program.parseAsync(['node', 'cli', ...args]);
  } finally {
    log.mockRestore();
  }
  return JSON.parse(lines.join('\n'));
}

describe('keys:* and audit:* commands', () => {
  afterEach(() => {
    process.exitCode = undefined;
  });

  it('lists keys, rotates (audited), chains, checkpoints and verifies', async () => {
    const before = (await cli('keys:list')) as { kid: string; status: string }[];
    expect(before.filter((k) => k.status === 'ACTIVE')).toHaveLength(1);

    const rotated = (await cli('keys:rotate')) as { kid: string; alg: string; previousKid: string };
    expect(rotated).toMatchObject({ alg: 'ES256', previousKid: before.find((k) => k.status === 'ACTIVE')!.kid });
    const after = (await cli('keys:list')) as { kid: string; status: string; published: boolean }[];
    expect(after.find((k) => k.kid === rotated.kid)).toMatchObject({ status: 'ACTIVE', published: true });
    expect(after.find((k) => k.kid === rotated.previousKid)).toMatchObject({ status: 'RETIRED', published: true });

    expect(((await cli('audit:chain')) as { chained: number }).chained).toBeGreaterThanOrEqual(1);
    expect(await cli('audit:checkpoint')).toEqual({ checkpoint: { seq: expect.any(Number) } });
    const verified = (await cli('audit:verify', '--from', '1')) as { ok: boolean; checkedThrough: number };
    expect(verified.ok).toBe(true);
    expect(verified.checkedThrough).toBeGreaterThanOrEqual(1);
    expect(process.exitCode).toBeUndefined();
  });

  it('refuses a bad algorithm or sequence number', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(cli('keys:rotate', '--alg', 'HS256')).rejects.toThrow(/HS256/);
      await expect(cli('audit:verify', '--from', '0')).rejects.toThrow(/positive/);
    } finally {
      stderr.mockRestore();
    }
  });
});
