import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { compactVerify, createLocalJWKSet, JSONWebKeySet, jwtVerify } from 'jose';
import * as mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';

import { runCli } from '../../src/cli/main';
import { dataSourceOptions } from '../../src/infra/database/data-source-options';
import { AuditArchiveProcessor } from '../../src/modules/audit/audit-archive.processor';
import { verifyArchiveFile } from '../../src/modules/audit/audit-archive-file.verifier';
import { AuditChainer } from '../../src/modules/audit/audit-chainer.service';
import { AuditCheckpointer, CHECKPOINT_AUDIENCE } from '../../src/modules/audit/audit-checkpoint.service';
import { hashEntry } from '../../src/modules/audit/audit-entry';
import { AuditVerifier } from '../../src/modules/audit/audit-verifier.service';
import { startHttpApp } from '../support/app';

/**
 * Audit retention (docs/AUDIT.md, "Retention and archives"). On a database of its own: the segment archived first is
 * the chain's beginning, which in the run's shared database is other specs' (young) entries.
 */
describe('audit archival', () => {
  const url = new URL(process.env.DATABASE_URL!);
  const database = `${url.pathname.slice(1)}_archive`;
  url.pathname = `/${database}`;
  let archiveDir: string;
  let api: NestFastifyApplication;
  let db: DataSource;
  let jwks: JSONWebKeySet;

  /** Inbox rows as written `daysAgo` days ago (the inbox takes any time; the chain keeps it as hashed). */
  const seed = (q: Pick<DataSource, 'query'>, n: number, daysAgo: number, label: string) =>
    q.query(
      `INSERT INTO audit_inbox (occurred_at, actor_type, actor_id, action, resource_id, outcome, details)
       SELECT NOW(3) - INTERVAL ? DAY, 'system', 'archive-spec', 'spec.archive', CONCAT(?, '-', seq), 'SUCCESS', '{"n":1}'
         FROM seq_1_to_${n}`,
      [daysAgo, label],
    );
  const chainAndCheckpoint = async (limit?: number) => {
    await api.get(AuditChainer).chainBatch(limit);
    return api.get(AuditCheckpointer).checkpoint();
  };
  const archive = () => api.get(AuditArchiveProcessor).archive({ correlationId: 'spec:audit.archive' });
  const seqs = async (): Promise<number[]> =>
    ((await db.query('SELECT seq FROM audit_events ORDER BY seq')) as { seq: string }[]).map((r) => Number(r.seq));

  beforeAll(async () => {
    archiveDir = await mkdtemp(join(tmpdir(), 'audit-archive-'));
    const server = await mysql.createConnection({ uri: process.env.DATABASE_URL! });
    await server.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await server.end();
    const setup = new DataSource(dataSourceOptions({ databaseUrl: url.toString() }));
    await setup.initialize();
    await setup.runMigrations({ transaction: 'each' });
    // Before the app exists, so these are the chain's first entries: 30 and 20 entries of five and a half years ago.
    await seed(setup, 30, 2000, 'a');
    await seed(setup, 20, 2000, 'b');
    await setup.destroy();
    api = await startHttpApp('api', { DATABASE_URL: url.toString(), AUDIT_ARCHIVE_DIR: archiveDir });
    db = api.get(DataSource);
    expect(await chainAndCheckpoint(30)).toEqual({ seq: 30 });
    expect(await chainAndCheckpoint(20)).toEqual({ seq: 50 });
    // Then an entry inside the retention, and old-dated ones chained after it (a late commit): none may go.
    await seed(db, 1, 100, 'young');
    await seed(db, 5, 2000, 'late');
    await api.get(AuditChainer).drain();
    await api.get(AuditCheckpointer).checkpoint();
    jwks = (await api.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
  });

  afterAll(async () => {
    await api?.close();
    const server = await mysql.createConnection({ uri: process.env.DATABASE_URL! });
    await server.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await server.end();
    await rm(archiveDir, { recursive: true, force: true });
  });

  it('refuses to delete chain rows outside the archival path', async () => {
    await expect(db.query('DELETE FROM audit_events WHERE seq = 1')).rejects.toThrow(/append-only/);
    // The session variable alone is not enough: nothing is archived yet.
    const runner = db.createQueryRunner();
    try {
      await runner.query('SET @audit_archive_through = 100');
      await expect(runner.query('DELETE FROM audit_events WHERE seq = 1')).rejects.toThrow(/append-only/);
    } finally {
      await runner.query('SET @audit_archive_through = NULL');
      await runner.release();
    }
    expect((await seqs())[0]).toBe(1);
  });

  it('archives the closed segment older than the retention, removes it, and the rest still verifies', async () => {
    const before = await seqs();
    // 51 is the signing key's creation (at the first checkpoint), then the young entry: both inside the retention.
    const young: { seq: string }[] = await db.query("SELECT seq FROM audit_events WHERE resource_id = 'young-1'");
    expect(Number(young[0].seq)).toBe(52);

    const outcome = await archive();
    expect(outcome).toEqual({
      archived: [{ firstSeq: 1, lastSeq: 50, count: 50, fileName: 'audit-000000000001-000000000050.ndjson' }],
      removed: 50,
    });
    const after = await seqs();
    expect(after[0]).toBe(51);
    expect(after).toEqual(before.filter((s) => s > 50));
    // The late old-dated entries came after a young one: they stay until the segment holding them is all past retention.
    const late: { n: string }[] = await db.query("SELECT COUNT(*) AS n FROM audit_events WHERE resource_id LIKE 'late-%'");
    expect(Number(late[0].n)).toBe(5);

    const [record] = await db.query('SELECT * FROM audit_archives');
    expect({ first: Number(record.first_seq), last: Number(record.last_seq), count: Number(record.event_count) }).toEqual({
      first: 1,
      last: 50,
      count: 50,
    });
    const checkpoint50 = (await db.query('SELECT hash FROM audit_checkpoints WHERE seq = 50'))[0].hash;
    expect(record.last_hash).toBe(checkpoint50);

    const verification = await api.get(AuditVerifier).verify();
    expect(verification).toMatchObject({ ok: true, checkedFrom: 51 });
    expect(verification.checkedThrough).toBe(after[after.length - 1]);

    // The archival itself is in the trail.
    await api.get(AuditChainer).drain();
    const [entry] = await db.query("SELECT resource_id, details FROM audit_events WHERE action = 'audit.archived'");
    expect(entry.resource_id).toBe('audit-000000000001-000000000050.ndjson');
    expect(JSON.parse(entry.details)).toMatchObject({
      firstSeq: 1,
      lastSeq: 50,
      count: 50,
      checkpointSeq: 50,
      fileSha256: record.file_sha256,
    });
  });

  it('writes a file that verifies with jose through the JWKS, and whose entries recompute to the signed digest', async () => {
    const file = join(archiveDir, 'audit-000000000001-000000000050.ndjson');
    const bytes = await readFile(file);
    const [record] = await db.query('SELECT file_sha256, file_bytes, manifest FROM audit_archives');
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(record.file_sha256);
    expect(bytes.length).toBe(Number(record.file_bytes));

    const text = bytes.toString('utf8');
    const lines = text.split('\n').filter(Boolean);
    expect(lines).toHaveLength(51);
    const { manifest } = JSON.parse(lines[50]) as { manifest: string };
    expect(manifest).toBe(record.manifest);
    const keys = createLocalJWKSet(jwks);
    const { payload, protectedHeader } = await jwtVerify(manifest, keys, { audience: CHECKPOINT_AUDIENCE, typ: 'audit-archive+jwt' });
    expect(protectedHeader.alg).toBe('ES256');
    const claims = payload.archive as Record<string, unknown> & { checkpoint: { seq: number; hash: string; token: string } };
    expect(claims).toMatchObject({ firstSeq: 1, lastSeq: 50, count: 50, firstPrevHash: '0'.repeat(64) });
    const entryBytes = text.slice(0, text.length - lines[50].length - 1);
    expect(createHash('sha256').update(entryBytes, 'utf8').digest('hex')).toBe(claims.sha256);
    // Every entry line recomputes to its hash and links to the one before; the last is the checkpoint's head.
    let prev = '0'.repeat(64);
    lines.slice(0, 50).forEach((line, i) => {
      const e = JSON.parse(line);
      expect(e.seq).toBe(i + 1);
      expect(e.prevHash).toBe(prev);
      expect(hashEntry({ ...e, occurredAt: new Date(e.occurredAt) })).toBe(e.hash);
      prev = e.hash;
    });
    expect(prev).toBe(claims.lastHash);
    const checkpoint = JSON.parse(Buffer.from((await compactVerify(claims.checkpoint.token, keys)).payload).toString('utf8'));
    expect(checkpoint).toMatchObject({ seq: 50, hash: prev });

    expect(await verifyArchiveFile(file, jwks as never)).toEqual({ ok: true, firstSeq: 1, lastSeq: 50, count: 50, checkpoint: 'verified' });
    const jwksFile = join(archiveDir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify(jwks));
    expect(await runCli(['node', 'cli', 'audit:archive-verify', file, '--jwks', jwksFile])).toBe(0);
    expect(process.exitCode ?? 0).toBe(0);
  });

  it('names an altered line of an archive file, and refuses a file checked against another JWKS', async () => {
    const file = join(archiveDir, 'audit-000000000001-000000000050.ndjson');
    const copy = join(archiveDir, 'tampered.ndjson');
    try {
      const text = await readFile(file, 'utf8');
      await writeFile(copy, text.replace('"resourceId":"b-3"', '"resourceId":"b-X"'));
      expect(await verifyArchiveFile(copy, jwks as never)).toMatchObject({
        ok: false,
        reason: 'the entry lines do not match the manifest digest',
      });
      await copyFile(file, copy);
      expect(await verifyArchiveFile(copy, { keys: [] })).toMatchObject({
        ok: false,
        reason: 'manifest: signed by a key that is not in the JWKS',
      });
    } finally {
      await rm(copy, { force: true });
    }
  });

  it('still detects tampering with the first remaining entry', async () => {
    const [first] = await db.query('SELECT seq, outcome, actor_id, hash FROM audit_events ORDER BY seq LIMIT 1');
    expect(Number(first.seq)).toBe(51);
    await db.query('DROP TRIGGER audit_events_no_update');
    try {
      await db.query("UPDATE audit_events SET outcome = 'DENIED' WHERE seq = 51");
      expect(await api.get(AuditVerifier).verify()).toMatchObject({
        ok: false,
        firstBrokenSeq: 51,
        reason: 'entry altered',
        checkedThrough: 50,
      });

      // Rewritten with its hash recomputed: it no longer follows the archived head.
      const [row] = await db.query('SELECT * FROM audit_events WHERE seq = 51');
      const rewritten = {
        seq: 51,
        occurredAt: new Date(row.occurred_at),
        actorType: row.actor_type,
        actorId: 'mallory',
        action: row.action,
        resourceType: row.resource_type,
        resourceId: row.resource_id,
        subjectUserHash: row.subject_user_hash,
        partnerCode: row.partner_code,
        requestId: row.request_id,
        clientIp: row.client_ip,
        outcome: first.outcome,
        httpStatus: row.http_status,
        details: row.details,
        prevHash: '1'.repeat(64),
      };
      await db.query('UPDATE audit_events SET outcome = ?, actor_id = ?, prev_hash = ?, hash = ? WHERE seq = 51', [
        first.outcome,
        'mallory',
        rewritten.prevHash,
        hashEntry(rewritten),
      ]);
      expect(await api.get(AuditVerifier).verify()).toMatchObject({
        ok: false,
        firstBrokenSeq: 51,
        reason: 'entry does not follow the archived head',
      });
    } finally {
      await db.query('UPDATE audit_events SET outcome = ?, actor_id = ?, prev_hash = ?, hash = ? WHERE seq = 51', [
        first.outcome,
        first.actor_id,
        (await db.query('SELECT last_hash FROM audit_archives'))[0].last_hash,
        first.hash,
      ]);
      await db.query(
        `CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events FOR EACH ROW
           SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_events is append-only'`,
      );
    }
    expect(await api.get(AuditVerifier).verify()).toMatchObject({ ok: true, checkedFrom: 51 });
  });

  it('does not take a forged archive record for the archived head', async () => {
    const [real] = await db.query('SELECT * FROM audit_archives');
    const [e55] = await db.query('SELECT hash FROM audit_events WHERE seq = 55');
    // Someone with INSERT on audit_archives claims 51..55 archived, to drop them: the manifest does not say so.
    await db.query(
      `INSERT INTO audit_archives (first_seq, last_seq, first_prev_hash, last_hash, event_count, file_name, file_sha256, file_bytes,
                                   kid, manifest)
       VALUES (51, 55, ?, ?, 5, 'forged.ndjson', ?, 1, ?, ?)`,
      [real.last_hash, e55.hash, real.file_sha256, real.kid, real.manifest],
    );
    try {
      expect(await api.get(AuditVerifier).verify()).toMatchObject({
        ok: false,
        firstBrokenSeq: 56,
        reason: 'the archive record does not match its signed manifest',
      });
    } finally {
      await db.query('DROP TRIGGER audit_archives_no_delete');
      await db.query('DELETE FROM audit_archives WHERE last_seq = 55');
      await db.query(
        `CREATE TRIGGER audit_archives_no_delete BEFORE DELETE ON audit_archives FOR EACH ROW
           SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_archives is append-only'`,
      );
    }
    expect(await api.get(AuditVerifier).verify()).toMatchObject({ ok: true, checkedFrom: 51 });
  });

  it('does nothing on a second run, and nothing without an archive directory', async () => {
    const before = await seqs();
    expect(await archive()).toEqual({ archived: [], removed: 0 });
    expect(await seqs()).toEqual(before);
    expect((await readdir(archiveDir)).filter((f) => f.startsWith('audit-'))).toEqual(['audit-000000000001-000000000050.ndjson']);
    expect(Number((await db.query('SELECT COUNT(*) AS n FROM audit_archives'))[0].n)).toBe(1);

    // Without AUDIT_ARCHIVE_DIR (the run's own configuration) the command archives nothing and says why.
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await runCli(['node', 'cli', 'audit:archive'])).toBe(0);
      expect(JSON.parse(log.mock.calls[0][0] as string)).toEqual({ skipped: 'no-archive-dir' });
      expect(process.exitCode).toBe(1);
    } finally {
      process.exitCode = undefined;
      log.mockRestore();
    }
  });
});
