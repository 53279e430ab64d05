import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { keyOf } from '../../src/common/public-id';
import { TransactionRunner } from '../../src/infra/database/transaction.runner';
import { JobQueues } from '../../src/infra/queues/job-queues';
import { SCHEDULES } from '../../src/infra/worker/job-schedules.service';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { ReferralTransitions } from '../../src/modules/referrals/referral-transitions';
import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { BankClient, inject, uniqueCode } from '../support/partner-client';
import { applyAfterPrescreen, createProduct, registerPartner, userHeaders, userIds } from '../support/referral-flow';

/**
 * Item 5 of the security review, retention: a referral that ended without a card (DECLINED, WITHDRAWN, EXPIRED) keeps
 * its sealed file for the product's retentionDays from that end, then the periodic `referrals/referral-files.purge`
 * job deletes it, one audit entry per referral. A fetch of a purged file answers 410 Gone; the referral's metadata
 * stays listed and its decision still answers. Time is moved by shifting the referrals' stored times back.
 */
jest.setTimeout(120_000);

const RETENTION_DAYS = 30;

describe('referral file retention and purge', () => {
  let api: NestFastifyApplication;
  let worker: INestApplicationContext;
  let db: DataSource;
  let bank: BankClient;
  let token: string;
  // 0: declined long ago, 1: declined today, 2: approved long ago, 3: withdrawn long ago, 4: delivered long ago (open),
  // 5: expired today.
  const users = userIds(6);
  const refs: string[] = [];
  const key = (publicId: string) => keyOf('ref', publicId)!;
  const auth = () => ({ authorization: `Bearer ${token}` });
  const fetch = (ref: string) => inject(api, { method: 'GET', url: `/partner/v1/referrals/${ref}`, headers: auth() });
  const decide = (ref: string, decision: string) =>
    inject(api, {
      method: 'POST',
      url: `/partner/v1/referrals/${ref}/decision`,
      headers: auth(),
      payload: { decision, decidedAt: new Date().toISOString() },
    });
  const fileRow = async (ref: string) =>
    (await db.query('SELECT status, file_enc, file_purge_after, file_purged_at FROM referrals WHERE id = ?', [key(ref)]))[0];
  const purgeEntries = async (ref: string) =>
    db.query(
      `SELECT actor_type, actor_id, subject_user_hash, partner_code, outcome, details
         FROM audit_inbox WHERE action = 'referral.file.purged' AND resource_id = ?
       UNION ALL
       SELECT actor_type, actor_id, subject_user_hash, partner_code, outcome, details
         FROM audit_events WHERE action = 'referral.file.purged' AND resource_id = ?`,
      [ref, ref],
    );

  /** Through the worker's queue, as the schedule runs it; resolves with the job's result. */
  async function runPurge(): Promise<{ purged: number }> {
    const queue = worker.get(JobQueues).get('referrals');
    const job = await queue.add('referral-files.purge', { correlationId: 'test:purge' });
    return eventually(async () => {
      const state = await queue.getJobState(job.id!);
      if (state === 'failed') throw new Error(`purge failed: ${(await queue.getJob(job.id!))?.failedReason}`);
      return state === 'completed' ? (await queue.getJob(job.id!))!.returnvalue : undefined;
    }, 20_000);
  }

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    bank = new BankClient(uniqueCode('RET'));
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    const productCode = await createProduct(api, bank.code, ['applicant.name', 'applicant.nationalId', 'creditRecord.score'], {
      retentionDays: RETENTION_DAYS,
    });
    refs.push(...(await applyAfterPrescreen(api, users, productCode)));
    token = await bank.accessToken(api);
    for (const ref of refs) {
      await api.get(ReferralPackagingProcessor).package({ referralId: key(ref), correlationId: 'test' });
      expect((await fetch(ref)).statusCode).toBe(200);
    }
    expect((await decide(refs[0], 'DECLINED')).statusCode).toBe(200);
    expect((await decide(refs[1], 'DECLINED')).statusCode).toBe(200);
    expect((await decide(refs[2], 'APPROVED')).statusCode).toBe(200);
    const withdrawn = await inject(api, { method: 'POST', url: `/v1/me/applications/${refs[3]}/withdraw`, headers: userHeaders(users[3]) });
    expect(withdrawn.statusCode).toBe(200);
    await api
      .get(TransactionRunner)
      .run((m) => api.get(ReferralTransitions).move(m, key(refs[5]), 'EXPIRED', { type: 'system', id: 'sla' }));
    worker = await startWorker();
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
  });

  it('starts the retention clock when a referral ends without a card: its end plus the consented retentionDays', async () => {
    const [declined] = await db.query(
      `SELECT r.file_purge_after = r.decided_at + INTERVAL c.retention_days DAY AS exact, c.retention_days
         FROM referrals r JOIN consents c ON c.id = r.consent_id WHERE r.id = ?`,
      [key(refs[0])],
    );
    expect(declined).toEqual({ exact: 1, retention_days: RETENTION_DAYS });
    const [withdrawn] = await db.query(
      `SELECT ABS(TIMESTAMPDIFF(MICROSECOND, r.file_purge_after, t.at + INTERVAL ? DAY)) < 1000000 AS close
         FROM referrals r JOIN referral_timeline t ON t.referral_id = r.id AND t.to_status = 'WITHDRAWN' WHERE r.id = ?`,
      [RETENTION_DAYS, key(refs[3])],
    );
    // The timeline row is the next statement of the same transaction: the same moment, to within its run time.
    expect(withdrawn).toEqual({ close: 1 });
    const [expired] = await db.query(
      'SELECT ABS(TIMESTAMPDIFF(SECOND, file_purge_after, NOW(3) + INTERVAL ? DAY)) < 60 AS close FROM referrals WHERE id = ?',
      [RETENTION_DAYS, key(refs[5])],
    );
    expect(expired).toEqual({ close: 1 });
    // A cardholder's referral and an open one have no end yet: nothing is due.
    expect((await fileRow(refs[2])).file_purge_after).toBeNull();
    expect((await fileRow(refs[4])).file_purge_after).toBeNull();
  });

  it('runs on a schedule of the worker', async () => {
    expect(SCHEDULES).toEqual(expect.arrayContaining([expect.objectContaining({ queue: 'referrals', name: 'referral-files.purge' })]));
    const schedulers = await worker.get(JobQueues).get('referrals').getJobSchedulers();
    expect(schedulers.map((s) => s.key)).toContain('referral-files.purge');
  });

  it('purges only the files whose retention has run out, audits each, and answers a fetch of one 410 Gone', async () => {
    // Nothing is due yet: every file is kept.
    await runPurge();
    for (const ref of refs) expect(Buffer.isBuffer((await fileRow(ref)).file_enc)).toBe(true);

    // RETENTION_DAYS + 1 days pass for every referral but refs[1].
    const past = [refs[0], refs[2], refs[3], refs[4]].map(key);
    const shift = `INTERVAL ${RETENTION_DAYS + 1} DAY`;
    await db.query(
      `UPDATE referrals SET created_at = created_at - ${shift}, ready_at = ready_at - ${shift}, delivered_at = delivered_at - ${shift},
              decided_at = decided_at - ${shift}, file_purge_after = file_purge_after - ${shift} WHERE id IN (?)`,
      [past],
    );
    await db.query(`UPDATE referral_timeline SET at = at - ${shift} WHERE referral_id IN (?)`, [past]);
    const disclosuresBefore = await db.query('SELECT COUNT(*) AS n FROM disclosures WHERE referral_id = ?', [key(refs[0])]);

    const result = await runPurge();
    expect(result.purged).toBeGreaterThanOrEqual(2);

    // The declined and the withdrawn file are gone; the recent decline, the cardholder's and the open one stay.
    for (const ref of [refs[0], refs[3]]) {
      const row = await fileRow(ref);
      expect(row).toMatchObject({ file_enc: null, file_purge_after: null, file_purged_at: expect.any(Date) });
    }
    for (const ref of [refs[1], refs[2], refs[4], refs[5]]) expect(Buffer.isBuffer((await fileRow(ref)).file_enc)).toBe(true);

    // One audit entry per purged referral, naming the user only by the keyed hash.
    const subject = api.get(AuditWriter);
    for (const [i, status] of [
      [0, 'DECLINED'],
      [3, 'WITHDRAWN'],
    ] as const) {
      const entries = await purgeEntries(refs[i]);
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({
        actor_type: 'system',
        actor_id: 'retention',
        subject_user_hash: subject.subjectHash(users[i]),
        partner_code: bank.code,
        outcome: 'SUCCESS',
      });
      expect(JSON.parse(entries[0].details)).toMatchObject({ status, retentionDays: RETENTION_DAYS, fileSha256: expect.any(String) });
    }
    for (const ref of [refs[1], refs[2], refs[4], refs[5]]) expect(await purgeEntries(ref)).toEqual([]);

    // The bank: the purged file is Gone (a problem, nothing disclosed); the withdrawn one stays closed as before.
    const gone = await fetch(refs[0]);
    expect(gone.statusCode).toBe(410);
    expect(gone.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(gone.json()).toEqual({
      type: 'https://errors.referral-gateway.dev/referral-file-purged',
      title: 'The referral file is no longer available',
      status: 410,
      detail: expect.stringContaining('DECLINED'),
      instance: gone.headers['x-request-id'],
    });
    expect(await db.query('SELECT COUNT(*) AS n FROM disclosures WHERE referral_id = ?', [key(refs[0])])).toEqual(disclosuresBefore);
    const closed = await fetch(refs[3]);
    expect([closed.statusCode, closed.json().type]).toEqual([410, 'https://errors.referral-gateway.dev/referral-closed']);
    expect((await fetch(refs[1])).statusCode).toBe(200);

    // Its metadata stays: listed with its final status, and the same decision again answers as the first did.
    const listed = await inject(api, { method: 'GET', url: '/partner/v1/referrals?status=DECLINED&limit=500', headers: auth() });
    expect(listed.json().data).toEqual(expect.arrayContaining([expect.objectContaining({ id: refs[0], status: 'DECLINED' })]));
    const again = await decide(refs[0], 'DECLINED');
    expect([again.statusCode, again.json().status]).toEqual([200, 'DECLINED']);

    // A second run finds nothing more of these to do.
    await runPurge();
    for (const ref of [refs[0], refs[3]]) expect(await purgeEntries(ref)).toHaveLength(1);
  });
});
