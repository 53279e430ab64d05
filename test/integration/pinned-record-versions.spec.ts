import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource, QueryRunner } from 'typeorm';

import { OffersRepository } from '../../src/modules/offers/offers.repository';
import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { ReferralFileSealer } from '../../src/modules/referrals/referral-file.sealer';
import { eventually, startHttpApp, startWorker } from '../support/app';
import { BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import { apply, createProduct, creditRecordLine, ingest, prescreen, registerPartner, userIds } from '../support/referral-flow';

/**
 * Snapshot on write: a pre-screen pins the record version it evaluated without copying the record; the ingest copies
 * a pinned version to credit_record_snapshots just before it replaces it (a newer snapshot) or changes it (a
 * repayment update), and packaging builds the file from that copy, or from the record while the version is current.
 * The pre-screen's offers and the ingest meet on the record's row lock, in either order.
 */
jest.setTimeout(120_000);

describe('pinned credit record versions', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let product: string;
  const bank = new BankClient(uniqueCode('PIN'));
  const users = userIds(4);
  const key = rowKey;

  const platformPost = (url: string, lines: object[]) =>
    inject(api, {
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${platformToken(['platform'])}`, 'content-type': 'application/x-ndjson' },
      payload: lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
    });
  /** A newer snapshot (asOf 2026-11-21) with another score: the record's next version. */
  const newerSnapshot = (userId: string, score: number) =>
    platformPost('/v1/platform/credit-records', [{ ...creditRecordLine(userId), asOf: '2026-11-21', score }]);

  const snapshotsOf = (userId: string): Promise<Array<{ record_version: number; score: number; current_dpd: number }>> =>
    db.query('SELECT record_version, score, current_dpd FROM credit_record_snapshots WHERE user_id = ? ORDER BY record_version', [userId]);
  const recordOf = async (userId: string) =>
    (await db.query('SELECT record_version, score, current_dpd FROM credit_records WHERE user_id = ?', [userId]))[0] as {
      record_version: number;
      score: number;
      current_dpd: number;
    };
  const pinnedVersions = async (userId: string, productCode: string): Promise<number[]> =>
    (
      await db.query(
        'SELECT o.record_version FROM offers o JOIN card_products p ON p.id = o.product_id WHERE o.user_id = ? AND p.code = ?',
        [userId, productCode],
      )
    ).map((r: { record_version: number }) => Number(r.record_version));

  /** Applies, packages the referral in-process and returns the file's creditRecord claim. */
  async function packagedCreditRecord(userId: string): Promise<Record<string, any>> {
    const referral = await apply(api, userId, product);
    await api.get(ReferralPackagingProcessor).packageBatch({ referralId: key(referral), correlationId: `pin-${referral}` });
    const [{ status, file_enc }] = await db.query('SELECT status, file_enc FROM referrals WHERE id = ?', [key(referral)]);
    expect(status).toBe('READY');
    const file = api.get(ReferralFileSealer).open(key(referral), file_enc);
    return JSON.parse(Buffer.from(file.split('.')[1], 'base64url').toString()).referral.creditRecord;
  }

  /** Runs a pre-screen of a new product of the cohort with a worker of the test's own; `during` sees the worker. */
  async function withPrescreenWorker<T>(during: (worker: INestApplicationContext) => Promise<T>): Promise<T> {
    const worker = await startWorker();
    try {
      return await during(worker);
    } finally {
      jest.restoreAllMocks();
      await worker.close();
    }
  }

  beforeAll(async () => {
    api = await startHttpApp();
    db = api.get(DataSource);
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    product = await createProduct(api, bank.code, ['creditRecord.score', 'creditRecord.repayment']);
    await ingest(api, users);
    await withPrescreenWorker(() => prescreen(api, product));
  });

  afterAll(async () => {
    await api?.close();
  });

  it('pins the version the pre-screen evaluated without copying it, and packages from the record while it is current', async () => {
    for (const u of users) {
      expect(await pinnedVersions(u, product)).toEqual([1]);
      expect(await snapshotsOf(u)).toEqual([]);
    }
    expect(await packagedCreditRecord(users[0])).toMatchObject({ asOf: '2026-11-20', score: 712 });
  });

  it('copies a pinned version before a newer snapshot replaces it, and packages the copy', async () => {
    const [pinned] = [users[1]];
    const [unpinned] = userIds(1);
    await ingest(api, [unpinned]);
    for (const u of [pinned, unpinned]) expect((await newerSnapshot(u, 655)).json()).toMatchObject({ accepted: 1 });

    expect(await recordOf(pinned)).toMatchObject({ record_version: 2, score: 655 });
    expect(await snapshotsOf(pinned)).toEqual([{ record_version: 1, score: 712, current_dpd: 0 }]);
    // Nothing pins the other user's version 1: it is replaced without a copy.
    expect(await snapshotsOf(unpinned)).toEqual([]);
    expect(await packagedCreditRecord(pinned)).toMatchObject({ asOf: '2026-11-20', score: 712 });
  });

  it('copies a pinned version before a repayment update replaces it, and only that version', async () => {
    const u = users[2];
    const update = (currentDpd: number, asOf: string) =>
      platformPost('/v1/platform/repayment-status', [{ userId: u, currentDpd, overdueAmount: '10.00', asOf }]);
    expect((await update(5, '2026-11-21')).json()).toMatchObject({ accepted: 1 });
    expect((await update(9, '2026-11-22')).json()).toMatchObject({ accepted: 1 });

    // Each update is a new version. Version 1 is pinned, so it was copied; version 2 was not, so it was not.
    expect(await recordOf(u)).toMatchObject({ record_version: 3, current_dpd: 9 });
    expect(await snapshotsOf(u)).toEqual([{ record_version: 1, score: 712, current_dpd: 0 }]);
    expect((await packagedCreditRecord(u)).repayment).toMatchObject({ currentDpd: 0 });
  });

  it('makes an ingest that replaces a record wait for the chunk offering on it, then copies the version offered', async () => {
    const [u] = userIds(1);
    await ingest(api, [u]); // after the first run: this product's run below makes the user's only offer
    const second = await createProduct(api, bank.code, ['creditRecord.score']);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await withPrescreenWorker(async (worker) => {
      // The chunk that offers to the user stops right after writing its offers, its transaction (and locks) open.
      const offers = worker.get(OffersRepository);
      const original = offers.createForEligible.bind(offers);
      let paused = false;
      jest.spyOn(offers, 'createForEligible').mockImplementation(async (m, ...rest) => {
        const made = await original(m, ...rest);
        const [{ n }] = await m.query('SELECT COUNT(*) AS n FROM offers WHERE user_id = ?', [u]);
        if (Number(n) > 0) {
          paused = true;
          await gate;
        }
        return made;
      });
      const run = prescreen(api, second);
      try {
        await eventually(async () => paused, 30_000);
        let answered = false;
        const replacing = newerSnapshot(u, 640).then((res) => {
          answered = true;
          return res;
        });
        await new Promise((r) => setTimeout(r, 500));
        expect(answered).toBe(false); // waiting for the chunk's shared lock on the row
        release();
        expect((await replacing).json()).toMatchObject({ accepted: 1 });
      } finally {
        release(); // a failed expectation must not leave the chunk's transaction open
      }
      await run;
    });

    expect(await pinnedVersions(u, second)).toEqual([1]);
    expect(await recordOf(u)).toMatchObject({ record_version: 2, score: 640 });
    expect(await snapshotsOf(u)).toEqual([{ record_version: 1, score: 712, current_dpd: 0 }]);
  });

  it('makes a chunk that meets a record being replaced wait, then leaves that user for the next run', async () => {
    const [u] = userIds(1);
    await ingest(api, [u]);
    const third = await createProduct(api, bank.code, ['creditRecord.score']);
    // An ingest in flight, as the service runs it: the row locked, then replaced as a new version.
    const holder: QueryRunner = db.createQueryRunner();
    await holder.connect();
    try {
      await holder.startTransaction('READ COMMITTED');
      await holder.query('SELECT user_id FROM credit_records WHERE user_id = ? FOR UPDATE', [u]);
      const run = await withPrescreenWorker(async () => {
        const finished = prescreen(api, third);
        // The chunk evaluated version 1 (a non-locking read); its offer INSERT now waits for the row this test holds.
        // (MariaDB shows that wait in PROCESSLIST, not as LOCK WAIT in INNODB_TRX.)
        await eventually(async () => {
          const running: unknown[] = await db.query(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND COMMAND = 'Query' AND INFO LIKE 'INSERT INTO offers%'",
          );
          return running.length > 0;
        }, 30_000);
        await holder.query('UPDATE credit_records SET record_version = record_version + 1, score = 630 WHERE user_id = ?', [u]);
        await holder.commitTransaction();
        return finished;
      });
      // Eligible when evaluated, but its version is gone: no offer on it, and nothing to copy.
      expect(await pinnedVersions(u, third)).toEqual([]);
      expect(run.counts.offersCreated).toBe(run.counts.eligible - 1);
      expect(await snapshotsOf(u)).toEqual([]);
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction();
      await holder.release();
    }
  });
});
