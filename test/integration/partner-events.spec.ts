import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';

import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { DataSource } from 'typeorm';

import { toPublicId } from '../../src/common/public-id';
import { TransactionRunner } from '../../src/infra/database/transaction.runner';
import { MetricsService } from '../../src/infra/metrics/metrics.service';
import { PartnerEventType } from '../../src/modules/events/partner-event';
import { PartnerEvents } from '../../src/modules/events/partner-events.service';
import { eventually, startHttpApp, startWorker } from '../support/app';
import { adminHeaders, BankClient, GATEWAY, inject, uniqueCode } from '../support/partner-client';
import { rowKey } from '../support/public-ids';

/** A bank's RFC 8935 receiver on 127.0.0.1 answering from a script (the last answer repeats). */
class Receiver {
  readonly received: Array<{ contentType?: string; accept?: string; body: string }> = [];
  private server!: Server;

  constructor(private readonly answers: Array<{ status: number; body?: object }>) {}

  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({
          contentType: req.headers['content-type'],
          accept: req.headers.accept,
          body: Buffer.concat(chunks).toString(),
        });
        const answer = this.answers[Math.min(this.received.length - 1, this.answers.length - 1)];
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(answer.body ? JSON.stringify(answer.body) : '');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/events`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('partner security-event feed', () => {
  let app: NestFastifyApplication;
  let db: DataSource;

  beforeAll(async () => {
    app = await startHttpApp('api', { EVENT_POLL_MAX_WAIT_MS: '3000' });
    db = app.get(DataSource);
  });

  afterAll(async () => {
    await app.close();
  });

  async function newBank(extra: Record<string, unknown> = {}) {
    const bank = new BankClient(uniqueCode());
    await bank.register(app, extra);
    const [{ id }] = await db.query('SELECT id FROM partners WHERE code = ?', [bank.code]);
    return { bank, partnerId: String(id), token: await bank.accessToken(app) };
  }

  const emit = (partnerId: string, n: number, type: PartnerEventType = 'referral.ready', dedupe = `k${n}`) =>
    app.get(TransactionRunner).run((m) =>
      app.get(PartnerEvents).emit(m, {
        partnerId,
        type,
        txn: `ref_pe${n}`,
        dedupeKey: `${type}:${dedupe}`,
        payload: { referralId: `ref_pe${n}`, productCode: 'XB-PLATINUM' },
      }),
    );

  const poll = (token: string, body: object) =>
    inject(app, { method: 'POST', url: '/partner/v1/events/poll', headers: { authorization: `Bearer ${token}` }, payload: body });

  const row = async (jti: string) => (await db.query('SELECT * FROM partner_events WHERE id = ?', [rowKey(jti)]))[0];

  describe('poll (RFC 8936)', () => {
    it('hands out events in creation order, again until acknowledged, and verifies as SETs against the JWKS', async () => {
      const { bank, partnerId, token } = await newBank();
      for (const n of [11, 12, 13]) await emit(partnerId, n);
      await emit(partnerId, 11); // the same dedupe key again: no second event

      const first = await poll(token, { maxEvents: 2, returnImmediately: true });
      expect(first.statusCode).toBe(200);
      expect(first.json().moreAvailable).toBe(true);
      const jtis = Object.keys(first.json().sets);
      expect(jtis).toHaveLength(2);
      expect(jtis.map((j) => decodeJwt(first.json().sets[j]).txn)).toEqual(['ref_pe11', 'ref_pe12']);

      const jwks = createLocalJWKSet((await inject(app, { method: 'GET', url: '/.well-known/jwks.json' })).json());
      const set = first.json().sets[jtis[0]];
      const { payload, protectedHeader } = await jwtVerify(set, jwks, { typ: 'secevent+jwt', audience: bank.code, issuer: GATEWAY });
      expect(protectedHeader.typ).toBe('secevent+jwt');
      expect(payload).toMatchObject({
        jti: jtis[0],
        txn: 'ref_pe11',
        events: { 'https://referral-gateway.dev/events/referral.ready': { referralId: 'ref_pe11', productCode: 'XB-PLATINUM' } },
      });
      expect(typeof payload.toe).toBe('number');

      // Not acknowledged: handed out again, in the same order, now with the third one.
      const again = await poll(token, { returnImmediately: true });
      expect(Object.keys(again.json().sets)).toEqual([...jtis, expect.stringMatching(/^evt_/)]);
      expect(again.json().moreAvailable).toBe(false);

      const acked = await poll(token, { ack: jtis, returnImmediately: true });
      expect(Object.keys(acked.json().sets)).toHaveLength(1);
      expect(decodeJwt(Object.values<string>(acked.json().sets)[0]).txn).toBe('ref_pe13');
      expect((await row(jtis[0])).acknowledged_at).not.toBeNull();
      expect((await row(jtis[0])).poll_count).toBe(2);

      // maxEvents 0 only acknowledges.
      const last = Object.keys(acked.json().sets)[0];
      const ackOnly = await poll(token, { ack: [last], maxEvents: 0 });
      expect(ackOnly.json()).toEqual({ sets: {}, moreAvailable: false });
      expect((await poll(token, { returnImmediately: true })).json()).toEqual({ sets: {}, moreAvailable: false });
    });

    it('records setErrs and does not hand the answered event out again', async () => {
      const { partnerId, token } = await newBank();
      await emit(partnerId, 21);
      await emit(partnerId, 22);
      const [a, b] = Object.keys((await poll(token, { returnImmediately: true })).json().sets);
      const res = await poll(token, { setErrs: { [a]: { err: 'invalid_key', description: 'unknown kid' } }, returnImmediately: true });
      expect(res.statusCode).toBe(200);
      expect(Object.keys(res.json().sets)).toEqual([b]);
      const r = await row(a);
      expect(r.acknowledged_at).toBeNull();
      expect(typeof r.set_error === 'string' ? JSON.parse(r.set_error) : r.set_error).toEqual({
        err: 'invalid_key',
        description: 'unknown kid',
      });
    });

    it("never shows nor lets a bank acknowledge another partner's events", async () => {
      const one = await newBank();
      const other = await newBank();
      await emit(one.partnerId, 31);
      const [jti] = Object.keys((await poll(one.token, { returnImmediately: true })).json().sets);
      const foreign = await poll(other.token, {
        ack: [jti, 'evt_999999999', 'garbage'],
        setErrs: { [jti]: { err: 'x' } },
        returnImmediately: true,
      });
      expect(foreign.statusCode).toBe(200);
      expect(foreign.json()).toEqual({ sets: {}, moreAvailable: false });
      expect((await row(jti)).acknowledged_at).toBeNull();
      expect((await row(jti)).set_error).toBeNull();
      expect(Object.keys((await poll(one.token, { returnImmediately: true })).json().sets)).toEqual([jti]);
    });

    it('waits briefly for an event when returnImmediately is false', async () => {
      const { partnerId, token } = await newBank();
      const waiting = poll(token, { returnImmediately: false });
      await new Promise((r) => setTimeout(r, 400));
      await emit(partnerId, 41);
      const res = await waiting;
      expect(res.statusCode).toBe(200);
      expect(Object.values<string>(res.json().sets).map((s) => decodeJwt(s).txn)).toEqual(['ref_pe41']);
    });

    it('requires the events:read scope and a partner token', async () => {
      const { bank } = await newBank();
      const narrow = await bank.accessToken(app, 'referrals:read');
      expect((await poll(narrow, { returnImmediately: true })).statusCode).toBe(403);
      const anonymous = await inject(app, { method: 'POST', url: '/partner/v1/events/poll', payload: {} });
      expect(anonymous.statusCode).toBe(401);
      const admin = await inject(app, { method: 'POST', url: '/partner/v1/events/poll', headers: adminHeaders(), payload: {} });
      expect(admin.statusCode).toBe(403);
    });

    it.each([
      [{ maxEvents: '5' }, 'maxEvents'],
      [{ maxEvents: 1001 }, 'maxEvents'],
      [{ maxEvents: -1 }, 'maxEvents'],
      [{ returnImmediately: 'yes' }, 'returnImmediately'],
      [{ ack: 'evt_1' }, 'ack'],
      [{ ack: [1] }, 'ack'],
      [{ setErrs: { evt_1: { err: 42 } } }, 'setErrs.evt_1.err'],
      [{ setErrs: { evt_1: 'bad' } }, 'setErrs.evt_1'],
      [{ setErrs: { evt_1: { err: 'x', extra: 1 } } }, 'setErrs.evt_1.extra'],
      [{ unknown: true }, 'unknown'],
    ])('answers %j with a 400 problem naming %s', async (body, field) => {
      const { token } = await newBank();
      const res = await poll(token, { returnImmediately: true, ...body });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    });
  });

  describe('push (RFC 8935)', () => {
    let worker: INestApplicationContext | undefined;
    let receiver: Receiver | undefined;

    afterEach(async () => {
      await worker?.close();
      await receiver?.stop();
      worker = undefined;
      receiver = undefined;
    });

    async function pushingBank(answers: Array<{ status: number; body?: object }>, workerEnv: Record<string, string>) {
      receiver = new Receiver(answers);
      const endpoint = await receiver.start();
      const bank = await newBank({ pushEndpoint: endpoint });
      worker = await startWorker(workerEnv);
      return bank;
    }

    const pushedRow = async (partnerId: string) => (await db.query('SELECT * FROM partner_events WHERE partner_id = ?', [partnerId]))[0];

    it('retries after failures until the bank answers 202, and the event stays in the poll feed', async () => {
      const { partnerId, token } = await pushingBank([{ status: 500 }, { status: 503 }, { status: 202 }], {
        EVENT_PUSH_RETRY_DELAYS_MS: '20,20,20',
      });
      await emit(partnerId, 51);
      const done = await eventually(async () => {
        const r = await pushedRow(partnerId);
        return r.push_status === 'DELIVERED' ? r : undefined;
      });
      expect(done.push_attempts).toBe(3);
      expect(done.pushed_at).not.toBeNull();
      expect(receiver!.received).toHaveLength(3);
      for (const request of receiver!.received) {
        expect(request.contentType).toBe('application/secevent+jwt');
        expect(request.accept).toBe('application/json');
        expect(request.body).toBe(done.set_jws);
      }
      const polled = await poll(token, { returnImmediately: true });
      expect(Object.values(polled.json().sets)).toEqual([done.set_jws]);
      const pushes = await worker!.get(MetricsService).eventPushes.get();
      const count = (outcome: string) => pushes.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
      expect(count('failed')).toBeGreaterThanOrEqual(2);
      expect(count('delivered')).toBeGreaterThanOrEqual(1);
    });

    it('marks the event DEAD after the schedule, lists it for operators and keeps it pollable', async () => {
      const { bank, partnerId, token } = await pushingBank([{ status: 500 }], { EVENT_PUSH_RETRY_DELAYS_MS: '10,10,10' });
      await emit(partnerId, 61);
      const dead = await eventually(async () => {
        const r = await pushedRow(partnerId);
        return r.push_status === 'DEAD' ? r : undefined;
      });
      expect(dead.push_attempts).toBe(4);
      expect(dead.push_last_error).toBe('HTTP 500');
      expect(receiver!.received).toHaveLength(4);

      const listing = await inject(app, {
        method: 'GET',
        url: `/v1/admin/partners/${bank.code}/dead-letters?limit=10`,
        headers: adminHeaders(),
      });
      expect(listing.statusCode).toBe(200);
      expect(listing.json()).toEqual({
        data: [
          expect.objectContaining({
            id: toPublicId('evt', dead.id),
            type: 'referral.ready',
            txn: 'ref_pe61',
            attempts: 4,
            lastError: 'HTTP 500',
            acknowledged: false,
          }),
        ],
        nextCursor: null,
      });
      expect(Object.keys((await poll(token, { returnImmediately: true })).json().sets)).toEqual([toPublicId('evt', dead.id)]);

      const unknown = await inject(app, { method: 'GET', url: '/v1/admin/partners/NO_SUCH_BANK/dead-letters', headers: adminHeaders() });
      expect(unknown.statusCode).toBe(404);
      const notAdmin = await inject(app, {
        method: 'GET',
        url: `/v1/admin/partners/${bank.code}/dead-letters`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(notAdmin.statusCode).toBe(403);
    });

    it('hangs up on an endless 202 answer after 16 KiB and counts it delivered, well before the push timeout', async () => {
      let hungUp = false;
      const endless = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(202, { 'content-type': 'application/json' });
          const chunk = Buffer.alloc(4096, ' ');
          const pump = () => {
            while (!hungUp && res.write(chunk));
            if (!hungUp) res.once('drain', pump);
          };
          res.on('close', () => (hungUp = true));
          pump();
        });
      });
      await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
      try {
        const { partnerId } = await newBank({ pushEndpoint: `http://127.0.0.1:${(endless.address() as AddressInfo).port}/events` });
        worker = await startWorker({ EVENT_PUSH_TIMEOUT_MS: '30000', EVENT_PUSH_RETRY_DELAYS_MS: '10' });
        const started = Date.now();
        await emit(partnerId, 75);
        const r = await eventually(async () => {
          const row = await pushedRow(partnerId);
          return row.push_status === 'DELIVERED' ? row : undefined;
        }, 8000);
        expect(Date.now() - started).toBeLessThan(8000);
        expect(r.push_attempts).toBe(1);
        expect(r.push_last_error).toBeNull();
        expect(hungUp).toBe(true);
      } finally {
        endless.closeAllConnections();
        await new Promise<void>((resolve) => endless.close(() => resolve()));
      }
    });

    it("stops at a 400 with the bank's { err, description } and records it", async () => {
      const { partnerId } = await pushingBank([{ status: 400, body: { err: 'invalid_audience', description: 'not for us' } }], {
        EVENT_PUSH_RETRY_DELAYS_MS: '10,10,10',
      });
      await emit(partnerId, 71);
      const r = await eventually(async () => {
        const row = await pushedRow(partnerId);
        return row.push_status === 'DELIVERED' ? row : undefined;
      });
      expect(r.push_attempts).toBe(1);
      expect(r.push_last_error).toBe('400 invalid_audience: not for us');
      expect(receiver!.received).toHaveLength(1);
    });

    it('re-checks the address at send time and never connects to a forbidden one', async () => {
      // Registered while private endpoints were allowed; the worker now runs with the SSRF rules on (this plain-http
      // loopback endpoint breaks them; test/unit/events-push-sender.spec.ts covers each rule, resolved names included).
      const { partnerId } = await pushingBank([{ status: 202 }], {
        EVENT_PUSH_RETRY_DELAYS_MS: '10',
        PUSH_ALLOW_PRIVATE_ENDPOINTS: 'false',
      });
      await emit(partnerId, 81);
      const r = await eventually(async () => {
        const row = await pushedRow(partnerId);
        return row.push_status === 'DEAD' ? row : undefined;
      });
      expect(r.push_attempts).toBe(2);
      expect(r.push_last_error).toMatch(/not allowed|https/);
      expect(receiver!.received).toHaveLength(0);
    });

    it('does not push for a partner without an endpoint', async () => {
      const { partnerId } = await newBank();
      await emit(partnerId, 91);
      const r = await pushedRow(partnerId);
      expect(r.push_status).toBe('NONE');
      const outbox = await db.query(`SELECT id FROM outbox WHERE job_name = 'event.push' AND JSON_EXTRACT(payload, '$.eventId') = ?`, [
        String(r.id),
      ]);
      expect(outbox).toHaveLength(0);
    });
  });
  describe('push lanes and circuit breaker', () => {
    let worker: INestApplicationContext | undefined;
    const servers: Server[] = [];

    afterEach(async () => {
      // Hung connections first: a worker closes only once its active pushes end, and they end when these do.
      for (const server of servers) server.closeAllConnections();
      await worker?.close();
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      servers.length = 0;
      worker = undefined;
    });

    /** A bank endpoint on 127.0.0.1; `hang` reads the request and never answers it. */
    async function endpoint(answer: number | 'hang'): Promise<{ url: string; requests: IncomingMessage[] }> {
      const requests: IncomingMessage[] = [];
      const server = createServer((req, res) => {
        requests.push(req);
        req.resume();
        if (answer !== 'hang') req.on('end', () => res.writeHead(answer).end());
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`, requests };
    }

    const rowsOf = (partnerId: string): Promise<Array<Record<string, unknown>>> =>
      db.query('SELECT id, push_status, push_attempts, push_last_error FROM partner_events WHERE partner_id = ? ORDER BY id', [partnerId]);

    /** The partner's n rows once all are DELIVERED; throws (and eventually tries again) before, naming what it saw. */
    const allDelivered = async (partnerId: string, n: number) => {
      const rows = await rowsOf(partnerId);
      if (rows.length === n && rows.every((r) => r.push_status === 'DELIVERED')) return rows;
      throw new Error(`not delivered yet: ${JSON.stringify(rows)}`);
    };

    const laneOf = async (code: string) => {
      const res = await inject(app, { method: 'GET', url: `/v1/admin/partners/${code}/push-lane`, headers: adminHeaders() });
      expect(res.statusCode).toBe(200);
      return res.json();
    };

    it("delivers one partner's pushes while another partner's endpoint hangs", async () => {
      const hanging = await endpoint('hang');
      const healthy = await endpoint(202);
      const slow = await newBank({ pushEndpoint: hanging.url });
      const fine = await newBank({ pushEndpoint: healthy.url });
      // More hanging pushes than the worker has slots, each allowed a minute: without lanes they hold every slot.
      worker = await startWorker({ WORKER_CONCURRENCY: '4', EVENT_PUSH_TIMEOUT_MS: '60000' });
      for (let n = 0; n < 6; n++) await emit(slow.partnerId, 100 + n);
      await eventually(async () => hanging.requests.length >= 1);

      for (let n = 0; n < 3; n++) await emit(fine.partnerId, 110 + n);
      const delivered = await eventually(() => allDelivered(fine.partnerId, 3), 20_000);
      expect(delivered.map((r) => r.push_attempts)).toEqual([1, 1, 1]);
      expect(healthy.requests).toHaveLength(3);
      // The slow bank's pushes are still hanging, unanswered, and none of its events went anywhere.
      expect(hanging.requests.some((req) => !req.socket.destroyed)).toBe(true);
      expect((await rowsOf(slow.partnerId)).every((r) => r.push_status === 'PENDING' && r.push_attempts === 0)).toBe(true);
      // Its lane holds no more than its limit: the rest of its events wait their turn.
      expect((await laneOf(slow.bank.code)).inFlight).toBeLessThanOrEqual(2);
      const deferrals = await worker.get(MetricsService).eventPushDeferrals.get();
      expect(deferrals.values.find((v) => v.labels.reason === 'lane_full')?.value ?? 0).toBeGreaterThanOrEqual(1);
    });

    it.each([200, 204])('counts a %i answer as delivered', async (status) => {
      const bank = await endpoint(status);
      const { partnerId } = await newBank({ pushEndpoint: bank.url });
      worker = await startWorker({ EVENT_PUSH_RETRY_DELAYS_MS: '10,10' });
      await emit(partnerId, 120);
      const [row] = await eventually(() => allDelivered(partnerId, 1));
      expect(row.push_attempts).toBe(1);
      expect(row.push_last_error).toBeNull();
      expect(bank.requests).toHaveLength(1);
    });

    it('opens the circuit after repeated failures, defers pushes without sending them, and closes after a good probe', async () => {
      const answers = [500, 500, 500, 503, 202];
      const requests: number[] = [];
      const server = createServer((req, res) => {
        requests.push(requests.length);
        req.resume();
        req.on('end', () => res.writeHead(answers[Math.min(requests.length - 1, answers.length - 1)]).end());
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { bank, partnerId } = await newBank({ pushEndpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/e` });
      worker = await startWorker({
        // The last delay keeps the retry window (their sum) longer than this test.
        EVENT_PUSH_RETRY_DELAYS_MS: '20,20,20,20,20,60000',
        PUSH_CIRCUIT_FAILURES: '3',
        PUSH_CIRCUIT_COOLDOWN_MS: '1500',
      });
      expect((await laneOf(bank.code)).circuit).toMatchObject({ state: 'closed', consecutiveFailures: 0 });

      await emit(partnerId, 130);
      const open = await eventually(async () => {
        const lane = await laneOf(bank.code);
        return lane.circuit.state === 'open' ? lane : undefined;
      });
      expect(open.circuit.consecutiveFailures).toBeGreaterThanOrEqual(3);
      expect(Date.parse(open.circuit.openUntil)).not.toBeNaN();
      await emit(partnerId, 131);

      // The failed probe (503) opens it again; the next probe gets 202 and closes it; then everything goes out.
      const rows = await eventually(() => allDelivered(partnerId, 2), 25_000);
      const lane = await laneOf(bank.code);
      expect(lane.circuit).toMatchObject({ state: 'closed', consecutiveFailures: 0, openUntil: null });
      // Every request made was an attempt recorded on a row: a deferral while open sent nothing.
      expect(requests).toHaveLength(6);
      expect(rows.reduce((sum, r) => sum + Number(r.push_attempts), 0)).toBe(6);

      const deferrals = await worker!.get(MetricsService).eventPushDeferrals.get();
      expect(deferrals.values.find((v) => v.labels.reason === 'circuit_open')?.value ?? 0).toBeGreaterThanOrEqual(1);
      const metrics = await inject(app, { method: 'GET', url: '/metrics', headers: adminHeaders() });
      expect(metrics.body).toMatch(new RegExp(`partner_push_circuit_state\\{partner="${bank.code}"\\} 0`));
    });

    it('ends an event whose retry window passed while the circuit stayed open as DEAD, without sending it', async () => {
      const bank = await endpoint(500);
      const { partnerId } = await newBank({ pushEndpoint: bank.url });
      worker = await startWorker({ EVENT_PUSH_RETRY_DELAYS_MS: '20,20', PUSH_CIRCUIT_FAILURES: '2', PUSH_CIRCUIT_COOLDOWN_MS: '600000' });
      await emit(partnerId, 140);
      const dead = await eventually(async () => {
        const [row] = await rowsOf(partnerId);
        return row.push_status === 'DEAD' ? row : undefined;
      });
      expect(dead).toMatchObject({ push_attempts: 3, push_last_error: 'push circuit open past the retry window' });
      expect(bank.requests).toHaveLength(2);
    });
  });
});
