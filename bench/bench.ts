import 'reflect-metadata';

import { loadavg } from 'node:os';
import { join } from 'node:path';

import * as mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';

import { dataSourceOptions } from '../src/infra/database/data-source-options';
import { mintDevelopmentPlatformToken } from '../src/modules/auth/platform-token.dev';
import { parseCriteria } from '../src/modules/prescreening/criteria';
import { auditAppendsWithChain } from './paths/audit';
import { AUDIT_EXPORT_EVENTS, auditExportMemory } from './paths/audit-export';
import { bulkDecisionsOverHttp } from './paths/decisions';
import { ingestBodies, ingestOverHttp } from './paths/ingest';
import { naiveIngestRowsPerSecond, naivePrescreenRowsPerSecond } from './paths/naive';
import { OVERDUE_FILE_RECORDS, overdueFileBuild } from './paths/overdue-files';
import { expectedCounts, OVERDUE_MIX, overdueScanRun, rawOverdueScan, seedOverdueCardholders } from './paths/overdue-scan';
import { BENCH_CRITERIA, createBenchCardProduct, prescreenRun } from './paths/prescreen';
import { applyOverHttp, packageReferrals, partnerFetchLoad, readToken } from './paths/referrals';
import { BenchBank, tokenEndpointLoad } from './paths/token';
import { es256SignaturesPerSecond } from './raw/raw-crypto';
import { fullScanRowsPerSecond, rawInsertRowsPerSecond } from './raw/raw-mysql';
import { runAutocannon } from './support/autocannon';
import { DOC_TEMPLATE } from './support/doc-template';
import { BenchEnvironment, benchPool, createBenchEnvironment, dropBenchEnvironment, REDIS_SERVER_URL } from './support/env';
import { describeMachine, MachineDescription } from './support/machine';
import { API_PROCESSES, forkBenchScript, nextMessage, startGatewayProcess, stopChild } from './support/processes';
import { BenchReport, Figure, markdownSection, printTable, TargetCheck, writeJson, writeMarkdown } from './support/report';

/**
 * npm run bench [-- --quick] [-- --only overdue|overdue-files|audit-export]: the gateway's bulk paths measured against this machine's raw limits,
 * in one run, on a throwaway database and Redis prefix. See docs/BENCHMARKS.md.
 */
const QUICK = process.argv.includes('--quick');
/** --only <section>: that section alone, to iterate on it (its figures printed and kept in JSON, the doc left alone). */
const ONLY_SECTIONS = ['overdue', 'overdue-files', 'audit-export'] as const;
const onlyArg = process.argv.indexOf('--only');
const ONLY = onlyArg >= 0 ? process.argv[onlyArg + 1] : undefined;
if (ONLY !== undefined && !(ONLY_SECTIONS as readonly string[]).includes(ONLY)) {
  throw new Error(`--only takes one of: ${ONLY_SECTIONS.join(', ')}`);
}
const scale = (n: number) => (QUICK ? Math.round(n / 10) : n);
const SIZES = {
  ingestUsers: scale(1_000_000),
  ingestLinesPerRequest: 5_000,
  ingestConnections: 4,
  rawInsertRows: scale(1_000_000),
  naiveUsers: scale(20_000),
  naiveLanes: 4,
  auditEntriesPerProcess: scale(50_000),
  auditConcurrencyPerProcess: 32,
  httpSeconds: QUICK ? 3 : 10,
  httpConnections: 50,
  tokenConnections: 20,
  cryptoMs: QUICK ? 1000 : 3000,
  decisions: scale(100_000),
  decisionLinesPerRequest: 5_000,
  decisionConnections: 2,
  referrals: scale(100_000),
  applyConnections: 8,
  packagingWorkers: 2,
  fetchRate: 1000,
  /** Processes of the api role (API_PROCESSES=auto: one per core), see startGatewayProcess. */
  apiProcesses: API_PROCESSES,
  overdueCardholders: scale(1_000_000),
  auditExportEvents: scale(AUDIT_EXPORT_EVENTS),
};
const REPO_ROOT = join(__dirname, '..', '..');
const TARGETS = {
  ingestVsRaw: 0.5,
  prescreenVsRaw: 0.5,
  vsNaive: 20,
  auditPerSec: 5000,
  packagingVsSignatures: 0.25,
  fetchVsBare: 0.3,
  fetchP99Ms: 20,
  overdueVsRaw: 0.5,
  overdueSeconds: 30,
  /** RSS growth of the api process over an export of 1,000,000 audit events (issue 15, item 2). */
  auditExportRssGrowthMiB: 64,
};

