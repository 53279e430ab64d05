import { randomUUID } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Command } from 'commander';
import { DataSource, QueryRunner } from 'typeorm';

import { register as registerAudit } from '../../src/cli/commands/audit';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { AuditChainer } from '../../src/modules/audit/audit-chainer.service';
import { dataSourceOf, eventually, startHttpApp } from '../support/app';
import { inject, platformToken } from '../support/partner-client';

/**
 * Entries not yet chained (`audit_inbox`) are protected like the chain: no UPDATE, and a DELETE only of a row the
 * same transaction chained. Verify (API and CLI) reports the unchained backlog and its age. Chainers of other specs'
 * workers share the database, so the backlog is held by taking the chain head's lock (chainers skip a locked head).
 */
jest.setTimeout(60_000);

describe('audit inbox', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  const actorId = `inbox-${randomUUID().slice(0, 8)}`;
  const inboxRow = async () => (await db.query('SELECT id, occurred_at FROM audit_inbox WHERE actor_id = ?', [actorId]))[0];

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
  });

  afterAll(async () => {
    await api?.close();
  });

  /** Holds the chain head's row lock, so no chainer links anything until released. */
  async function holdChainHead(): Promise<QueryRunner> {
    const runner = db.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    await runner.query('SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE');
    return runner;
  }

  async function cliVerify(): Promise<Record<string, unknown>> {
    const program = new Command().exitOverride();
    registerAudit(program);
    const lines: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
    try {
      await program.parseAsync(['node', 'cli', 'audit:verify']);
    } finally {
      log.mockRestore();
      process.exitCode = undefined;
    }
    return JSON.parse(lines.join('\n'));
  }

  it('refuses to change or remove an entry not yet chained; verify reports the backlog and its age; the chainer still links it', async () => {
    const head = await holdChainHead();
    try {
      await api.get(AuditWriter).append({ actorType: 'system', actorId, action: 'test.inbox', outcome: 'SUCCESS', details: { n: 1 } });
      const row = await inboxRow();
      expect(row).toBeDefined();

      await expect(db.query("UPDATE audit_inbox SET outcome = 'DENIED' WHERE id = ?", [row.id])).rejects.toThrow(/audit_inbox/);
      await expect(db.query('DELETE FROM audit_inbox WHERE id = ?', [row.id])).rejects.toThrow(/audit_inbox/);
      expect(await inboxRow()).toEqual(row);

      const res = await inject(api, {
        method: 'GET',
        url: '/v1/compliance/audit/verify',
        headers: { authorization: `Bearer ${platformToken(['compliance'])}` },
      });
      expect(res.statusCode).toBe(200);
      const answer = res.json();
      expect(answer.ok).toBe(true);
      expect(answer.unchained.count).toBeGreaterThanOrEqual(1);
      expect(new Date(answer.unchained.oldestAt).getTime()).toBeLessThanOrEqual(new Date(row.occurred_at).getTime());
      expect(answer.unchained.oldestAgeSeconds).toBeGreaterThanOrEqual(0);

      // The CLI prints the same verifier's answer: same integrity fields, and a backlog of the same shape.
      const cli = await cliVerify();
      expect({ ...cli, unchained: undefined }).toEqual({ ...answer, unchained: undefined });
      expect(cli.unchained).toEqual({ count: expect.any(Number), oldestAt: expect.any(String), oldestAgeSeconds: expect.any(Number) });
    } finally {
      await head.rollbackTransaction();
      await head.release();
    }

    await eventually(async () => {
      await api.get(AuditChainer).drain();
      return (await inboxRow()) === undefined;
    });
    const [event] = await db.query('SELECT seq, outcome FROM audit_events WHERE actor_id = ?', [actorId]);
    expect(event.outcome).toBe('SUCCESS');
  });
});
