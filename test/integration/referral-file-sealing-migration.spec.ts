import { createHash, randomBytes } from 'node:crypto';

import * as mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';

import { AppConfigService } from '../../src/infra/config/app-config';
import { CryptoService } from '../../src/infra/crypto/crypto.service';
import { dataSourceOptions } from '../../src/infra/database/data-source-options';
import { MIGRATIONS } from '../../src/infra/database/migrations';
import { ReferralFileSealer } from '../../src/modules/referrals/referral-file.sealer';
import { testConfig } from '../support/app';
import { scanDatabase } from '../support/stored-values';

/**
 * Item 5 of the security review, upgrade path: a database written before files were sealed holds them in clear in
 * referrals.file_jws. The migration seals every one (AES-256-GCM under the master key, the referral id as AAD, in
 * chunks), drops the clear column, and starts the retention clock of referrals that had already ended. Run on a
 * database of its own, migrated up to the migration before it, with rows written as the old code wrote them.
 */
jest.setTimeout(120_000);

const SEALING = 'ReferralFileSealing1763801230000';
const SECRET = `Old Clear Name ${randomBytes(5).toString('hex')}`;
const b64url = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
/** A referral file as the old code stored it: compact JWS, the applicant's name in the payload. */
const oldFile = (id: number) =>
  [
    b64url({ alg: 'ES256', typ: 'referral+jwt', kid: 'k1' }),
    b64url({ sub: `ref_${id}`, referral: { applicant: { name: SECRET } } }),
    randomBytes(64).toString('base64url'),
  ].join('.');

describe('migration: referral files sealed at rest', () => {
  const url = new URL(process.env.DATABASE_URL!);
  const database = `${url.pathname.slice(1)}_seal`;
  url.pathname = `/${database}`;
  const index = MIGRATIONS.findIndex((m) => m.name === SEALING);
  let db: DataSource;
  const files = new Map<number, string>();
  // Enough delivered referrals that the migration seals more than one chunk.
  const delivered = Array.from({ length: 1_203 }, (_, i) => 1_000 + i);

  const open = (id: number | string, sealed: Buffer) =>
    new ReferralFileSealer(new CryptoService({ values: testConfig() } as AppConfigService)).open(String(id), sealed);
  const columns = async () =>
    (
      await db.query(
        "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'referrals'",
      )
    ).map((c: { name: string }) => c.name);

  beforeAll(async () => {
    expect(index).toBeGreaterThan(0);
    const server = await mysql.createConnection({ uri: process.env.DATABASE_URL! });
    await server.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await server.end();
    db = new DataSource({ ...dataSourceOptions({ databaseUrl: url.toString() }), migrations: MIGRATIONS.slice(0, index) });
    await db.initialize();
    await db.runMigrations({ transaction: 'each' });

    // Rows as the old code left them (foreign keys off: only referrals, consents and the timeline matter here).
    const q = db.createQueryRunner();
    try {
      await q.query('SET FOREIGN_KEY_CHECKS = 0');
      await q.query(
        `INSERT INTO consents (id, user_id, partner_id, product_id, product_version, text_version, text_sha256, purpose, shared_fields,
                               retention_days)
         VALUES (1, 'u', 1, 1, 1, 1, REPEAT('a', 64), 'p', '["applicant.name"]', 30)`,
      );
      const rows: Array<[number, string, string | null, string | null]> = [
        ...delivered.map((id): [number, string, string | null, string | null] => [id, 'DELIVERED', oldFile(id), null]),
        [11, 'DECLINED', oldFile(11), '2026-01-01 00:00:00.000'],
        [12, 'WITHDRAWN', oldFile(12), null],
        [13, 'APPROVED', oldFile(13), '2026-01-01 00:00:00.000'],
        [14, 'PACKAGING', null, null],
      ];
      for (const [id, , file] of rows) if (file) files.set(id, file);
      await q.query(
        `INSERT INTO referrals (id, user_id, partner_id, product_id, product_version, offer_id, consent_id, run_id, record_version,
                                user_ref, status, file_jws, file_sha256, expires_at, decided_at, updated_at)
         VALUES ?`,
        [
          rows.map(([id, status, file, decidedAt]) => [
            id,
            `u${id}`,
            1,
            1,
            1,
            id,
            1,
            1,
            1,
            'r'.repeat(43),
            status,
            file,
            file ? createHash('sha256').update(file).digest('hex') : null,
            '2026-06-01 00:00:00.000',
            decidedAt,
            '2026-02-02 00:00:00.000',
          ]),
        ],
      );
      await q.query(
        `INSERT INTO referral_timeline (referral_id, from_status, to_status, actor_type, actor_id, at)
         VALUES (12, 'READY', 'WITHDRAWN', 'user', 'h', '2026-02-01 00:00:00.000')`,
      );
    } finally {
      await q.release();
    }
    expect((await scanDatabase(db, [SECRET])).leaks.length).toBeGreaterThan(0);

    await db.destroy();
    // Up to the sealing migration and no further, so that undoing the last migration undoes this one.
    db = new DataSource({ ...dataSourceOptions({ databaseUrl: url.toString() }), migrations: MIGRATIONS.slice(0, index + 1) });
    await db.initialize();
    await db.runMigrations({ transaction: 'each' });
  });

  afterAll(async () => {
    await db?.destroy();
    const server = await mysql.createConnection({ uri: process.env.DATABASE_URL! });
    await server.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await server.end();
  });

  it('seals every stored file under the master key (AAD = referral id) and keeps no clear copy', async () => {
    expect(await columns()).not.toContain('file_jws');
    const rows: Array<{ id: string; file_enc: Buffer | null; updated_at: Date }> = await db.query(
      'SELECT id, file_enc, updated_at FROM referrals ORDER BY id',
    );
    expect(rows).toHaveLength(files.size + 1);
    for (const row of rows) {
      if (Number(row.id) === 14) expect(row.file_enc).toBeNull();
      else expect(open(row.id, row.file_enc!)).toBe(files.get(Number(row.id)));
      // Sealing is not a change of the referral.
      expect(row.updated_at.toISOString()).toBe('2026-02-02T00:00:00.000Z');
    }
    expect((await scanDatabase(db, [SECRET])).leaks).toEqual([]);
  });

  it('starts the retention clock of referrals that had ended without a card: their end plus the consented retention', async () => {
    const due = await db.query('SELECT id, file_purge_after FROM referrals WHERE file_purge_after IS NOT NULL ORDER BY id');
    expect(due.map((r: { id: string; file_purge_after: Date }) => [Number(r.id), r.file_purge_after.toISOString()])).toEqual([
      [11, '2026-01-31T00:00:00.000Z'],
      [12, '2026-03-03T00:00:00.000Z'],
    ]);
  });

  it('rolls back to clear files (the code before it reads them so), and seals them again', async () => {
    await db.undoLastMigration({ transaction: 'each' });
    expect(await columns()).toEqual(expect.arrayContaining(['file_jws']));
    expect(await columns()).not.toContain('file_enc');
    const [one] = await db.query('SELECT file_jws FROM referrals WHERE id = 11');
    expect(one.file_jws).toBe(files.get(11));
    await db.runMigrations({ transaction: 'each' });
    const [again] = await db.query('SELECT file_enc FROM referrals WHERE id = 11');
    expect(open(11, again.file_enc)).toBe(files.get(11));
  });
});