const figures: Figure[] = [];
const record = (f: Figure) => {
  figures.push(f);
  console.log(
    `  ${f.label}: ${f.value === null ? 'n/a' : f.value.toFixed(f.unit === 'ms' || f.unit === '×' ? 2 : 0)} ${f.unit}${f.note ? ` (${f.note})` : ''}`,
  );
};
const valueOf = (key: string) => figures.find((f) => f.key === key)?.value ?? null;
const step = (text: string) => console.log(`\n== ${text}`);

async function main() {
  const startedAt = new Date();
  step(`setting up (${QUICK ? 'quick' : 'full'} run)`);
  const bench = await createBenchEnvironment();
  const pool = benchPool(bench, SIZES.ingestConnections);
  const dataSource = new DataSource(dataSourceOptions(bench.config, { poolSize: SIZES.naiveLanes + 2 }));
  let api: Awaited<ReturnType<typeof startGatewayProcess>> | undefined;
  try {
    await dataSource.initialize();
    const machine = await describeMachine(pool, REDIS_SERVER_URL);
    console.log(`  database ${bench.database}, Redis prefix ${bench.env.REDIS_PREFIX}; ${machine.cpuModel} x${machine.cores}`);
    if (ONLY === 'overdue') {
      await overdueScanSection(bench, pool);
      finish(startedAt, machine);
      return;
    }
    if (ONLY === 'overdue-files') {
      await overdueFilesSection(bench, dataSource);
      finish(startedAt, machine);
      return;
    }
    if (ONLY === 'audit-export') {
      await auditExportSection(bench, pool);
      finish(startedAt, machine);
      return;
    }

    step('raw: node:crypto ES256 signatures');
    const signatures = await es256SignaturesPerSecond(SIZES.cryptoMs, machine.cores);
    record({ key: 'raw.es256.oneCore', group: 'raw', label: 'ES256 signatures, one core', value: signatures.oneCore, unit: 'sig/s' });
    record({
      key: 'raw.es256.allCores',
      group: 'raw',
      label: `ES256 signatures, ${machine.cores} worker threads`,
      value: signatures.allCores,
      unit: 'sig/s',
    });

    step('raw: bare Fastify JSON route under autocannon (server in a child process)');
    const bare = forkBenchScript('raw/bare-fastify-server.js');
    try {
      const { port } = await nextMessage<{ port: number }>(bare, (m) => m?.ready);
      const load = await runAutocannon({
        url: `http://127.0.0.1:${port}/ping`,
        connections: SIZES.httpConnections,
        duration: SIZES.httpSeconds,
      });
      record({
        key: 'raw.fastify.rps',
        group: 'raw',
        label: 'bare Fastify GET /ping',
        value: load.reqPerSec,
        unit: 'req/s',
        note: `p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms, ${SIZES.httpConnections} connections`,
      });
    } finally {
      await stopChild(bare);
    }

    step(`raw: mysql2 multi-row INSERT of ${SIZES.rawInsertRows.toLocaleString()} credit-record rows`);
    const rawInsert = await rawInsertRowsPerSecond(pool, SIZES.rawInsertRows, SIZES.ingestConnections);
    record({
      key: 'raw.mysql.insert',
      group: 'raw',
      label: 'mysql2 multi-row INSERT (1,000 rows/statement)',
      value: rawInsert,
      unit: 'rows/s',
      note: `${SIZES.ingestConnections} connections, scratch table LIKE credit_records`,
    });

    step('gateway: starting the api role in a child process');
    api = await startGatewayProcess(bench, 'api');
    const adminToken = mintDevelopmentPlatformToken(bench.config, { sub: 'bench-admin', roles: ['admin'] });
    const platformToken = mintDevelopmentPlatformToken(bench.config, {
      sub: 'bench-platform',
      roles: ['platform'],
      expiresInSeconds: 7200,
    });
    const bank = new BenchBank('BENCH_BANK');
    await bank.register(api.baseUrl, adminToken);

    step(`gateway: ingest of ${SIZES.ingestUsers.toLocaleString()} credit records over HTTP`);
    const bodies = ingestBodies(SIZES.ingestUsers, SIZES.ingestLinesPerRequest);
    const ingest = await ingestOverHttp(api.baseUrl, platformToken, bodies, SIZES.ingestConnections);
    record({
      key: 'gateway.ingest',
      group: 'gateway',
      label: 'ingest POST /v1/platform/credit-records',
      value: ingest.rowsPerSec,
      unit: 'rows/s',
      note: `${ingest.accepted.toLocaleString()} records in ${ingest.seconds.toFixed(1)} s, NDJSON ${SIZES.ingestLinesPerRequest} lines/request, ${SIZES.ingestConnections} connections`,
    });
    const naiveBodies = ingestBodies(SIZES.naiveUsers, SIZES.ingestLinesPerRequest, 0, 'n_');
    bodies.length = 0;

    step('raw: full scan of credit_records');
    const scan = await fullScanRowsPerSecond(bench.env.DATABASE_URL);
    record({
      key: 'raw.mysql.scan',
      group: 'raw',
      label: 'full scan SELECT * FROM credit_records (streamed)',
      value: scan.rowsPerSec,
      unit: 'rows/s',
      note: `${scan.rows.toLocaleString()} rows, every column decoded by mysql2`,
    });

    step('gateway: partner token endpoint under autocannon');
    const token = await tokenEndpointLoad(api.baseUrl, bench.env.PUBLIC_BASE_URL, bank, {
      seconds: SIZES.httpSeconds,
      connections: SIZES.tokenConnections,
      prepared: QUICK ? 5_000 : 20_000,
    });
    if (token.non2xx || token.errors) throw new Error(`token endpoint: ${token.non2xx} non-2xx answers, ${token.errors} errors`);
    record({
      key: 'gateway.token.rps',
      group: 'gateway',
      label: 'POST /oauth/token (ES256 private_key_jwt)',
      value: token.reqPerSec,
      unit: 'req/s',
      note: `${SIZES.tokenConnections} connections, fresh jti each`,
    });
    record({ key: 'gateway.token.p50', group: 'gateway', label: 'POST /oauth/token p50', value: token.p50Ms, unit: 'ms' });
    record({ key: 'gateway.token.p99', group: 'gateway', label: 'POST /oauth/token p99', value: token.p99Ms, unit: 'ms' });

    step(`naive: ingest of ${SIZES.naiveUsers.toLocaleString()} records, one TypeORM INSERT per row`);
    const naiveIngest = await naiveIngestRowsPerSecond(dataSource, bench.config, naiveBodies, SIZES.naiveLanes);
    record({
      key: 'naive.ingest',
      group: 'naive',
      label: 'ingest, one SELECT + INSERT per row',
      value: naiveIngest,
      unit: 'rows/s',
      note: `${SIZES.naiveLanes} lanes`,
    });

    step(`naive: pre-screen of ${SIZES.naiveUsers.toLocaleString()} users, evaluateRecord per user`);
    const [partner] = (await dataSource.query('SELECT id FROM partners WHERE code = ?', [bank.code])) as { id: string }[];
    const naivePrescreen = await naivePrescreenRowsPerSecond(
      dataSource,
      parseCriteria(BENCH_CRITERIA),
      { partnerId: String(partner.id), delinquencyScope: 'ANY_PARTNER' },
      Math.min(SIZES.naiveUsers, SIZES.ingestUsers),
      SIZES.naiveLanes,
    );
    record({
      key: 'naive.prescreen',
      group: 'naive',
      label: 'pre-screen, read + facts + evaluate + offer per user',
      value: naivePrescreen.rowsPerSec,
      unit: 'rows/s',
      note: `${naivePrescreen.eligible} eligible, ${SIZES.naiveLanes} lanes`,
    });

    step(`gateway: pre-screen run of ${SIZES.ingestUsers.toLocaleString()} users`);
    const productCode = await createBenchCardProduct(api.baseUrl, adminToken, bank.code);
    const prescreen = await prescreenRun(bench, api.baseUrl, adminToken, productCode);
    record(
      prescreen
        ? {
            key: 'gateway.prescreen',
            group: 'gateway',
            label: 'pre-screen run, to its last offer',
            value: prescreen.rowsPerSec,
            unit: 'rows/s',
            note: `${prescreen.evaluated.toLocaleString()} users in ${prescreen.seconds.toFixed(1)} s, ${prescreen.offersCreated.toLocaleString()} offers`,
          }
        : {
            key: 'gateway.prescreen',
            group: 'gateway',
            label: 'pre-screen run, to its last offer',
            value: null,
            unit: 'rows/s',
            note: 'pre-screen runs not in this build (POST …/prescreen-runs answered 404)',
          },
    );

    step(`gateway: ${SIZES.referrals.toLocaleString()} applications over HTTP (POST /v1/me/applications, no worker running)`);
    const applied = await applyOverHttp(dataSource, bench, api.baseUrl, productCode, {
      count: SIZES.referrals,
      connections: SIZES.applyConnections,
    });
    record({
      key: 'gateway.apply',
      group: 'gateway',
      label: 'apply POST /v1/me/applications',
      value: applied.applicationsPerSec,
      unit: 'applications/s',
      note: `${applied.referralIds.length.toLocaleString()} applicants in ${applied.seconds.toFixed(1)} s, own platform JWT and Idempotency-Key each, ${SIZES.applyConnections} connections${applied.retried ? `; ${applied.retried} sent again on a stale keep-alive socket` : ''}`,
    });

    step(
      `gateway: packaging of ${SIZES.referrals.toLocaleString()} referrals (outbox -> BullMQ -> ${SIZES.packagingWorkers} worker processes -> signed file -> referral.ready)`,
    );
    const packaging = await packageReferrals(dataSource, bench, applied.referralIds, {
      workers: SIZES.packagingWorkers,
      timeoutMs: QUICK ? 600_000 : 3_600_000,
    });
    record({
      key: 'gateway.packaging',
      group: 'gateway',
      label: 'referral packaging, first outbox row relayed to last READY',
      value: packaging.referralsPerSec,
      unit: 'referrals/s',
      note: `${packaging.referrals.toLocaleString()} referrals in ${packaging.seconds.toFixed(1)} s, ${SIZES.packagingWorkers} worker processes; each signs the file and the referral.ready SET (2 ES256 signatures)${packaging.otherPending ? `; ${packaging.otherPending.toLocaleString()} other outbox rows were waiting too` : ''}`,
    });

    step('gateway: partner GET /partner/v1/referrals/{id} under autocannon');
    const fetchToken = await readToken(api.baseUrl, bench.env.PUBLIC_BASE_URL, bank);
    const fetchMax = await partnerFetchLoad(api.baseUrl, fetchToken, applied.referralIds, {
      seconds: SIZES.httpSeconds,
      connections: SIZES.httpConnections,
    });
    if (fetchMax.non2xx || fetchMax.errors) throw new Error(`partner fetch: ${fetchMax.non2xx} non-2xx answers, ${fetchMax.errors} errors`);
    record({
      key: 'gateway.fetch.rps',
      group: 'gateway',
      label: 'GET /partner/v1/referrals/{id}, as fast as it answers',
      value: fetchMax.reqPerSec,
      unit: 'req/s',
      note: `p50 ${fetchMax.p50Ms} ms, p99 ${fetchMax.p99Ms} ms, ${SIZES.httpConnections} connections; access token, row lock, READY->DELIVERED on first fetch, disclosure row + audit entry per fetch`,
    });
    const fetchFixed = await partnerFetchLoad(api.baseUrl, fetchToken, applied.referralIds, {
      seconds: SIZES.httpSeconds,
      connections: SIZES.httpConnections,
      overallRate: SIZES.fetchRate,
    });
    if (fetchFixed.non2xx || fetchFixed.errors)
      throw new Error(`partner fetch at ${SIZES.fetchRate} req/s: ${fetchFixed.non2xx} non-2xx answers, ${fetchFixed.errors} errors`);
    const fixedNote = `offered ${SIZES.fetchRate.toLocaleString()} req/s, served ${fetchFixed.reqPerSec.toFixed(0)} req/s, ${SIZES.httpConnections} connections`;
    record({
      key: 'gateway.fetch.fixed.p50',
      group: 'gateway',
      label: 'GET /partner/v1/referrals/{id} p50 at a fixed rate',
      value: fetchFixed.p50Ms,
      unit: 'ms',
      note: fixedNote,
    });
    record({
      key: 'gateway.fetch.fixed.p99',
      group: 'gateway',
      label: 'GET /partner/v1/referrals/{id} p99 at a fixed rate',
      value: fetchFixed.p99Ms,
      unit: 'ms',
      note: fixedNote,
    });

    step(`gateway: bulk decisions, ${SIZES.decisions.toLocaleString()} NDJSON lines`);
    const decisions = await bulkDecisionsOverHttp(
      dataSource,
      { baseUrl: api.baseUrl, publicBaseUrl: bench.env.PUBLIC_BASE_URL },
      bank,
      productCode,
      {
        count: SIZES.decisions,
        linesPerBody: SIZES.decisionLinesPerRequest,
        connections: SIZES.decisionConnections,
      },
    );
    record({
      key: 'gateway.decisions.bulk',
      group: 'gateway',
      label: 'bulk decisions POST /partner/v1/decisions',
      value: decisions.decisionsPerSec,
      unit: 'decisions/s',
      note: `${decisions.decisions.toLocaleString()} decisions in ${decisions.seconds.toFixed(1)} s, NDJSON ${SIZES.decisionLinesPerRequest} lines/request, ${SIZES.decisionConnections} connections`,
    });
    const decisionsVsInsert = valueOf('raw.mysql.insert');
    record({
      key: 'gateway.decisions.vsRawInsert',
      group: 'gateway',
      label: 'bulk decisions / raw multi-row INSERT rows/s',
      value: decisionsVsInsert ? decisions.decisionsPerSec / decisionsVsInsert : null,
      unit: '×',
      note: 'each decision is a locked conditional UPDATE + timeline + audit + outbox rows; raw is plain INSERTs',
    });

    await stopChild(api.child);
    api = undefined;

    await overdueFilesSection(bench, dataSource);

    step(`gateway: audit appends with the chain, two processes × ${SIZES.auditEntriesPerProcess.toLocaleString()}`);
    const audit = await auditAppendsWithChain(bench, pool, SIZES.auditEntriesPerProcess, SIZES.auditConcurrencyPerProcess);
    record({
      key: 'gateway.audit.chained',
      group: 'gateway',
      label: 'audit appends, all chained',
      value: audit.chainedPerSec,
      unit: 'entries/s',
      note: `${audit.entries.toLocaleString()} entries, 2 processes × ${SIZES.auditConcurrencyPerProcess} concurrent appends; started once the earlier sections' jobs were done (${audit.settledSeconds.toFixed(1)} s)`,
    });
    record({
      key: 'gateway.audit.appended',
      group: 'gateway',
      label: 'audit appends committed (before chaining)',
      value: audit.appendedPerSec,
      unit: 'entries/s',
    });

    await overdueScanSection(bench, pool);
    await auditExportSection(bench, pool);

    finish(startedAt, machine);
  } finally {
    if (api) await stopChild(api.child);
    await dataSource.destroy().catch(() => undefined);
    await pool.end();
    await dropBenchEnvironment(bench);
  }
}

