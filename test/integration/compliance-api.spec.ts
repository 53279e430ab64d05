import { randomUUID } from 'node:crypto';
import { get as httpGet, IncomingMessage } from 'node:http';
import { AddressInfo } from 'node:net';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Command } from 'commander';
import { DataSource } from 'typeorm';

import { register as registerAudit } from '../../src/cli/commands/audit';
import { AuditRepository, AuditSearchFilters } from '../../src/modules/audit/audit.repository';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { AuditChainer } from '../../src/modules/audit/audit-chainer.service';
import { AuditCheckpointer } from '../../src/modules/audit/audit-checkpoint.service';
import { AuditEntryInput, canonicalJson, hashEntry } from '../../src/modules/audit/audit-entry';
import { eventually, startHttpApp } from '../support/app';
import { withoutAuditTriggers } from '../support/audit-triggers';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';

const PROBLEM = 'application/problem+json';

interface EventView {
  seq: number;
  at: string;
  action: string;
  actor: { type: string; id: string };
  partner?: string;
  resource?: { type: string | null; id: string | null };
  subjectUserHash?: string;
  requestId?: string;
  clientIp?: string;
  outcome: string;
  httpStatus?: number;
  details?: unknown;
  prevHash: string;
  hash: string;
}

/**
 * A verify answer without its `unchained` backlog: a measurement of the moment (the API call's own compliance.read
 * entry is in the next call's backlog until chained), while the rest is the chain's, on which the API and CLI agree.
 */
const integrity = (answer: unknown) => ({ ...(answer as Record<string, unknown>), unchained: undefined });

/** `npm run cli -- audit:verify`, in-process (as test/integration/signing-cli.spec.ts), without its backlog (integrity). */
async function cliVerify(...args: string[]): Promise<unknown> {
  const program = new Command().exitOverride();
  registerAudit(program);
  const lines: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
  try {
    await program.parseAsync(['node', 'cli', 'audit:verify', ...args]);
  } finally {
    log.mockRestore();
    process.exitCode = undefined;
  }
  return integrity(JSON.parse(lines.join('\n')));
}

