import { randomUUID } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource, QueryRunner } from 'typeorm';

import { toPublicId } from '../../src/common/public-id';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { DisclosureLedger } from '../../src/modules/disclosures/disclosure-ledger';
import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { DISCLOSURE_BATCHES_IN_FLIGHT, ReferralDisclosureBatcher } from '../../src/modules/referrals/partner/referral-disclosure.batcher';
import { dataSourceOf, eventually, startHttpApp } from '../support/app';
import { adminHeaders, BankClient, inject, uniqueCode } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import { applyAfterPrescreen, createProduct, registerPartner, userHeaders, userIds } from '../support/referral-flow';

/**
 * The batched partner fetch (ReferralDisclosureBatcher) and the verified-token cache, on real MariaDB and Redis:
 * concurrent fetches share transactions but every fetch stays its own disclosure; each fetch is decided by the batch's
 * read under the row lock (a referral changed while the batch waits for that lock gets its 410, another partner's
 * referral its 404 without holding that referral's row); a remembered token stops working when its partner is suspended.
 */
jest.setTimeout(120_000);

describe('batched partner fetches', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let bank: BankClient;
  let token: string;
  // The last test blocks every batch a process writes at once, then needs two more referrals.
  const users = userIds(12 + DISCLOSURE_BATCHES_IN_FLIGHT);
  const refs: string[] = [];
  const key = rowKey;
  const pack = (publicId: string) => api.get(ReferralPackagingProcessor).package({ referralId: key(publicId), correlationId: 'test' });
  const fetch = (publicId: string, t = token, requestId?: string) =>
    inject(api, {
      method: 'GET',
      url: `/partner/v1/referrals/${publicId}`,
      headers: { authorization: `Bearer ${t}`, ...(requestId ? { 'x-request-id': requestId } : {}) },
    });
  /** The partner_api.call entries of one request (inbox or already chained). */
  const callsOf = (
    requestId: string,
  ): Promise<Array<{ resource_id: string; http_status: number; outcome: string; details: string; actor_id: string }>> =>
    db.query(
      `SELECT resource_id, http_status, outcome, details, actor_id FROM audit_inbox WHERE action = 'partner_api.call' AND request_id = ?
       UNION ALL SELECT resource_id, http_status, outcome, details, actor_id FROM audit_events WHERE action = 'partner_api.call' AND request_id = ?`,
      [requestId, requestId],
    );
  const auditOf = (action: string, publicId: string): Promise<Array<{ details: string; request_id: string }>> =>
    db.query(
      `SELECT details, request_id FROM audit_inbox WHERE action = ? AND resource_id = ?
       UNION ALL SELECT details, request_id FROM audit_events WHERE action = ? AND resource_id = ?`,
      [action, publicId, action, publicId],
    );
  const count = async (sql: string, params: unknown[]) => Number((await db.query(sql, params))[0].n);

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    bank = new BankClient(uniqueCode('BF'));
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    const productCode = await createProduct(api, bank.code, ['applicant.name', 'creditRecord.score']);
    refs.push(...(await applyAfterPrescreen(api, users, productCode)));
    for (const r of refs) await pack(r);
    token = await bank.accessToken(api);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('30 concurrent fetches of 3 referrals: one DELIVERED move and timeline row per referral, one ledger row and audit entry per fetch', async () => {
    const targets = refs.slice(0, 3);
    const order = Array.from({ length: 30 }, (_, i) => targets[i % 3]);
    const answers = await Promise.all(order.map((r) => fetch(r)));
    for (const [i, res] of answers.entries()) {
      expect([order[i], res.statusCode]).toEqual([order[i], 200]);
      expect(res.json()).toMatchObject({ id: order[i], status: 'DELIVERED', file: expect.any(String) });
    }
    for (const r of targets) {
      expect(await db.query('SELECT status FROM referrals WHERE id = ?', [key(r)])).toEqual([{ status: 'DELIVERED' }]);
      expect(
        await db.query(
          "SELECT from_status, actor_type, actor_id, note FROM referral_timeline WHERE referral_id = ? AND to_status = 'DELIVERED'",
          [key(r)],
        ),
      ).toEqual([{ from_status: 'READY', actor_type: 'partner', actor_id: bank.code, note: 'fetched' }]);
      const ledger: Array<{ kind: string; request_id: string }> = await db.query(
        'SELECT kind, request_id FROM disclosures WHERE referral_id = ?',
        [key(r)],
      );
      expect(ledger).toHaveLength(10);
      expect(new Set(ledger.map((d) => d.request_id)).size).toBe(10);
      const disclosed = await auditOf('referral.file.disclosed', r);
      expect(disclosed).toHaveLength(10);
      // Exactly one of the ten saw the referral READY (the one that moved it), as if they had run one after another.
      const before = disclosed.map((e) => JSON.parse(e.details).statusBefore);
      expect(before.filter((s) => s === 'READY')).toHaveLength(1);
      expect(before.filter((s) => s === 'DELIVERED')).toHaveLength(9);
    }
    // Every call also got its partner_api.call entry.
    expect(
      await count(
        `SELECT COUNT(*) AS n FROM (SELECT request_id FROM audit_inbox WHERE action = 'partner_api.call' AND partner_code = ?
        UNION ALL SELECT request_id FROM audit_events WHERE action = 'partner_api.call' AND partner_code = ?) x`,
        [bank.code, bank.code],
      ),
    ).toBeGreaterThanOrEqual(30);
  });

  it('answers 410 consent-revoked when the consent is revoked while its batch waits for the row lock, recording nothing', async () => {
    const r = refs[3];
    const [{ consent_id }] = await db.query('SELECT consent_id FROM referrals WHERE id = ?', [key(r)]);
    await whileRowsLocked(db, [key(r)], async (holder) => {
      // inject() starts only when awaited: start it now, so that it runs into the lock.
      const pending = fetch(r).then((res) => res);
      await waitForLockWait(db, key(r));
      await holder.query("UPDATE consents SET status = 'REVOKED', revoked_at = NOW(3) WHERE id = ?", [consent_id]);
      await holder.commitTransaction();
      const res = await pending;
      expect(res.statusCode).toBe(410);
      expect(res.json().type).toBe('https://errors.referral-gateway.dev/consent-revoked');
    });
    expect(await db.query('SELECT status FROM referrals WHERE id = ?', [key(r)])).toEqual([{ status: 'READY' }]);
    expect(await count('SELECT COUNT(*) AS n FROM disclosures WHERE referral_id = ?', [key(r)])).toBe(0);
    expect(await auditOf('referral.file.disclosed', r)).toEqual([]);
    expect(await count("SELECT COUNT(*) AS n FROM referral_timeline WHERE referral_id = ? AND to_status = 'DELIVERED'", [key(r)])).toBe(0);
  });

  it('answers 410 referral-closed when the referral is withdrawn while its batch waits for the row lock', async () => {
    const r = refs[4];
    await whileRowsLocked(db, [key(r)], async (holder) => {
      // inject() starts only when awaited: start it now, so that it runs into the lock.
      const pending = fetch(r).then((res) => res);
      await waitForLockWait(db, key(r));
      await holder.query("UPDATE referrals SET status = 'WITHDRAWN' WHERE id = ?", [key(r)]);
      await holder.commitTransaction();
      const res = await pending;
      expect(res.statusCode).toBe(410);
      expect(res.json().type).toBe('https://errors.referral-gateway.dev/referral-closed');
    });
    expect(await count('SELECT COUNT(*) AS n FROM disclosures WHERE referral_id = ?', [key(r)])).toBe(0);
  });

  it('keeps the ledger exact when the applicant revokes the consent while fetches race it', async () => {
    const r = refs[5];
    const [{ consent_id }] = await db.query('SELECT consent_id FROM referrals WHERE id = ?', [key(r)]);
    const fetches = Array.from({ length: 20 }, () => fetch(r));
    const revoke = inject(api, {
      method: 'DELETE',
      url: `/v1/me/consents/${toPublicId('cns', consent_id)}`,
      headers: userHeaders(users[5]),
    });
    const [answers, revoked] = await Promise.all([Promise.all(fetches), revoke]);
    expect(revoked.statusCode).toBe(200);
    const served = answers.filter((a) => a.statusCode === 200).length;
    for (const a of answers) {
      expect([200, 410]).toContain(a.statusCode);
      if (a.statusCode === 410) expect(a.json().type).toMatch(/consent-revoked|referral-closed/);
    }
    expect(await count('SELECT COUNT(*) AS n FROM disclosures WHERE referral_id = ?', [key(r)])).toBe(served);
    expect(await auditOf('referral.file.disclosed', r)).toHaveLength(served);
    // Once the revocation committed, nothing more is served.
    expect((await fetch(r)).statusCode).toBe(410);
  });

  it('records exactly one partner_api.call entry per fetch, with the status it was answered with (200 in its batch, 404/410 by the hook)', async () => {
    const [a, b, closed] = refs.slice(6, 9);
    await db.query("UPDATE referrals SET status = 'WITHDRAWN' WHERE id = ?", [key(closed)]);
    const calls = [
      ...Array.from({ length: 12 }, (_, i) => ({ ref: i % 2 ? a : b, expect: 200 })),
      { ref: closed, expect: 410 },
      { ref: 'ref_999999999', expect: 404 },
    ].map((c) => ({ ...c, requestId: `fetch-call-${randomUUID()}` }));
    const hookAppends = jest.spyOn(api.get(AuditWriter, { strict: false }), 'append');
    const answers = await Promise.all(calls.map((c) => fetch(c.ref, token, c.requestId)));
    // The served ones were written with their disclosure, not by the onSend hook (one commit less per fetch).
    const byHook = hookAppends.mock.calls.filter(([e]) => e.action === 'partner_api.call').map(([e]) => e.requestId);
    hookAppends.mockRestore();
    expect(
      calls
        .filter((c) => byHook.includes(c.requestId))
        .map((c) => c.expect)
        .sort(),
    ).toEqual([404, 410]);
    for (const [i, c] of calls.entries()) {
      expect([c.ref, answers[i].statusCode]).toEqual([c.ref, c.expect]);
      const entries = await callsOf(c.requestId);
      expect(entries).toEqual([
        {
          resource_id: 'GET /partner/v1/referrals/:id',
          http_status: c.expect,
          outcome: c.expect === 200 ? 'SUCCESS' : 'FAILURE',
          details: JSON.stringify({ params: { id: c.ref } }),
          actor_id: bank.code,
        },
      ]);
    }
    // Each served fetch is also its own disclosure, recorded by the same request.
    for (const c of calls.filter((x) => x.expect === 200)) {
      expect(await count('SELECT COUNT(*) AS n FROM disclosures WHERE request_id = ?', [c.requestId])).toBe(1);
    }
  });

  it('a fetch whose disclosure batch fails answers 500 with nothing disclosed, and its call is still recorded once by the hook', async () => {
    const r = refs[9];
    const ledger = api.get(DisclosureLedger, { strict: false });
    const spy = jest.spyOn(ledger, 'recordMany').mockRejectedValueOnce(new Error('disk full'));
    try {
      const requestId = `fetch-fail-${randomUUID()}`;
      const res = await fetch(r, token, requestId);
      expect(res.statusCode).toBe(500);
      expect((await callsOf(requestId)).map((e) => [e.http_status, e.outcome])).toEqual([[500, 'FAILURE']]);
      expect(await count('SELECT COUNT(*) AS n FROM disclosures WHERE request_id = ?', [requestId])).toBe(0);
      expect(await db.query('SELECT status FROM referrals WHERE id = ?', [key(r)])).toEqual([{ status: 'READY' }]);
    } finally {
      spy.mockRestore();
    }
    // The next fetch goes through, on record once.
    const requestId = `fetch-after-${randomUUID()}`;
    expect((await fetch(r, token, requestId)).statusCode).toBe(200);
    expect((await callsOf(requestId)).map((e) => e.http_status)).toEqual([200]);
  });

  it("answers another partner's referral 404 inside a batch of the owner's fetches: 200 for those, one call entry each, the attempt audited, nothing disclosed, that row never held", async () => {
    const blocked = refs.slice(10, 10 + DISCLOSURE_BATCHES_IN_FLIGHT);
    const [own, foreign] = refs.slice(10 + DISCLOSURE_BATCHES_IN_FLIGHT);
    const prober = new BankClient(uniqueCode('BFP'));
    await prober.register(api);
    const proberToken = await prober.accessToken(api);
    const ids = {
      blocked: blocked.map(() => `fetch-blocked-${randomUUID()}`),
      own: `fetch-own-${randomUUID()}`,
      foreign: `fetch-foreign-${randomUUID()}`,
    };
    const queued = jest.spyOn(ReferralDisclosureBatcher.prototype, 'disclose');
    // While the batch holding both is written, the foreign referral's row must be free to lock (NOWAIT: no waiting).
    const ledger = api.get(DisclosureLedger, { strict: false });
    const recordMany = ledger.recordMany.bind(ledger);
    const foreignLockable: boolean[] = [];
    const spy = jest.spyOn(ledger, 'recordMany').mockImplementation(async (m, ds) => {
      if (ds.some((d) => d.requestId === ids.own)) {
        foreignLockable.push(
          await db.query('SELECT id FROM referrals WHERE id = ? FOR UPDATE NOWAIT', [key(foreign)]).then(
            () => true,
            () => false,
          ),
        );
      }
      return recordMany(m, ds);
    });
    let answers: Array<Awaited<ReturnType<typeof fetch>>> = [];
    let queuedIds: string[];
    try {
      // Every batch the process writes at once waits on a row lock (one fetch each), so that the next two fetches
      // queue and go together in the next batch.
      await whileRowsLocked(db, blocked.map(key), async (holder) => {
        const first: Array<ReturnType<typeof fetch>> = [];
        for (const [i, r] of blocked.entries()) {
          first.push(fetch(r, token, ids.blocked[i]).then((res) => res));
          await waitForLockWait(db, key(r));
        }
        const rest = [fetch(own, token, ids.own).then((res) => res), fetch(foreign, proberToken, ids.foreign).then((res) => res)];
        await eventually(async () => queued.mock.calls.length === blocked.length + 2, 10_000, 10);
        await holder.commitTransaction();
        answers = await Promise.all([...first, ...rest]);
      });
    } finally {
      queuedIds = queued.mock.calls.map(([r]) => r.referralId);
      spy.mockRestore();
      queued.mockRestore();
    }
    expect(answers.map((a) => a.statusCode)).toEqual([...blocked.map(() => 200), 200, 404]);
    expect(answers.at(-1)!.json().type).toBe('https://errors.referral-gateway.dev/not-found');
    expect(foreignLockable).toEqual([true]);
    // Both were queued while the other batches waited, so they went together in the next one.
    expect(queuedIds.sort()).toEqual([...blocked, own, foreign].map(key).sort());
    const expected = [
      ...ids.blocked.map((id) => [id, 200, bank.code] as const),
      [ids.own, 200, bank.code] as const,
      [ids.foreign, 404, prober.code] as const,
    ];
    for (const [requestId, status, actor] of expected) {
      expect((await callsOf(requestId)).map((e) => [e.http_status, e.actor_id])).toEqual([[status, actor]]);
    }
    expect(await count('SELECT COUNT(*) AS n FROM disclosures WHERE request_id = ?', [ids.foreign])).toBe(0);
    expect(await count('SELECT COUNT(*) AS n FROM disclosures WHERE request_id = ?', [ids.own])).toBe(1);
    expect(await db.query('SELECT status FROM referrals WHERE id = ?', [key(foreign)])).toEqual([{ status: 'READY' }]);
    expect(await auditOf('referral.file.disclosed', foreign)).toEqual([]);
    expect((await auditOf('referral.access.denied', foreign)).map((e) => e.request_id)).toEqual([ids.foreign]);
  });

  it("stops a remembered token once its partner is suspended: at once on the instance that suspends, within the directory's TTL elsewhere", async () => {
    const other = await startHttpApp();
    try {
      const suspended = new BankClient(uniqueCode('BFS'));
      await suspended.register(api);
      const t = await suspended.accessToken(api);
      const list = (app: NestFastifyApplication) =>
        inject(app, { method: 'GET', url: '/partner/v1/referrals', headers: { authorization: `Bearer ${t}` } });
      // Both instances have verified (and remembered) the token.
      expect((await list(api)).statusCode).toBe(200);
      expect((await list(other)).statusCode).toBe(200);
      expect((await list(other)).statusCode).toBe(200);
      const patched = await inject(other, {
        method: 'PATCH',
        url: `/v1/admin/partners/${suspended.code}`,
        headers: adminHeaders(),
        payload: { status: 'SUSPENDED' },
      });
      expect(patched.statusCode).toBe(200);
      const suspendedAt = Date.now();
      const here = await list(other);
      expect(here.statusCode).toBe(401);
      expect(here.headers['www-authenticate']).toMatch(/error="invalid_token"/);
      await eventually(async () => (await list(api)).statusCode === 401, 8_000, 100);
      expect(Date.now() - suspendedAt).toBeLessThan(7_000);
    } finally {
      await other.close();
    }
  });
});