/** The report of the run: targets, the table, the JSON file and (whole runs only) the generated part of docs/BENCHMARKS.md. */
function finish(startedAt: Date, machine: MachineDescription): void {
  const ratio = (a: string, b: string) => {
    const x = valueOf(a);
    const y = valueOf(b);
    return x === null || y === null ? null : x / y;
  };
  const check = (label: string, measured: number | null, target: number, kind: TargetCheck['kind']): TargetCheck => ({
    label,
    measured,
    target,
    kind,
    pass:
      measured === null
        ? null
        : kind === 'maxMiB'
          ? measured < target
          : kind === 'maxMs' || kind === 'maxSeconds'
            ? measured <= target
            : measured >= target,
  });
  const targets = [
    check('ingest / raw INSERT', ratio('gateway.ingest', 'raw.mysql.insert'), TARGETS.ingestVsRaw, 'ratio'),
    check('ingest / naive ingest', ratio('gateway.ingest', 'naive.ingest'), TARGETS.vsNaive, 'ratio'),
    check('pre-screen / raw full scan', ratio('gateway.prescreen', 'raw.mysql.scan'), TARGETS.prescreenVsRaw, 'ratio'),
    check('pre-screen / naive pre-screen', ratio('gateway.prescreen', 'naive.prescreen'), TARGETS.vsNaive, 'ratio'),
    check('audit chained appends', valueOf('gateway.audit.chained'), TARGETS.auditPerSec, 'rate'),
    check(
      'packaging / raw ES256 signatures, all cores',
      ratio('gateway.packaging', 'raw.es256.allCores'),
      TARGETS.packagingVsSignatures,
      'ratio',
    ),
    check('partner fetch / bare Fastify', ratio('gateway.fetch.rps', 'raw.fastify.rps'), TARGETS.fetchVsBare, 'ratio'),
    check(
      `partner fetch p99 at ${SIZES.fetchRate.toLocaleString()} req/s`,
      valueOf('gateway.fetch.fixed.p99'),
      TARGETS.fetchP99Ms,
      'maxMs',
    ),
    check('overdue scan / raw scan', ratio('gateway.overdue.scan', 'raw.mysql.overdueScan'), TARGETS.overdueVsRaw, 'ratio'),
    // At full size only: a tenth of the cardholders says nothing about 30 s for 1,000,000.
    ...(QUICK ? [] : [check('overdue scan, whole scan', valueOf('gateway.overdue.seconds'), TARGETS.overdueSeconds, 'maxSeconds')]),
    // At full size only, like the overdue scan: memory bounded at 100,000 rows says little about 1,000,000.
    ...(QUICK
      ? []
      : [check('audit export, api RSS growth', valueOf('gateway.auditExport.rssGrowth'), TARGETS.auditExportRssGrowthMiB, 'maxMiB')]),
  ].filter((t) => !ONLY || t.measured !== null);
  const finishedAt = new Date();
  const report: BenchReport = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    quick: QUICK,
    sizes:
      ONLY === 'overdue'
        ? { overdueCardholders: SIZES.overdueCardholders, apiProcesses: SIZES.apiProcesses }
        : ONLY === 'audit-export'
          ? { auditExportEvents: SIZES.auditExportEvents }
          : SIZES,
    machine,
    sharedMachineNote:
      'The machine may have been shared with other work during the run (other engineers running test suites on the same MariaDB and Redis); compare ratios, not absolute figures.',
    figures,
    targets,
    totalSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
  };
  printTable(report);
  const jsonFile = writeJson(report, join(REPO_ROOT, 'bench', 'results'));
  if (ONLY) {
    console.log(`\nwrote ${jsonFile} (--only ${ONLY}: docs/BENCHMARKS.md left as it is)`);
    return;
  }
  writeMarkdown(
    join(REPO_ROOT, 'docs', 'BENCHMARKS.md'),
    markdownSection(report, `bench/results/${jsonFile.split('/').pop()}`),
    DOC_TEMPLATE,
  );
  console.log(`\nwrote ${jsonFile} and docs/BENCHMARKS.md`);
}

