import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { toPublicId } from '../../src/common/public-id';
import { PartnerEvents } from '../../src/modules/events/partner-events.service';
import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { ReferralFileSealer } from '../../src/modules/referrals/referral-file.sealer';
import { SigningService } from '../../src/modules/signing/signing.service';
import { dataSourceOf, startHttpApp, startWorker } from '../support/app';
import { BankClient, inject, uniqueCode } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import { apply, createProduct, ingest, prescreen, registerPartner, userHeaders, userIds } from '../support/referral-flow';

/**
 * Batched packaging (the `referrals/referral.package` job packages its referral with the partner's next waiting
 * ones) on real MariaDB: concurrent jobs split a batch and package each referral exactly once; withdrawn and
 * consent-revoked referrals are skipped; a rerun is a no-op; a batch rolled back mid-way leaves its referrals
 * PACKAGING and a job that waited on them packages them. Jobs are run here by hand (no worker after the pre-screen).
 */
jest.setTimeout(120_000);

describe('batched referral packaging', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let processor: ReferralPackagingProcessor;
  const bankA = new BankClient(uniqueCode('PA'));
  const bankB = new BankClient(uniqueCode('PB'));
  const users = userIds(62);
  const refsA: string[] = []; // 52 referrals of bank A
  const refsB: string[] = []; // 10 referrals of bank B
  const key = rowKey;
  const job = (publicId: string) => processor.packageBatch({ referralId: key(publicId), correlationId: `test-${publicId}` });
  const count = async (sql: string, params: unknown[]) => Number((await db.query(sql, params))[0].n);

  /** Everything packaging writes for each referral, counted: file, timeline row, event, audit entry. */
  async function written(refs: string[]) {
    const ids = refs.map(key);
    const rows: Array<{ id: string; status: string; file_enc: Buffer | null }> = await db.query(
      'SELECT id, status, file_enc FROM referrals WHERE id IN (?) ORDER BY id',
      [ids],
    );
    const timeline = await db.query(
      "SELECT referral_id AS id, COUNT(*) AS n FROM referral_timeline WHERE referral_id IN (?) AND to_status = 'READY' GROUP BY referral_id",
      [ids],
    );
    const events = await db.query(
      // (other specs emit made-up events with txns like ref_12: only this spec's partners count)
      `SELECT txn AS id, COUNT(*) AS n, MIN(set_jws) AS jws FROM partner_events
        WHERE txn IN (?) AND event_type = 'referral.ready' AND partner_id IN (SELECT id FROM partners WHERE code IN (?))
        GROUP BY txn`,
      [refs, [bankA.code, bankB.code]],
    );
    const audits = await db.query(
      `SELECT resource_id AS id, COUNT(*) AS n FROM (
         SELECT resource_id FROM audit_inbox WHERE resource_id IN (?) AND action = 'referral.packaged'
         UNION ALL SELECT resource_id FROM audit_events WHERE resource_id IN (?) AND action = 'referral.packaged') x
       GROUP BY resource_id`,
      [refs, refs],
    );
    const by = (list: Array<{ id: string; n: string }>) => new Map(list.map((r) => [String(r.id), Number(r.n)]));
    const [t, e, a] = [by(timeline), by(events), by(audits)];
    return refs.map((ref, i) => ({
      ref,
      status: rows[i].status,
      file: rows[i].file_enc !== null,
      timeline: t.get(key(ref)) ?? 0,
      events: e.get(ref) ?? 0,
      audits: a.get(ref) ?? 0,
      eventJws: (events as Array<{ id: string; jws: string }>).find((x) => x.id === ref)?.jws,
    }));
  }

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    processor = api.get(ReferralPackagingProcessor);
    await registerPartner(api, bankA.code, { keys: [bankA.publicJwk()] });
    await registerPartner(api, bankB.code, { keys: [bankB.publicJwk()] });
    const productA = await createProduct(api, bankA.code, ['applicant.name', 'creditRecord.score']);
    const productB = await createProduct(api, bankB.code, ['creditRecord.riskGrade']);
    await ingest(api, users);
    const worker: INestApplicationContext = await startWorker();
    try {
      await prescreen(api, productA);
      await prescreen(api, productB);
    } finally {
      await worker.close();
    }
    for (const u of users.slice(0, 52)) refsA.push(await apply(api, u, productA));
    for (const u of users.slice(52)) refsB.push(await apply(api, u, productB));
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await api?.close();
  });

  it('packages a batch split between concurrent jobs once each, skipping withdrawn and consent-revoked referrals', async () => {
    // refsA[10]: withdrawn by the applicant; refsA[20]: consent revoked (withdraws it too); refsA[30]: consent
    // REVOKED while the referral is still PACKAGING (the defensive check: nothing is built under it).
    expect(
      (await inject(api, { method: 'POST', url: `/v1/me/applications/${refsA[10]}/withdraw`, headers: userHeaders(users[10]) })).statusCode,
    ).toBe(200);
    const consentOf = async (ref: string) => (await db.query('SELECT consent_id FROM referrals WHERE id = ?', [key(ref)]))[0].consent_id;
    expect(
      (
        await inject(api, {
          method: 'DELETE',
          url: `/v1/me/consents/${toPublicId('cns', await consentOf(refsA[20]))}`,
          headers: userHeaders(users[20]),
        })
      ).statusCode,
    ).toBeLessThan(300);
    await db.query("UPDATE consents SET status = 'REVOKED', revoked_at = NOW(3) WHERE id = ?", [await consentOf(refsA[30])]);
    const skipped = new Set([refsA[10], refsA[20], refsA[30]]);

    // Four jobs at once, as two worker processes would run them.
    const outcomes = await Promise.all([job(refsA[0]), job(refsA[1]), job(refsA[25]), job(refsA[51])]);
    for (const o of outcomes) expect(['packaged', 'already-packaged']).toContain(o.outcome);
    const rows = await written(refsA);
    for (const row of rows) {
      if (skipped.has(row.ref))
        expect(row).toMatchObject({
          status: row.ref === refsA[30] ? 'PACKAGING' : 'WITHDRAWN',
          file: false,
          timeline: 0,
          events: 0,
          audits: 0,
        });
      else expect(row).toMatchObject({ status: 'READY', file: true, timeline: 1, events: 1, audits: 1 });
    }
    // Bank B's referrals are another partner's: never in bank A's batches.
    expect(await count("SELECT COUNT(*) AS n FROM referrals WHERE id IN (?) AND status = 'PACKAGING'", [refsB.map(key)])).toBe(
      refsB.length,
    );

    // The files and SETs verify; each SET's jti is its event row's id and names its own referral.
    const signing = api.get(SigningService);
    const [one] = await db.query('SELECT file_enc, file_jti FROM referrals WHERE id = ?', [key(refsA[40])]);
    const stored = api.get(ReferralFileSealer).open(key(refsA[40]), one.file_enc);
    // Built by SigningService.signMany: the header `sign` writes (alg, typ, kid in that order).
    expect(Object.keys(JSON.parse(Buffer.from(stored.split('.')[0], 'base64url').toString()))).toEqual(['alg', 'typ', 'kid']);
    const file = await signing.verify('referral', stored, { audience: bankA.code });
    expect(file).toMatchObject({
      sub: refsA[40],
      jti: one.file_jti,
      referral: {
        id: refsA[40],
        applicant: { userRef: expect.any(String), name: expect.any(String) },
        creditRecord: { asOf: '2026-11-20', score: 712 },
      },
    });
    const [event] = await db.query(
      "SELECT id, set_jws FROM partner_events WHERE txn = ? AND event_type = 'referral.ready' AND partner_id = (SELECT id FROM partners WHERE code = ?)",
      [refsA[40], bankA.code],
    );
    const set = await signing.verify('secevent', event.set_jws, { audience: bankA.code });
    expect(set).toMatchObject({ jti: toPublicId('evt', event.id), txn: refsA[40] });
    // The partner's feed (creation order) holds every packaged referral once. Concurrent batches commit in any
    // order, so referral order holds only within a batch, which this test cannot tell apart.
    const feed: Array<{ txn: string }> = await db.query(
      'SELECT txn FROM partner_events WHERE txn IN (?) AND partner_id = (SELECT id FROM partners WHERE code = ?) ORDER BY id',
      [refsA, bankA.code],
    );
    expect(feed.map((f) => f.txn).sort()).toEqual(refsA.filter((r) => !skipped.has(r)).sort());
  });

  it('names in each packaged entry its own application request, whichever job packaged it in its batch', async () => {
    const requestIds = async (action: string): Promise<Map<string, string | null>> => {
      const rows: Array<{ resource_id: string; request_id: string | null }> = await db.query(
        `SELECT resource_id, request_id FROM audit_inbox WHERE action = ? AND resource_id IN (?)
          UNION ALL SELECT resource_id, request_id FROM audit_events WHERE action = ? AND resource_id IN (?)`,
        [action, refsA, action, refsA],
      );
      return new Map(rows.map((r) => [r.resource_id, r.request_id]));
    };
    const submitted = await requestIds('application.submitted');
    const packaged = await requestIds('referral.packaged');
    // The four jobs of the test above packaged about fifty referrals between them.
    expect(packaged.size).toBeGreaterThan(4);
    for (const [ref, requestId] of packaged) {
      expect(requestId).toEqual(expect.any(String));
      expect(requestId).toBe(submitted.get(ref));
    }
    expect(new Set(packaged.values()).size).toBe(packaged.size);
  });

  it('does nothing when a job runs again after success', async () => {
    const before = await written(refsA);
    const [file] = await db.query('SELECT file_enc FROM referrals WHERE id = ?', [key(refsA[5])]);
    expect(await job(refsA[5])).toEqual({ outcome: 'already-packaged' });
    expect(await job(refsA[10])).toEqual({ outcome: 'closed' });
    // The consent-revoked PACKAGING referral stays unpackaged however often its job runs.
    expect(await job(refsA[30])).toEqual({ outcome: 'consent-revoked', batch: 1 });
    expect(await written(refsA)).toEqual(before);
    expect((await db.query('SELECT file_enc FROM referrals WHERE id = ?', [key(refsA[5])]))[0]).toEqual(file);
  });

  it('leaves a batch rolled back mid-way PACKAGING, and the job waiting on it packages them', async () => {
    // The first job's batch dies after signing and moving (as if its worker were killed before COMMIT).
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const events = api.get(PartnerEvents);
    const original = events.emitMany.bind(events);
    const spy = jest.spyOn(events, 'emitMany').mockImplementationOnce(async (m, list) => {
      await original(m, list);
      await held;
      throw new Error('worker killed mid-batch');
    });
    const first = job(refsB[0]);
    await new Promise((r) => setTimeout(r, 500)); // the first batch now holds all of bank B's referrals
    // A second job for a referral in that batch cannot claim it: it waits for the first batch to end.
    const second = job(refsB[3]);
    await new Promise((r) => setTimeout(r, 200));
    expect(await count("SELECT COUNT(*) AS n FROM referrals WHERE id IN (?) AND status = 'READY'", [refsB.map(key)])).toBe(0);
    release();
    await expect(first).rejects.toThrow('worker killed mid-batch');
    // Nothing of the rolled-back batch remains: no file, event, timeline row or audit entry below the waiting job's.
    for (const row of (await written(refsB)).slice(0, 3))
      expect(row).toMatchObject({ status: 'PACKAGING', file: false, timeline: 0, events: 0, audits: 0 });

    expect(await second).toMatchObject({ outcome: 'packaged' });
    spy.mockRestore();
    const after = await written(refsB);
    // The waiting job packaged its own referral and the rest from there up; those below it are its jobs' to package.
    for (const row of after.slice(3)) expect(row).toMatchObject({ status: 'READY', file: true, timeline: 1, events: 1, audits: 1 });
    for (const row of after.slice(0, 3)) expect(row).toMatchObject({ status: 'PACKAGING', file: false, timeline: 0, events: 0, audits: 0 });
    // A rerun of the failed job (BullMQ retries it) packages what is left.
    expect(await job(refsB[0])).toEqual({ outcome: 'packaged', batch: 3 });
    for (const row of await written(refsB)) expect(row).toMatchObject({ status: 'READY', file: true, timeline: 1, events: 1, audits: 1 });
  });
});
