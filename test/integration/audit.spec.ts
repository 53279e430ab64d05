import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { DataSource } from 'typeorm';

import { TransactionRunner } from '../../src/infra/database/transaction.runner';
import { AuditRepository } from '../../src/modules/audit/audit.repository';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { AuditChainer } from '../../src/modules/audit/audit-chainer.service';
import { AuditCheckpointer } from '../../src/modules/audit/audit-checkpoint.service';
import { AuditEntryInput, GENESIS_HASH, hashEntry } from '../../src/modules/audit/audit-entry';
import { AuditVerifier } from '../../src/modules/audit/audit-verifier.service';
import { eventually, startHttpApp, startWorker } from '../support/app';
import { withoutAuditTriggers } from '../support/audit-triggers';

const entry = (over: Partial<AuditEntryInput> = {}): AuditEntryInput => ({
  actorType: 'system',
  actorId: 'audit-spec',
  action: 'spec.event',
  outcome: 'SUCCESS',
  ...over,
});

describe('audit chain', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let writer: AuditWriter;
  let chainer: AuditChainer;
  let verifier: AuditVerifier;
  let repository: AuditRepository;

  beforeAll(async () => {
    // The api role runs no chainer: tests below chain explicitly, so nothing moves while they tamper.
    api = await startHttpApp('api');
    db = api.get(DataSource);
    writer = api.get(AuditWriter);
    chainer = api.get(AuditChainer);
    verifier = api.get(AuditVerifier);
    repository = api.get(AuditRepository);
  });

  afterAll(async () => {
    await api.close();
  });

  it('forms one valid gapless chain from concurrent appends in two worker processes', async () => {
    const workers: INestApplicationContext[] = [await startWorker(), await startWorker()];
    try {
      const before = await repository.head();
      const perWorker = 400;
      await Promise.all(
        workers.map((w, wi) =>
          Promise.all(
            Array.from({ length: perWorker / 20 }, async (_, batch) => {
              const tx = w.get(TransactionRunner);
              const audit = w.get(AuditWriter);
              for (let i = 0; i < 20; i++) {
                const n = batch * 20 + i;
                // Half inside business transactions, half on their own.
                if (n % 2) await tx.run((m) => audit.append(entry({ actorId: `w${wi}`, resourceId: String(n) }), m));
                else await audit.append(entry({ actorId: `w${wi}`, resourceId: String(n), details: { n, b: [1, 'x'] } }));
              }
            }),
          ),
        ),
      );
      // Both workers' chain pumps compete for the head; exactly one chains at a time.
      await eventually(async () => (await repository.inboxSize()) === 0 && (await repository.head()).seq >= before.seq + 2 * perWorker);
      const head = await repository.head();
      // The suite shares this database: the workers may also chain entries of jobs other specs left behind, so
      // the chain grows by at least this test's entries, and stays gapless.
      expect(head.seq).toBeGreaterThanOrEqual(before.seq + 2 * perWorker);
      const rows: { seq: string }[] = await db.query('SELECT seq FROM audit_events WHERE seq > ? ORDER BY seq', [before.seq]);
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: head.seq - before.seq }, (_, i) => before.seq + 1 + i));
      const perActor: { actor_id: string; n: string }[] = await db.query(
        `SELECT actor_id, COUNT(DISTINCT resource_id) AS n FROM audit_events WHERE actor_id IN ('w0','w1') GROUP BY actor_id ORDER BY actor_id`,
      );
      expect(perActor.map((r) => [r.actor_id, Number(r.n)])).toEqual([
        ['w0', perWorker],
        ['w1', perWorker],
      ]);
      const verified = await verifier.verify();
      expect(verified).toMatchObject({ ok: true });
      expect(verified.checkedThrough).toBeGreaterThanOrEqual(head.seq);
    } finally {
      for (const w of workers) await w.close();
    }
  });

  it('commits an entry with its transaction and never without it', async () => {
    await expect(
      api.get(TransactionRunner).run(async (m) => {
        await writer.append(entry({ action: 'spec.rolled-back' }), m);
        throw new Error('business failure');
      }),
    ).rejects.toThrow('business failure');
    await writer.append(entry({ action: 'spec.committed', subjectUserHash: writer.subjectHash('u_000123') }));
    await chainer.drain();
    const rows: { action: string; subject_user_hash: string }[] = await db.query(
      `SELECT action, subject_user_hash FROM audit_events WHERE action IN ('spec.rolled-back', 'spec.committed')`,
    );
    expect(rows.map((r) => r.action)).toEqual(['spec.committed']);
    expect(rows[0].subject_user_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].subject_user_hash).not.toContain('u_000123');
  });

  it('refuses UPDATE and DELETE on chained entries', async () => {
    await writer.append(entry());
    await chainer.drain();
    const { seq } = await repository.head();
    await expect(db.query('UPDATE audit_events SET actor_id = ? WHERE seq = ?', ['mallory', seq])).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM audit_events WHERE seq = ?', [seq])).rejects.toThrow(/append-only/);
    // Row triggers fire only on rows: make sure a checkpoint exists, whatever ran before in this database.
    await api.get(AuditCheckpointer).checkpoint();
    const [{ n }]: { n: string }[] = await db.query('SELECT COUNT(*) AS n FROM audit_checkpoints');
    expect(Number(n)).toBeGreaterThan(0);
    await expect(db.query('DELETE FROM audit_checkpoints')).rejects.toThrow(/append-only/);
  });

  describe('verification names the first tampered entry', () => {
    let k: number;
    let original: Record<string, unknown>;

    beforeEach(async () => {
      await writer.appendMany(Array.from({ length: 6 }, (_, i) => entry({ action: 'spec.tamper', resourceId: String(i) })));
      await chainer.drain();
      k = (await repository.head()).seq - 3; // an entry in the middle, with successors
      [original] = await db.query('SELECT * FROM audit_events WHERE seq = ?', [k]);
      expect((await verifier.verify()).ok).toBe(true);
    });

    afterEach(async () => {
      expect(await verifier.verify()).toMatchObject({ ok: true }); // each test puts the chain back
    });

    it('an entry edited in SQL', async () => {
      await withoutAuditTriggers(db, () => db.query(`UPDATE audit_events SET outcome = 'DENIED' WHERE seq = ?`, [k]));
      expect(await verifier.verify()).toEqual({
        ok: false,
        checkedFrom: 1,
        checkedThrough: k - 1,
        checkpointsVerified: expect.any(Number),
        firstBrokenSeq: k,
        reason: 'entry altered',
        unchained: expect.objectContaining({ count: expect.any(Number) }),
      });
      expect(await verifier.verify({ from: 1, to: k - 1 })).toMatchObject({ ok: true, checkedThrough: k - 1 });
      await withoutAuditTriggers(db, () => db.query('UPDATE audit_events SET outcome = ? WHERE seq = ?', [original.outcome, k]));
    });

    it('an entry edited with its hash recomputed', async () => {
      const [row] = await repository.eventsBetween(db, k, k, 1);
      const forged = { ...row, actorId: 'mallory' };
      const hash = hashEntry(forged);
      await withoutAuditTriggers(db, () => db.query('UPDATE audit_events SET actor_id = ?, hash = ? WHERE seq = ?', ['mallory', hash, k]));
      expect(await verifier.verify()).toMatchObject({ ok: false, firstBrokenSeq: k });
      await withoutAuditTriggers(db, () =>
        db.query('UPDATE audit_events SET actor_id = ?, hash = ? WHERE seq = ?', [row.actorId, row.hash, k]),
      );
    });

    it('a removed entry', async () => {
      await withoutAuditTriggers(db, () => db.query('DELETE FROM audit_events WHERE seq = ?', [k]));
      expect(await verifier.verify()).toMatchObject({ ok: false, firstBrokenSeq: k, reason: 'entry missing' });
      const columns = Object.keys(original);
      await db.query(
        `INSERT INTO audit_events (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
        Object.values(original),
      );
    });

    it('an inserted entry, whether renumbered into the middle or appended past the head', async () => {
      const [prev] = await repository.eventsBetween(db, k - 1, k - 1, 1);
      const forgedEntry = { ...prev, seq: k, prevHash: prev.hash, actorId: 'mallory', details: null };
      const forged = { ...forgedEntry, hash: hashEntry(forgedEntry) };
      const insert = (e: typeof forged) =>
        db.query(
          `INSERT INTO audit_events (seq, occurred_at, actor_type, actor_id, action, resource_type, resource_id, subject_user_hash,
             partner_code, request_id, client_ip, outcome, http_status, details, prev_hash, hash)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            e.seq,
            e.occurredAt,
            e.actorType,
            e.actorId,
            e.action,
            e.resourceType,
            e.resourceId,
            e.subjectUserHash,
            e.partnerCode,
            e.requestId,
            e.clientIp,
            e.outcome,
            e.httpStatus,
            e.details,
            e.prevHash,
            e.hash,
          ],
        );
      await withoutAuditTriggers(db, async () => {
        await db.query('UPDATE audit_events SET seq = seq + 1 WHERE seq >= ? ORDER BY seq DESC', [k]);
        await insert(forged);
      });
      expect(await verifier.verify()).toMatchObject({ ok: false, firstBrokenSeq: k, reason: 'entry inserted' });
      await withoutAuditTriggers(db, async () => {
        await db.query('DELETE FROM audit_events WHERE seq = ?', [k]);
        await db.query('UPDATE audit_events SET seq = seq - 1 WHERE seq > ? ORDER BY seq ASC', [k]);
      });

      const head = await repository.head();
      await insert({ ...forged, seq: head.seq + 1, prevHash: head.hash });
      expect(await verifier.verify()).toMatchObject({ ok: false, firstBrokenSeq: head.seq + 1 });
      await withoutAuditTriggers(db, () => db.query('DELETE FROM audit_events WHERE seq = ?', [head.seq + 1]));
    });
  });

  describe('signed checkpoints', () => {
    it('signs the head, verifiable with jose through the JWKS, and idempotently', async () => {
      await writer.append(entry({ action: 'spec.checkpointed' }));
      await chainer.drain();
      const head = await repository.head();
      const checkpointer = api.get(AuditCheckpointer);
      expect(await checkpointer.checkpoint()).toEqual({ seq: head.seq });
      expect(await checkpointer.checkpoint()).toBeNull();
      const [row] = await db.query('SELECT seq, hash, kid, token FROM audit_checkpoints WHERE seq = ?', [head.seq]);
      expect(row.hash).toBe(head.hash);
      const jwks = (await api.getHttpAdapter().getInstance().inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
      const { payload, protectedHeader } = await jwtVerify(row.token, createLocalJWKSet(jwks), { typ: 'checkpoint+jwt' });
      expect(protectedHeader.kid).toBe(row.kid);
      expect(payload).toMatchObject({ seq: head.seq, hash: head.hash, iss: 'http://gateway.test' });
      const verified = await verifier.verify();
      expect(verified).toMatchObject({ ok: true });
      expect(verified.checkedThrough).toBeGreaterThanOrEqual(head.seq);
    });

    it('catches a chain rewritten with recomputed hashes, and a forged checkpoint signature', async () => {
      const checkpointer = api.get(AuditCheckpointer);
      await writer.append(entry({ action: 'spec.cp1' }));
      await chainer.drain();
      const first = (await checkpointer.checkpoint())!.seq;
      await writer.append(entry({ action: 'spec.cp2' }));
      await chainer.drain();
      const second = (await checkpointer.checkpoint())!.seq;

      // Rewrite the last entry and the head consistently: the chain alone looks intact, the checkpoint does not.
      const [last] = await repository.eventsBetween(db, second, second, 1);
      const forged = { ...last, outcome: 'FAILURE' as const };
      const forgedHash = hashEntry(forged);
      await withoutAuditTriggers(db, async () => {
        await db.query(`UPDATE audit_events SET outcome = 'FAILURE', hash = ? WHERE seq = ?`, [forgedHash, second]);
        await db.query('UPDATE audit_chain_head SET hash = ? WHERE id = 1', [forgedHash]);
      });
      const rewritten = await verifier.verify();
      expect(rewritten).toMatchObject({ ok: false, firstBrokenSeq: first + 1 });
      expect(rewritten.reason).toMatch(/checkpoint/);
      await withoutAuditTriggers(db, async () => {
        await db.query('UPDATE audit_events SET outcome = ?, hash = ? WHERE seq = ?', [last.outcome, last.hash, second]);
        await db.query('UPDATE audit_chain_head SET hash = ? WHERE id = 1', [last.hash]);
      });
      expect((await verifier.verify()).ok).toBe(true);

      // A checkpoint whose signature is not the gateway's.
      const [cp] = await db.query('SELECT token FROM audit_checkpoints WHERE seq = ?', [second]);
      const [h, p, sig] = (cp.token as string).split('.');
      const badSig = `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
      await db.query('DROP TRIGGER audit_checkpoints_no_update');
      try {
        await db.query('UPDATE audit_checkpoints SET token = ? WHERE seq = ?', [`${h}.${p}.${badSig}`, second]);
        expect(await verifier.verify()).toMatchObject({ ok: false, firstBrokenSeq: first + 1 });
        await db.query('UPDATE audit_checkpoints SET token = ? WHERE seq = ?', [cp.token, second]);
      } finally {
        await db.query(
          `CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints FOR EACH ROW
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_checkpoints is append-only'`,
        );
      }
      expect((await verifier.verify()).ok).toBe(true);
    });
  });

  it('searches by actor, partner, subject, action and time with cursor pagination', async () => {
    const subject = writer.subjectHash('u_search');
    await writer.appendMany(
      Array.from({ length: 5 }, (_, i) =>
        entry({
          actorType: 'partner',
          actorId: 'XB',
          partnerCode: 'XB',
          action: 'partner_api.call',
          subjectUserHash: i < 3 ? subject : undefined,
          httpStatus: 200,
        }),
      ),
    );
    await chainer.drain();
    const first = await repository.search(
      { actorType: 'partner', actorId: 'XB', partnerCode: 'XB', subjectUserHash: subject },
      { limit: 2 },
    );
    expect(first.data).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const second = await repository.search(
      { subjectUserHash: subject, action: 'partner_api.call' },
      { limit: 2, cursor: first.nextCursor! },
    );
    expect(second.data).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    expect(second.data[0].seq).toBeGreaterThan(first.data[1].seq);
    expect(second.data[0]).toMatchObject({ partnerCode: 'XB', httpStatus: 200, subjectUserHash: subject });
    const none = await repository.search({ partnerCode: 'XB', from: new Date(Date.now() + 3600_000) }, { limit: 10 });
    expect(none).toEqual({ data: [], nextCursor: null });
    await expect(repository.search({}, { limit: 1, cursor: 'garbage' })).rejects.toThrow('cursor');
  });

  it('starts the chain from the genesis hash', async () => {
    const [first] = await repository.eventsBetween(db, 1, 1, 1);
    expect(first.prevHash).toBe(GENESIS_HASH);
  });
});