/** The daily overdue report file's first fetch (build, sign, store): its own api process and bank, so it runs alone too. */
async function overdueFilesSection(bench: BenchEnvironment, dataSource: DataSource): Promise<void> {
  const records = scale(OVERDUE_FILE_RECORDS);
  step(`gateway: daily overdue report file of ${records.toLocaleString()} records (first fetch builds, signs, stores)`);
  const api = await startGatewayProcess(bench, 'api');
  try {
    const adminToken = mintDevelopmentPlatformToken(bench.config, { sub: 'bench-admin', roles: ['admin'] });
    const bank = new BenchBank('BENCH_FILES');
    await bank.register(api.baseUrl, adminToken);
    const file = await overdueFileBuild(dataSource, api.baseUrl, bench.env.PUBLIC_BASE_URL, bank, records);
    record({
      key: 'gateway.overdueFile.build',
      group: 'gateway',
      label: 'daily overdue report file, first GET (build + sign + store)',
      value: file.recordsPerSec,
      unit: 'records/s',
      note: `${file.records.toLocaleString()} records in ${file.parts} parts, ${file.megabytes.toFixed(1)} MB answered in ${file.seconds.toFixed(2)} s; the stored files again in ${file.againSeconds.toFixed(2)} s`,
    });
  } finally {
    await stopChild(api.child);
  }
}