/**
 * Runs `body` while another transaction (READ COMMITTED, as the gateway's) holds the referrals' row locks; `body`
 * commits it, with whatever it changed meanwhile, when the waiting fetches may go on. Rolled back if `body` throws.
 */
async function whileRowsLocked(db: DataSource, referralIds: string[], body: (holder: QueryRunner) => Promise<void>): Promise<void> {
  const holder = db.createQueryRunner();
  await holder.connect();
  try {
    await holder.startTransaction('READ COMMITTED');
    await holder.query('SELECT id FROM referrals WHERE id IN (?) FOR UPDATE', [referralIds]);
    await body(holder);
  } finally {
    if (holder.isTransactionActive) await holder.rollbackTransaction();
    await holder.release();
  }
}

/**
 * Waits until a statement of this database locking `referralId` is running: the test holds that row's lock, so such a
 * statement is waiting for it. (MariaDB may show the wait in PROCESSLIST, state "Statistics", before INNODB_TRX does.)
 */
async function waitForLockWait(db: DataSource, referralId: string): Promise<void> {
  await eventually(
    async () => {
      const rows: Array<{ q: string | null }> = await db.query(
        "SELECT INFO AS q FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND COMMAND = 'Query' AND INFO LIKE '%FOR UPDATE%'",
      );
      return rows.some((r) => r.q?.includes(`'${referralId}'`));
    },
    10_000,
    20,
  );
}