/** RFC 4180 parsing, written independently of the exporter: quoted fields may hold commas, quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length) throw new Error('CSV does not end with CRLF');
  return rows;
}

describe('compliance API', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let writer: AuditWriter;
  let chainer: AuditChainer;
  let repository: AuditRepository;
  const officer = `officer-${randomUUID().slice(0, 8)}`;
  const compliance = () => ({ authorization: `Bearer ${platformToken(['compliance'], officer)}` });
  const get = (url: string, headers: Record<string, string> = compliance()) => inject(api, { method: 'GET', url, headers });

  // The seeded trail: one partner, one user, actions under a prefix no other code writes.
  const partner = uniqueCode('CQ');
  const userId = `u_cq_${randomUUID().slice(0, 8)}`;
  let userHash: string;
  const awkward = 'a, "quoted" value\nsecond line, 中文 ✓ é';
  // Writers never put line breaks in plain columns, but the exporter must quote one correctly if they did.
  const rawNote = 'line one, "two"\nthree — 中文';
  let seeded: EventView[];

  const seed = (): AuditEntryInput[] => [
    {
      actorType: 'partner',
      actorId: partner,
      partnerCode: partner,
      action: 'cq_spec.call',
      subjectUserHash: userHash,
      outcome: 'SUCCESS',
      httpStatus: 200,
    },
    {
      actorType: 'partner',
      actorId: partner,
      partnerCode: partner,
      action: 'cq_spec.file.disclosed',
      resourceType: 'referral',
      resourceId: 'ref_1',
      subjectUserHash: userHash,
      requestId: 'req-cq-2',
      clientIp: '203.0.113.9',
      outcome: 'DENIED',
      httpStatus: 403,
      details: { note: awkward, n: 2 },
    },
    {
      actorType: 'system',
      actorId: 'cq-job',
      partnerCode: partner,
      action: 'cq_spec.job',
      resourceType: 'note',
      resourceId: rawNote,
      outcome: 'FAILURE',
    },
    { actorType: 'user', actorId: userHash, subjectUserHash: userHash, action: 'cq_spec.consent', outcome: 'SUCCESS' },
    ...Array.from({ length: 5 }, (_, i) => ({
      actorType: 'partner' as const,
      actorId: partner,
      partnerCode: partner,
      action: 'cq_spec.call',
      outcome: 'SUCCESS' as const,
      httpStatus: 200,
      details: { i },
    })),
  ];

  beforeAll(async () => {
    // The api role runs no chainer: the tests chain explicitly, so the chain only moves when they say so.
    api = await startHttpApp('api');
    db = api.get(DataSource);
    writer = api.get(AuditWriter);
    chainer = api.get(AuditChainer);
    repository = api.get(AuditRepository);
    userHash = writer.subjectHash(userId);
    // Two batches a few milliseconds apart (the time is the database's NOW(3)), so that time filters have a boundary.
    const entries = seed();
    await writer.appendMany(entries.slice(0, 4));
    const [{ t }]: { t: Date }[] = await db.query('SELECT NOW(3) AS t');
    await eventually(async () => ((await db.query('SELECT NOW(3) AS t')) as { t: Date }[])[0].t > t, 2000, 5);
    await writer.appendMany(entries.slice(4));
    await chainAll();
    const res = await get('/v1/compliance/audit-events?action=cq_spec.*&limit=500');
    expect(res.statusCode).toBe(200);
    seeded = res.json().data;
    expect(seeded).toHaveLength(9);
  });

  afterAll(async () => {
    await api?.close();
  });

  /**
   * Chains every pending entry. drain() stops as soon as another chainer holds the head (SKIP LOCKED), which a worker
   * left running by another spec of the run may do; the inbox being empty is what these tests need.
   */
  const chainAll = () =>
    eventually(async () => {
      await chainer.drain();
      return (await repository.inboxSize()) === 0;
    }, 30_000);

  /** Every page of a search, following nextCursor. */
  async function allPages(query: string, limit = 2): Promise<EventView[]> {
    const out: EventView[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/v1/compliance/audit-events?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const page = res.json() as { data: EventView[]; nextCursor: string | null };
      expect(page.data.length).toBeLessThanOrEqual(limit);
      out.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  }

  const BULK = 30_000;
  const TAIL = 1500;
  let volume: Promise<void> | undefined;
  /**
   * 30,000 rows of ~1 KiB, once for the specs that need them: enough that an export cannot fit in socket buffers (the
   * query stays open while the client waits) and that a plan walking the whole trail shows in EXPLAIN.
   */
  const ensureVolume = () =>
    (volume ??= (async () => {
      const pad = 'x'.repeat(900);
      for (let done = 0; done < BULK; done += 2000) {
        await writer.appendMany(
          Array.from({ length: 2000 }, (_, i) => ({
            actorType: 'system' as const,
            actorId: 'cq-volume',
            action: 'cq_volume.row',
            outcome: 'SUCCESS' as const,
            details: { i: done + i, pad },
          })),
        );
      }
      // Then a tail of rarer rows, the newest of the trail: a plan that walks the primary key from seq 1 and filters
      // reads all of the volume before it finds them.
      await writer.appendMany(
        Array.from({ length: TAIL }, (_, i) => ({
          actorType: 'admin' as const,
          actorId: 'cq-tail-admin',
          partnerCode: 'CQ_TAIL',
          action: i % 2 ? 'cq_tail.a' : 'cq_tail.b',
          outcome: 'FAILURE' as const,
        })),
      );
      await chainAll();
    })());

  describe('access', () => {
    const routes = [
      '/v1/compliance/audit-events',
      '/v1/compliance/audit-events/export?format=csv',
      '/v1/compliance/audit/verify',
      '/v1/compliance/users/u_1/disclosures',
    ];

    it('refuses every compliance route without a compliance token: 401 without one, 403 for user, operator, platform and partner', async () => {
      const bank = new BankClient(uniqueCode('CQB'));
      await bank.register(api, { scopes: ['referrals:read'] });
      const partnerToken = await bank.accessToken(api);
      for (const url of routes) {
        expect((await get(url, {})).statusCode).toBe(401);
        expect((await get(url, { authorization: 'Bearer not-a-token' })).statusCode).toBe(401);
        for (const role of ['user', 'admin', 'platform'] as const) {
          const res = await get(url, { authorization: `Bearer ${platformToken([role])}` });
          expect([url, role, res.statusCode, res.headers['content-type']]).toEqual([url, role, 403, expect.stringContaining(PROBLEM)]);
        }
        expect((await get(url, adminHeaders())).statusCode).toBe(403);
        expect([401, 403]).toContain((await get(url, { authorization: `Bearer ${partnerToken}` })).statusCode);
        expect((await get(url)).statusCode).toBe(200);
      }
    });
  });

  describe('search', () => {
    it('answers events in seq order, in the contract shape, with the stored fields as hashed', async () => {
      const seqs = seeded.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      const disclosed = seeded.find((e) => e.action === 'cq_spec.file.disclosed')!;
      expect(disclosed).toEqual({
        seq: expect.any(Number),
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        action: 'cq_spec.file.disclosed',
        actor: { type: 'partner', id: partner },
        partner,
        resource: { type: 'referral', id: 'ref_1' },
        subjectUserHash: userHash,
        requestId: 'req-cq-2',
        clientIp: '203.0.113.9',
        outcome: 'DENIED',
        httpStatus: 403,
        details: { note: awkward, n: 2 },
        prevHash: expect.stringMatching(/^[0-9a-f]{64}$/),
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      // Optional members are absent, not null.
      const consent = seeded.find((e) => e.action === 'cq_spec.consent')!;
      expect(Object.keys(consent).sort()).toEqual(['action', 'actor', 'at', 'hash', 'outcome', 'prevHash', 'seq', 'subjectUserHash']);
      // Anyone can recompute each hash from the answer alone.
      for (const e of seeded) {
        const recomputed = hashEntry({
          seq: e.seq,
          occurredAt: new Date(e.at),
          actorType: e.actor.type as never,
          actorId: e.actor.id,
          action: e.action,
          resourceType: e.resource?.type ?? null,
          resourceId: e.resource?.id ?? null,
          subjectUserHash: e.subjectUserHash ?? null,
          partnerCode: e.partner ?? null,
          requestId: e.requestId ?? null,
          clientIp: e.clientIp ?? null,
          outcome: e.outcome as never,
          httpStatus: e.httpStatus ?? null,
          details: e.details === undefined ? null : canonicalJson(e.details),
          prevHash: e.prevHash,
        });
        expect(recomputed).toBe(e.hash);
      }
    });

    it('filters by partner, user, action (exact and prefix), actor, outcome and time; paging agrees with one page', async () => {
      const actions = (events: EventView[]) => events.map((e) => `${e.seq}:${e.action}`);
      const expectFilter = async (query: string, predicate: (e: EventView) => boolean) => {
        const expected = seeded.filter(predicate);
        expect(expected.length).toBeGreaterThan(0);
        const paged = await allPages(query);
        const onePage = (await get(`/v1/compliance/audit-events?${query}&limit=500`)).json().data;
        expect([query, actions(paged)]).toEqual([query, actions(expected)]);
        expect(onePage).toEqual(paged);
      };
      await expectFilter(`partner=${partner}`, (e) => e.partner === partner);
      await expectFilter(`userId=${userId}`, (e) => e.subjectUserHash === userHash);
      await expectFilter('action=cq_spec.call', (e) => e.action === 'cq_spec.call');
      await expectFilter('action=cq_spec.file.*', (e) => e.action.startsWith('cq_spec.file.'));
      await expectFilter(`actorType=partner&actorId=${partner}`, (e) => e.actor.type === 'partner');
      await expectFilter(`actorId=${partner}`, (e) => e.actor.id === partner);
      await expectFilter(`actorType=user&userId=${userId}`, (e) => e.actor.type === 'user');
      await expectFilter('action=cq_spec.*&outcome=DENIED', (e) => e.outcome === 'DENIED');
      await expectFilter('action=cq_spec.*&outcome=FAILURE', (e) => e.outcome === 'FAILURE');
      // from is inclusive, to exclusive.
      const boundary = seeded[4];
      expect(seeded[3].at < boundary.at).toBe(true);
      const at = encodeURIComponent(boundary.at);
      await expectFilter(`partner=${partner}&from=${at}`, (e) => e.partner === partner && e.at >= boundary.at);
      await expectFilter(`partner=${partner}&to=${encodeURIComponent(seeded[8].at)}`, (e) => e.partner === partner && e.at < seeded[8].at);
      const offset = encodeURIComponent(new Date(Date.parse(boundary.at) - 3600_000).toISOString().replace('Z', '-01:00'));
      const sameInstant = (await get(`/v1/compliance/audit-events?partner=${partner}&from=${offset}&limit=500`)).json().data;
      expect(sameInstant).toEqual(seeded.filter((e) => e.partner === partner && e.at >= boundary.at));
      // An action prefix matches whole segments only, never a longer word.
      expect((await get('/v1/compliance/audit-events?action=cq_spe.*')).json()).toEqual({ data: [], nextCursor: null });
      expect((await get('/v1/compliance/audit-events?userId=u_nobody')).json()).toEqual({ data: [], nextCursor: null });
    });

    it('defaults to 100 a page', async () => {
      await writer.appendMany(
        Array.from({ length: 120 }, (_, i) => ({
          actorType: 'system',
          actorId: 'cq-bulk',
          action: 'cq_bulk.x',
          outcome: 'SUCCESS',
          details: { i },
        })),
      );
      await chainAll();
      const first = (await get('/v1/compliance/audit-events?action=cq_bulk.x')).json();
      expect(first.data).toHaveLength(100);
      const rest = (await get(`/v1/compliance/audit-events?action=cq_bulk.x&cursor=${first.nextCursor}`)).json();
      expect(rest.data).toHaveLength(20);
      expect(rest.nextCursor).toBeNull();
    });

    it.each([
      ['foo=1', 'foo'],
      ['actorType=robot', 'actorType'],
      ['actorType=user&actorType=admin', 'actorType'],
      ['outcome=OK', 'outcome'],
      ['outcome=SUCCESS&outcome=DENIED', 'outcome'],
      ['action=cq_spec*', 'action'],
      ['action=a.*.b', 'action'],
      ['action=*', 'action'],
      ['from=yesterday', 'from'],
      ['from=2026-01-01', 'from'],
      ['from=2026-02-30T00:00:00Z', 'from'],
      ['to=2026-01-01T00:00:00', 'to'],
      ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=ten', 'limit'],
      ['cursor=garbage', 'cursor'],
      ['userId=', 'userId'],
      ['partner=not%20a%20code', 'partner'],
      ['actorId=', 'actorId'],
    ])('refuses %s with 400 naming %s', async (query, field) => {
      for (const path of ['/v1/compliance/audit-events', '/v1/compliance/audit-events/export']) {
        const res = await get(`${path}?${query}`);
        expect([path, res.statusCode, res.headers['content-type']]).toEqual([path, 400, expect.stringContaining(PROBLEM)]);
        const body = res.json();
        expect(body).toMatchObject({ status: 400, type: expect.stringContaining('https://errors.referral-gateway.dev/') });
        expect(body.errors.map((e: { field: string }) => e.field)).toContain(field);
      }
    });
  });

  describe('export', () => {
    const ndjsonOf = (body: string) =>
      body
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as EventView);

    it('streams NDJSON that agrees with the search, as an attachment', async () => {
      const windows = [`action=cq_spec.*&from=${encodeURIComponent(seeded[4].at)}`, 'from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z'];
      for (const query of ['action=cq_spec.*', `userId=${userId}`, 'action=cq_spec.*&outcome=DENIED', ...windows]) {
        const res = await get(`/v1/compliance/audit-events/export?format=ndjson&${query}`);
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
        expect(res.headers['content-disposition']).toMatch(/^attachment; filename="audit-events-[0-9TZ-]+\.ndjson"$/);
        expect(res.body === '' || res.body.endsWith('\n')).toBe(true);
        expect(ndjsonOf(res.body)).toEqual(await allPages(query));
      }
      // ndjson is the default format.
      expect(ndjsonOf((await get('/v1/compliance/audit-events/export?action=cq_spec.*')).body)).toEqual(seeded);
      expect((await get('/v1/compliance/audit-events/export?format=xml')).statusCode).toBe(400);
    });

    it('streams CSV with a header row and RFC 4180 quoting (commas, quotes, line breaks, non-ASCII)', async () => {
      const res = await get('/v1/compliance/audit-events/export?format=csv&action=cq_spec.*');
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename="audit-events-[0-9TZ-]+\.csv"$/);
      // The details cell as RFC 4180 writes it: the whole field quoted, inner quotes doubled, the line break kept.
      expect(res.body).toContain(`"{""n"":2,""note"":""a, \\""quoted\\"" value\\nsecond line, 中文 ✓ é""}"`);
      const [header, ...rows] = parseCsv(res.body);
      expect(header).toEqual([
        'seq',
        'at',
        'action',
        'actorType',
        'actorId',
        'partner',
        'resourceType',
        'resourceId',
        'subjectUserHash',
        'requestId',
        'clientIp',
        'outcome',
        'httpStatus',
        'details',
        'prevHash',
        'hash',
      ]);
      const asRow = (e: EventView) => [
        String(e.seq),
        e.at,
        e.action,
        e.actor.type,
        e.actor.id,
        e.partner ?? '',
        e.resource?.type ?? '',
        e.resource?.id ?? '',
        e.subjectUserHash ?? '',
        e.requestId ?? '',
        e.clientIp ?? '',
        e.outcome,
        e.httpStatus === undefined ? '' : String(e.httpStatus),
        e.details === undefined ? '' : canonicalJson(e.details),
        e.prevHash,
        e.hash,
      ];
      expect(rows).toEqual(seeded.map(asRow));
      const awkwardRow = rows.find((r) => r[2] === 'cq_spec.file.disclosed')!;
      expect(JSON.parse(awkwardRow[13])).toEqual({ note: awkward, n: 2 });
      expect(res.body).toContain('"line one, ""two""\nthree — 中文"');
      expect(rows.find((r) => r[2] === 'cq_spec.job')![7]).toBe(rawNote);
      // Non-ASCII text leaves as UTF-8.
      expect(res.rawPayload.includes(Buffer.from('中文 ✓ é', 'utf8'))).toBe(true);
    });

    describe('over a real socket', () => {
      let base: string;

      beforeAll(async () => {
        await ensureVolume();
        await api.listen({ port: 0, host: '127.0.0.1' });
        base = `http://127.0.0.1:${(api.getHttpServer().address() as AddressInfo).port}`;
      }, 120_000);

      /** The server threads of this database running the export's SELECT. */
      const exportQueries = async (): Promise<{ id: string; info: string }[]> =>
        db.query(
          `SELECT id, info FROM information_schema.processlist
            WHERE db = DATABASE() AND id <> CONNECTION_ID() AND info LIKE '%FROM audit_events%' AND info LIKE '%cq_volume%'`,
        );

      it('a client that disconnects stops the query and frees its connection', async () => {
        const response = await new Promise<IncomingMessage>((resolve, reject) => {
          const req = httpGet(
            `${base}/v1/compliance/audit-events/export?format=ndjson&action=cq_volume.*`,
            { headers: compliance() },
            resolve,
          );
          req.on('error', reject);
        });
        expect(response.statusCode).toBe(200);
        // Read one chunk, then stop reading: back-pressure holds the query open on the database.
        await new Promise<void>((resolve) => response.once('data', () => resolve()));
        response.pause();
        const running = await eventually(async () => {
          const rows = await exportQueries();
          return rows.length === 1 ? rows : null;
        });
        const thread = running![0].id;

        response.destroy();
        const started = Date.now();
        await eventually(async () => {
          const threads: unknown[] = await db.query('SELECT id FROM information_schema.processlist WHERE id = ?', [thread]);
          return threads.length === 0;
        }, 5000);
        expect(Date.now() - started).toBeLessThan(5000);
        expect(await exportQueries()).toEqual([]);

        // The pool is intact: a full export still runs to its end, and afterwards leaves no query behind.
        const full = await fetch(`${base}/v1/compliance/audit-events/export?format=csv&action=cq_volume.*`, { headers: compliance() });
        const text = await full.text();
        expect(text.split('\r\n').filter((l) => /^\d/.test(l))).toHaveLength(BULK);
        expect(await exportQueries()).toEqual([]);
      }, 60_000);

      /** An export whose client read one chunk and then stopped reading: it holds its database connection. */
      const heldExport = () =>
        new Promise<IncomingMessage>((resolve, reject) => {
          const req = httpGet(
            `${base}/v1/compliance/audit-events/export?format=ndjson&action=cq_volume.*`,
            { headers: compliance() },
            (res) => {
              if (res.statusCode !== 200) return reject(new Error(`export answered ${res.statusCode}`));
              res.once('data', () => {
                res.pause();
                resolve(res);
              });
            },
          );
          req.on('error', reject);
        });

      it('refuses an export past the per-process limit (429) instead of taking one more pooled connection', async () => {
        const held = [await heldExport(), await heldExport()];
        try {
          const refused = await fetch(`${base}/v1/compliance/audit-events/export?format=csv&action=cq_volume.*`, { headers: compliance() });
          expect(refused.status).toBe(429);
          expect(refused.headers.get('content-type')).toContain(PROBLEM);
          expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
          expect(((await refused.json()) as { type: string }).type).toMatch(/\/exports-busy$/);
          // Searches are not exports: they still answer.
          expect((await fetch(`${base}/v1/compliance/audit-events?action=cq_volume.*&limit=1`, { headers: compliance() })).status).toBe(
            200,
          );
        } finally {
          for (const res of held) res.destroy();
        }
        // A slot comes back when an export ends, however it ends (here: its client went away).
        const after = await eventually(async () => {
          const res = await fetch(`${base}/v1/compliance/audit-events/export?format=ndjson&action=cq_spec.*`, { headers: compliance() });
          const body = await res.text();
          return res.status === 200 ? body : null;
        });
        expect(after!.length).toBeGreaterThan(0);
        expect(await exportQueries()).toEqual([]);
      }, 60_000);
    });
  });

  describe('explain: every filter is served by an index', () => {
    // Each shape matches a few rows, or the tail of 1,500 newest rows, among 30,000 others. MariaDB's ANALYZE runs the
    // statement and reports the rows it really read (r_rows): a plan that walks the primary key in seq order and
    // filters (the optimiser's favourite for ORDER BY seq LIMIT, its estimate assuming matches are spread evenly)
    // reads the whole volume before the tail; an index plan reads no more than the matches.
    let tailAt: Date;
    const shapes: [string, () => AuditSearchFilters][] = [
      ['partner', () => ({ partnerCode: 'CQ_TAIL' })],
      ['user', () => ({ subjectUserHash: userHash })],
      ['action', () => ({ action: 'cq_tail.a' })],
      ['action prefix', () => ({ actionPrefix: 'cq_tail.' })],
      ['actor type', () => ({ actorType: 'admin' })],
      ['actor', () => ({ actorType: 'admin', actorId: 'cq-tail-admin' })],
      ['actor id', () => ({ actorId: 'cq-tail-admin' })],
      ['outcome', () => ({ outcome: 'FAILURE' })],
      ['time', () => ({ from: tailAt, to: new Date(tailAt.getTime() + 1) })],
      ['partner and time', () => ({ partnerCode: partner, from: new Date(seeded[0].at) })],
      ['user and time', () => ({ subjectUserHash: userHash, to: tailAt })],
    ];

    beforeAll(async () => {
      await ensureVolume();
      [{ tailAt }] = await db.query(`SELECT MAX(occurred_at) AS tailAt FROM audit_events WHERE action LIKE 'cq!_tail.%' ESCAPE '!'`);
      await db.query('ANALYZE TABLE audit_events');
    }, 120_000);

    it.each(shapes)('%s', async (_name, filtersOf) => {
      const filters = filtersOf();
      const [{ n }]: { n: string }[] = await db.query('SELECT COUNT(*) AS n FROM audit_events');
      expect(Number(n)).toBeGreaterThan(BULK + TAIL);
      for (const afterSeq of [undefined, 1]) {
        const statement = (await repository.searchStatement(filters, { afterSeq, limit: 101 }))!;
        const plan: { key: string | null; type: string; r_rows: string | null }[] = await db.query(
          `ANALYZE ${statement.sql}`,
          statement.params,
        );
        expect(plan).toHaveLength(1);
        expect(plan[0].key).not.toBeNull();
        expect(plan[0].type).not.toBe('ALL');
        expect(plan[0].type).not.toBe('index');
        expect(Number(plan[0].r_rows ?? 0)).toBeLessThanOrEqual(TAIL + 10);
      }
      if (filters.from || filters.to) {
        // The window's seq span comes from the (occurred_at, seq) index alone.
        const bounds = repository.timeWindowSql(filters);
        const [plan]: { key: string; Extra: string }[] = await db.query(`EXPLAIN ${bounds.sql}`, bounds.params);
        expect(plan).toMatchObject({ key: 'idx_audit_time', Extra: expect.stringContaining('Using index') });
      }
    });
  });

  describe('verify', () => {
    let k: number;

    beforeAll(async () => {
      await chainAll();
      await api.get(AuditCheckpointer).checkpoint();
      k = (await repository.head()).seq - 3;
    });

    it('recomputes a clean chain and checks its checkpoints; the API and the CLI agree', async () => {
      const head = await repository.head();
      const [{ n }]: { n: string }[] = await db.query('SELECT COUNT(*) AS n FROM audit_checkpoints WHERE seq <= ?', [head.seq]);
      const res = await get('/v1/compliance/audit/verify');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        ok: true,
        checkedFrom: 1,
        checkedThrough: head.seq,
        checkpointsVerified: Number(n),
        unchained: expect.objectContaining({ count: expect.any(Number) }),
      });
      expect(Number(n)).toBeGreaterThan(0);
      expect(await cliVerify()).toEqual(integrity(res.json()));

      const range = await get(`/v1/compliance/audit/verify?from=2&to=${head.seq - 1}`);
      // The periodic checkpoint job may have signed one inside the range meanwhile; the CLI must count the same.
      expect(integrity(range.json())).toEqual(
        integrity({ ok: true, checkedFrom: 2, checkedThrough: head.seq - 1, checkpointsVerified: expect.any(Number) }),
      );
      expect(await cliVerify('--from', '2', '--to', String(head.seq - 1))).toEqual(integrity(range.json()));
    });

    it.each([
      ['from=0', 'from'],
      ['from=x', 'from'],
      ['to=-1', 'to'],
      ['from=5&to=3', 'to'],
      ['partner=X', 'partner'],
    ])('refuses %s with 400 naming %s', async (query, field) => {
      const res = await get(`/v1/compliance/audit/verify?${query}`);
      expect(res.statusCode).toBe(400);
      expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    });

    it('names the seq of a row altered in SQL', async () => {
      const [original] = await db.query('SELECT outcome FROM audit_events WHERE seq = ?', [k]);
      await withoutAuditTriggers(db, () => db.query(`UPDATE audit_events SET outcome = 'DENIED' WHERE seq = ?`, [k]));
      try {
        const res = (await get('/v1/compliance/audit/verify')).json();
        expect(res).toMatchObject({ ok: false, checkedFrom: 1, checkedThrough: k - 1, firstBrokenSeq: k, reason: 'entry altered' });
        expect(await cliVerify()).toEqual(integrity(res));
      } finally {
        await withoutAuditTriggers(db, () => db.query('UPDATE audit_events SET outcome = ? WHERE seq = ?', [original.outcome, k]));
      }
      expect((await get('/v1/compliance/audit/verify')).json()).toMatchObject({ ok: true });
    });

    it('names the seq of a row removed in SQL', async () => {
      const [original] = await db.query('SELECT * FROM audit_events WHERE seq = ?', [k]);
      await withoutAuditTriggers(db, () => db.query('DELETE FROM audit_events WHERE seq = ?', [k]));
      try {
        const res = (await get('/v1/compliance/audit/verify')).json();
        expect(res).toMatchObject({ ok: false, firstBrokenSeq: k, reason: 'entry missing' });
        expect(await cliVerify()).toEqual(integrity(res));
      } finally {
        const columns = Object.keys(original);
        await db.query(
          `INSERT INTO audit_events (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
          Object.values(original),
        );
      }
      expect((await get('/v1/compliance/audit/verify')).json()).toMatchObject({ ok: true });
    });

    it('names the seq of a row inserted in SQL', async () => {
      const [prev] = await repository.eventsBetween(db, k - 1, k - 1, 1);
      const forgedEntry = { ...prev, seq: k, prevHash: prev.hash, actorId: 'mallory', details: null };
      const forged = { ...forgedEntry, hash: hashEntry(forgedEntry) };
      await withoutAuditTriggers(db, async () => {
        await db.query('UPDATE audit_events SET seq = seq + 1 WHERE seq >= ? ORDER BY seq DESC', [k]);
        await db.query(
          `INSERT INTO audit_events (seq, occurred_at, actor_type, actor_id, action, resource_type, resource_id, subject_user_hash,
             partner_code, request_id, client_ip, outcome, http_status, details, prev_hash, hash)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            forged.seq,
            forged.occurredAt,
            forged.actorType,
            forged.actorId,
            forged.action,
            forged.resourceType,
            forged.resourceId,
            forged.subjectUserHash,
            forged.partnerCode,
            forged.requestId,
            forged.clientIp,
            forged.outcome,
            forged.httpStatus,
            forged.details,
            forged.prevHash,
            forged.hash,
          ],
        );
      });
      try {
        const res = (await get('/v1/compliance/audit/verify')).json();
        expect(res).toMatchObject({ ok: false, firstBrokenSeq: k, reason: 'entry inserted' });
        expect(await cliVerify()).toEqual(integrity(res));
      } finally {
        await withoutAuditTriggers(db, async () => {
          await db.query('DELETE FROM audit_events WHERE seq = ?', [k]);
          await db.query('UPDATE audit_events SET seq = seq - 1 WHERE seq > ? ORDER BY seq ASC', [k]);
        });
      }
      expect((await get('/v1/compliance/audit/verify')).json()).toMatchObject({ ok: true });
    });
  });

  describe('reading is audited', () => {
    const readsBy = async (actorId: string) => {
      await chainAll();
      const rows: Record<string, unknown>[] = await db.query(
        `SELECT actor_type, actor_id, action, subject_user_hash, outcome, http_status, request_id, details
           FROM audit_events WHERE action = 'compliance.read' AND actor_id = ? ORDER BY seq`,
        [actorId],
      );
      return rows.map((r) => ({ ...r, details: JSON.parse(r.details as string) }));
    };

    it('records every compliance call with the officer, the filters (a user only as its hash), outcome and status', async () => {
      const reader = `officer-${randomUUID().slice(0, 8)}`;
      const as = { authorization: `Bearer ${platformToken(['compliance'], reader)}` };
      expect((await get(`/v1/compliance/audit-events?userId=${userId}&partner=${partner}&limit=5`, as)).statusCode).toBe(200);
      expect((await get(`/v1/compliance/audit-events/export?format=csv&action=cq_spec.*`, as)).statusCode).toBe(200);
      expect((await get('/v1/compliance/audit/verify?from=1&to=3', as)).statusCode).toBe(200);
      expect((await get(`/v1/compliance/users/${userId}/disclosures`, as)).statusCode).toBe(200);
      expect((await get('/v1/compliance/audit-events?outcome=MAYBE', as)).statusCode).toBe(400);

      const rows = await readsBy(reader);
      expect(rows).toEqual([
        {
          actor_type: 'compliance',
          actor_id: reader,
          action: 'compliance.read',
          subject_user_hash: userHash,
          outcome: 'SUCCESS',
          http_status: 200,
          request_id: expect.any(String),
          details: { route: '/v1/compliance/audit-events', filters: { userHash, partner, limit: '5' }, returned: 2 },
        },
        expect.objectContaining({
          subject_user_hash: null,
          outcome: 'SUCCESS',
          http_status: 200,
          details: { route: '/v1/compliance/audit-events/export', filters: { format: 'csv', action: 'cq_spec.*' } },
        }),
        expect.objectContaining({
          outcome: 'SUCCESS',
          http_status: 200,
          details: { route: '/v1/compliance/audit/verify', filters: { from: '1', to: '3' }, ok: true },
        }),
        expect.objectContaining({
          subject_user_hash: userHash,
          outcome: 'SUCCESS',
          http_status: 200,
          details: { route: '/v1/compliance/users/:userId/disclosures', filters: { userHash }, returned: 0 },
        }),
        expect.objectContaining({
          outcome: 'FAILURE',
          http_status: 400,
          details: { route: '/v1/compliance/audit-events', filters: { outcome: 'MAYBE' }, invalid: ['outcome'] },
        }),
      ]);
      // No PII: the user id itself is nowhere in the trail.
      const [{ n }]: { n: string }[] = await db.query(
        `SELECT COUNT(*) AS n FROM audit_events WHERE CONCAT_WS('|', actor_id, resource_id, details, request_id) LIKE ?`,
        [`%${userId}%`],
      );
      expect(Number(n)).toBe(0);
    });

    it('does not record what a refused caller asked', async () => {
      const stranger = `user-${randomUUID().slice(0, 8)}`;
      expect((await get('/v1/compliance/audit-events', { authorization: `Bearer ${platformToken(['user'], stranger)}` })).statusCode).toBe(
        403,
      );
      expect(await readsBy(stranger)).toEqual([]);
    });
  });
});