/**
 * The overdue scan over SIZES.overdueCardholders seeded cardholders with a mix of states (bench/paths/overdue-scan.ts),
 * against the raw scan of the same tables in the same run. Its own api process, bank and product, so it runs alone
 * (--only overdue) as well as after the other sections.
 */
async function overdueScanSection(bench: BenchEnvironment, pool: mysql.Pool): Promise<void> {
  step(`gateway: overdue scan of ${SIZES.overdueCardholders.toLocaleString()} cardholders (outbox -> BullMQ -> worker process)`);
  const api = await startGatewayProcess(bench, 'api');
  try {
    const adminToken = mintDevelopmentPlatformToken(bench.config, { sub: 'bench-admin', roles: ['admin'] });
    const bank = new BenchBank('BENCH_OVERDUE');
    await bank.register(api.baseUrl, adminToken);
    const productCode = await createBenchCardProduct(api.baseUrl, adminToken, bank.code);
    const seed = await seedOverdueCardholders(pool, { partnerCode: bank.code, productCode, count: SIZES.overdueCardholders });
    console.log(`  seeded in ${seed.seedSeconds.toFixed(1)} s: ${OVERDUE_MIX.map((s) => `${s.name} ${s.bp / 100} %`).join(', ')}`);
    const load = () =>
      loadavg()
        .map((l) => l.toFixed(2))
        .join(' / ');
    const loadBefore = load();
    const raw = await rawOverdueScan(pool, seed.asOf);
    record({
      key: 'raw.mysql.overdueScan',
      group: 'raw',
      label: 'cardholders LEFT JOIN credit_records, overdue_accounts: one aggregate SELECT',
      value: raw.rowsPerSec,
      unit: 'cardholders/s',
      note: `${raw.rows.toLocaleString()} cardholders, best of ${raw.seconds.map((x) => `${x.toFixed(2)} s`).join(' and ')}, one connection`,
    });
    // BENCH_OVERDUE_CHUNK_SIZE: the operator's chunkSize knob of the POST, to compare chunk sizes (default: the gateway's).
    const chunkSize = process.env.BENCH_OVERDUE_CHUNK_SIZE ? Number(process.env.BENCH_OVERDUE_CHUNK_SIZE) : undefined;
    const scan = await overdueScanRun(bench, pool, api.baseUrl, adminToken, seed.asOf, expectedCounts(SIZES.overdueCardholders), chunkSize);
    if (!scan) {
      record({
        key: 'gateway.overdue.scan',
        group: 'gateway',
        label: 'overdue scan, POST to COMPLETED',
        value: null,
        unit: 'cardholders/s',
        note: 'overdue scans not in this build (POST /v1/admin/overdue-scans answered 404)',
      });
      return;
    }
    const c = scan.counts;
    record({
      key: 'gateway.overdue.scan',
      group: 'gateway',
      label: 'overdue scan, POST to COMPLETED',
      value: scan.cardholdersPerSec,
      unit: 'cardholders/s',
      note:
        `${scan.cardholders.toLocaleString()} cardholders in ${scan.seconds.toFixed(1)} s, ${scan.chunks} chunks, 1 worker process; ` +
        `${c.noticesSent} notices, ${c.noticesCancelled} cancelled, ${c.reported} NEW, ${c.updated} UPDATED, ${c.cured} CURED, ` +
        `${c.suppressed} suppressed; load average ${loadBefore} before the raw scan, ${load()} after the scan`,
    });
    record({ key: 'gateway.overdue.seconds', group: 'gateway', label: 'overdue scan, whole scan', value: scan.seconds, unit: 's' });
  } finally {
    await stopChild(api.child);
  }
}

main().catch((error) => {
  // undici's "fetch failed" hides the reason (refused, reset, closed) in `cause`.
  const cause =
    error instanceof Error && error.cause ? `\ncaused by: ${error.cause instanceof Error ? error.cause.stack : String(error.cause)}` : '';
  console.error('bench failed:', error instanceof Error ? error.stack : error, cause);
  process.exit(1);
});

/**
 * Export memory (issue 15, item 2): SIZES.auditExportEvents audit events seeded set-based, then streamed as NDJSON from
 * one api process while its RSS is read from /proc (bench/paths/audit-export.ts). Runs alone with --only audit-export.
 */
async function auditExportSection(bench: BenchEnvironment, pool: mysql.Pool): Promise<void> {
  step(`gateway: export of ${SIZES.auditExportEvents.toLocaleString()} audit events as NDJSON, the api process's RSS before and after`);
  const e = await auditExportMemory(bench, pool, SIZES.auditExportEvents);
  const note = `${e.rows.toLocaleString()} events, ${e.megabytes.toFixed(0)} MB in ${e.seconds.toFixed(1)} s (seeded in ${e.seedSeconds.toFixed(1)} s); RSS ${e.rssBeforeMiB.toFixed(0)} MiB before, ${e.rssAfterMiB.toFixed(0)} MiB after, ${e.rssPeakMiB.toFixed(0)} MiB at most during; one api process`;
  record({
    key: 'gateway.auditExport.rate',
    group: 'gateway',
    label: 'audit export GET …/audit-events/export (ndjson)',
    value: e.rowsPerSec,
    unit: 'rows/s',
    note,
  });
  record({
    key: 'gateway.auditExport.rssGrowth',
    group: 'gateway',
    label: 'audit export, api RSS after − before',
    value: e.rssAfterMiB - e.rssBeforeMiB,
    unit: 'MiB',
  });
  record({
    key: 'gateway.auditExport.rssPeakGrowth',
    group: 'gateway',
    label: 'audit export, api RSS peak − before',
    value: e.rssPeakMiB - e.rssBeforeMiB,
    unit: 'MiB',
  });
}
