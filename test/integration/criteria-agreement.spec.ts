import { randomBytes } from 'node:crypto';

import fc from 'fast-check';
import { DataSource, QueryRunner } from 'typeorm';

import { dataSourceOptions } from '../../src/infra/database/data-source-options';
import { CREDIT_RECORD_FIELDS, CreditRecordField } from '../../src/modules/credit-records/credit-record-fields';
import {
  compileCriteria,
  CRITERIA_OPS,
  CriteriaOp,
  DELINQUENCY_SCOPES,
  evaluableRecordFromRow,
  evaluateRecord,
  evaluationFromRow,
  EXCLUSION_REASONS,
  ExclusionContext,
  ExclusionFactsRepository,
  parseCriteria,
} from '../../src/modules/prescreening/criteria';
import { PrescreenRunsRepository } from '../../src/modules/prescreening/prescreen-runs.repository';
import { testConfig } from '../support/app';

/**
 * One definition, two evaluators: random credit records (boundary values, NULLs, odd text) and random exclusion
 * rows are written to the run's real credit_records and exclusion tables; random rule sets are evaluated by the
 * SQL compiler inside MariaDB and by the in-process evaluator on the same rows; both must give the same
 * eligibility, the same failed rules and the same reasons (in the same order) for every record. The SQL evaluator
 * is checked in both its forms: the per-row EXISTS probes (compileCriteria's checks and reasons) and the set form a
 * pre-screen chunk uses (PrescreenRunsRepository.evaluateRange: rules on the row, table exclusions marked by set).
 */
const RUNS = 100;
const RECORDS_PER_RUN = 50;
const PARTNERS = ['1', '2', '3'];

// Pools shared by records and rule values, so that equality and the boundaries (>=, <=) are hit often.
const DATES = [
  '2016-02-29',
  '2019-01-31',
  '2019-02-28',
  '2019-03-01',
  '2019-03-31',
  '2020-02-29',
  '2020-12-31',
  '2021-01-01',
  '2024-01-30',
  '2024-02-29',
  '2026-11-20',
];
const DECIMAL_14_2 = ['0.00', '0.01', '-3.50', '3200.50', '14999.99', '15000.00', '15000.01', '42100.00', '999999999999.99'];
const GRADES = ['A', 'a', 'A ', 'AA', 'B', 'C', 'É', 'é', 'E'];
const INT_POOL = [0, 1, 2, 11, 12, 13, 30, 60, 89, 90, 712, 850];

const dateArb = fc.oneof(
  fc.constantFrom(...DATES),
  fc
    .date({ min: new Date('2010-01-01T00:00:00Z'), max: new Date('2027-12-31T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10)),
);
const scaledArb = (maxUnits: number, places: number) =>
  fc.integer({ min: 0, max: maxUnits }).map((n) => (n / 10 ** places).toFixed(places));

/** A value of the column's SQL type as stored (non-null), for records. */
function columnArb(f: CreditRecordField): fc.Arbitrary<unknown> {
  switch (f.column) {
    case 'score':
      return fc.oneof(fc.constantFrom(300, 549, 550, 551, 700, 712, 850), fc.integer({ min: 300, max: 900 }));
    case 'kyc_level':
      return fc.integer({ min: 0, max: 3 });
    case 'risk_grade':
      return fc.constantFrom(...GRADES);
    case 'return_rate_12m':
      return fc.oneof(fc.constantFrom('0.0400', '0.0000', '1.0000', '0.0401'), scaledArb(10_000, 4));
    case 'avg_review_score':
      return fc.oneof(fc.constantFrom('4.80', '5.00', '0.00', '4.79'), scaledArb(500, 2));
    case 'address_stable_12m':
      return fc.constantFrom(0, 1, 2); // 2: TINYINT(1) is not a real boolean; non-zero is true in both evaluators
    case 'current_dpd':
      return fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 90 }));
    default:
      if (f.type === 'decimal') return fc.oneof(fc.constantFrom(...DECIMAL_14_2), scaledArb(5_000_000, 2));
      if (f.type === 'date') return dateArb;
      return fc.oneof(fc.constantFrom(...INT_POOL), fc.integer({ min: 0, max: 200 }));
  }
}

const DATA_FIELDS = CREDIT_RECORD_FIELDS.filter((f) => !f.derived);
const recordArb = fc.record({
  asOf: dateArb,
  values: fc.tuple(...DATA_FIELDS.map((f) => fc.option(columnArb(f), { freq: 6, nil: null }))),
  optOut: fc.constantFrom<null | 0 | 1>(null, null, 0, 1),
  relationships: fc.subarray(
    PARTNERS.flatMap((p) => [`${p}:OPEN_APPLICATION`, `${p}:CARDHOLDER`]),
    { maxLength: 2 },
  ),
  delinquencies: fc.array(fc.tuple(fc.constantFrom(...PARTNERS), fc.constantFrom(0, 1, 30)), { maxLength: 2 }),
});

/** A rule value as an operator would submit it (decimals sometimes as JSON numbers or with more places). */
function ruleValueArb(f: CreditRecordField): fc.Arbitrary<unknown> {
  switch (f.type) {
    case 'decimal':
      return fc.oneof(
        columnArb(f),
        fc.constantFrom('15000', '15000.005', '0.04', '4.8', '-0', '3200.5000000001'),
        fc.constantFrom(0.04, 4.8, 15000, 0, 3200.5),
      );
    case 'date':
      return dateArb;
    case 'boolean':
      return fc.boolean();
    case 'string':
      return fc.constantFrom(...GRADES);
    default:
      return f.derived ? fc.oneof(fc.constantFrom(-1, 0, 1, 11, 12, 13, 24), fc.integer({ min: -30, max: 200 })) : columnArb(f);
  }
}

const ORDERED: CriteriaOp[] = [...CRITERIA_OPS];
const UNORDERED: CriteriaOp[] = ['=', '!=', 'in', 'not_in'];

const ruleArb = fc.constantFrom(...CREDIT_RECORD_FIELDS).chain((f) =>
  fc
    .record({
      op: fc.constantFrom(...(f.type === 'string' || f.type === 'boolean' ? UNORDERED : ORDERED)),
      scalar: ruleValueArb(f),
      list: fc.array(ruleValueArb(f), { minLength: 1, maxLength: 4 }),
      reason: fc.constantFrom('R_SCORE', 'R_DEBT', 'R_HISTORY', 'R_OTHER'),
    })
    .map(({ op, scalar, list, reason }) => ({ field: f.path, op, value: op === 'in' || op === 'not_in' ? list : scalar, reason })),
);

const caseArb = fc.record({
  rules: fc.array(ruleArb, { maxLength: 4 }),
  context: fc.record({ partnerId: fc.constantFrom(...PARTNERS), delinquencyScope: fc.constantFrom(...DELINQUENCY_SCOPES) }),
  records: fc.array(recordArb, { minLength: RECORDS_PER_RUN, maxLength: RECORDS_PER_RUN }),
});

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

describe('criteria: the SQL evaluator and the in-process evaluator agree (property, real MariaDB)', () => {
  let db: DataSource;
  let facts: ExclusionFactsRepository;
  let runs: PrescreenRunsRepository;
  /** evaluateRange writes a connection-local temporary table: one connection for it and the reads of it. */
  let chunkConnection: QueryRunner;
  /** NOT NULL columns outside the registry (identity, hashes, versions) get a filler of their type. */
  let fillers: Array<{ column: string; value: (asOf: string) => unknown }>;
  const prefix = `agr${randomBytes(4).toString('hex')}`;
  let run = 0;
  const seen = { eligible: 0, ineligible: 0, reasons: new Set<string>() };

  beforeAll(async () => {
    db = new DataSource(dataSourceOptions(testConfig(), { poolSize: 2 }));
    await db.initialize();
    facts = new ExclusionFactsRepository(db);
    runs = new PrescreenRunsRepository(db);
    chunkConnection = db.createQueryRunner();
    await chunkConnection.connect();
    const handled = new Set(['user_id', 'as_of', ...DATA_FIELDS.map((f) => f.column)]);
    const columns: Array<{ name: string; type: string }> = await db.query(
      `SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM INFORMATION_SCHEMA.COLUMNS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'credit_records' AND IS_NULLABLE = 'NO' AND COLUMN_DEFAULT IS NULL`,
    );
    fillers = columns
      .filter((c) => !handled.has(c.name))
      .map((c) => ({
        column: c.name,
        value: /binary|blob/.test(c.type)
          ? () => randomBytes(32)
          : c.type === 'date'
            ? (asOf: string) => asOf
            : /int/.test(c.type)
              ? () => 1
              : () => 'x',
      }));
  });

  afterAll(async () => {
    await cleanUp();
    await chunkConnection.release();
    await db.destroy();
  });

  async function cleanUp() {
    const like = `${prefix}%`;
    for (const table of ['credit_records', 'user_preferences', 'partner_relationships', 'partner_delinquencies']) {
      await db.query(`DELETE FROM ${table} WHERE user_id LIKE ?`, [like]);
    }
  }

  async function insert(c: Case, ids: string[]) {
    const columns = ['user_id', 'as_of', ...DATA_FIELDS.map((f) => f.column), ...fillers.map((f) => f.column)];
    const rows = c.records.map((r, i) => [ids[i], r.asOf, ...r.values, ...fillers.map((f) => f.value(r.asOf))]);
    await db.query(`INSERT INTO credit_records (${columns.join(', ')}) VALUES ?`, [rows]);

    const preferences = c.records.flatMap((r, i) => (r.optOut === null ? [] : [[ids[i], r.optOut]]));
    const relationships = c.records.flatMap((r, i) => r.relationships.map((rel) => [ids[i], ...rel.split(':')]));
    const delinquencies = c.records.flatMap((r, i) => r.delinquencies.map(([partner, dpd]) => [partner, ids[i], dpd, '10.00', r.asOf]));
    if (preferences.length) await db.query('INSERT INTO user_preferences (user_id, prescreen_opt_out) VALUES ?', [preferences]);
    if (relationships.length) await db.query('INSERT INTO partner_relationships (user_id, partner_id, kind) VALUES ?', [relationships]);
    if (delinquencies.length) {
      await db.query('INSERT INTO partner_delinquencies (partner_id, user_id, dpd, amount_overdue, as_of) VALUES ?', [delinquencies]);
    }
  }

  it(`agrees on eligibility and reasons for ${RUNS} rule sets x ${RECORDS_PER_RUN} records`, async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const rules = parseCriteria(c.rules);
        const context: ExclusionContext = c.context;
        const caseNo = run++;
        const ids = c.records.map((_, i) => `${prefix}_${caseNo}_${i}`);
        try {
          await insert(c, ids);

          const compiled = compileCriteria(rules, { alias: 'cr', exclusions: context });
          const sqlRows: Array<Record<string, unknown>> = await db.query(
            `SELECT cr.user_id, ${compiled.selectList.sql} FROM credit_records cr WHERE cr.user_id IN (?)`,
            [...compiled.selectList.params, ids],
          );
          const eligibleIds: Array<{ user_id: string }> = await db.query(
            `SELECT cr.user_id FROM credit_records cr WHERE cr.user_id IN (?) AND ${compiled.eligible.sql}`,
            [ids, ...compiled.eligible.params],
          );
          // The aggregate a run reports: eligible users and users per reason (each once per reason).
          const [totals]: Array<Record<string, unknown>> = await db.query(
            `SELECT SUM(${compiled.eligible.sql}) AS eligible${compiled.reasons.map((r, i) => `, SUM(${r.sql}) AS r_${i}`).join('')}
               FROM credit_records cr WHERE cr.user_id IN (?)`,
            [...compiled.eligible.params, ...compiled.reasons.flatMap((r) => r.params), ids],
          );
          // The set form, as a chunk runs it, over a user_id range holding exactly this case's records.
          const m = chunkConnection.manager;
          const range = { after: `${prefix}_${caseNo}_`, upto: `${prefix}_${caseNo}_~` };
          const evaluation = await runs.evaluateRange(m, compiled.marked, range);
          const chunkRows: Array<Record<string, unknown>> = await m.query('SELECT * FROM prescreen_chunk_evaluation');
          await runs.dropEvaluation(m);
          expect(evaluation.reasons).toEqual(compiled.reasons.map((r) => r.reason));
          expect(chunkRows.map((r) => r.user_id).sort()).toEqual([...ids].sort());
          const byChunk = new Map(
            chunkRows.map((row) => [row.user_id as string, evaluation.reasons.filter((_, i) => Number(row[evaluation.columns[i]]) === 1)]),
          );
          const stored: Array<Record<string, unknown>> = await db.query('SELECT * FROM credit_records WHERE user_id IN (?)', [ids]);
          const factsByUser = await facts.forUsers(ids);

          expect(sqlRows).toHaveLength(ids.length);
          const bySql = new Map(sqlRows.map((row) => [row.user_id as string, evaluationFromRow(compiled, row)]));
          const eligibleBySql = new Set(eligibleIds.map((r) => r.user_id));
          const counted: Record<string, number> = {};
          let eligibleCount = 0;
          for (const row of stored) {
            const userId = row.user_id as string;
            const inProcess = evaluateRecord(rules, evaluableRecordFromRow(row), { context, facts: factsByUser.get(userId)! });
            const sql = bySql.get(userId)!;
            expect({ userId, ...sql }).toEqual({ userId, ...inProcess });
            expect(eligibleBySql.has(userId)).toBe(inProcess.eligible);
            // A chunk keeps one 0/1 column per reason (for counting), so only the set of reasons is comparable.
            expect({ userId, reasons: byChunk.get(userId)!.sort() }).toEqual({ userId, reasons: [...inProcess.reasons].sort() });

            seen[inProcess.eligible ? 'eligible' : 'ineligible']++;
            inProcess.reasons.forEach((r) => seen.reasons.add(r));
            if (inProcess.eligible) eligibleCount++;
            inProcess.reasons.forEach((r) => (counted[r] = (counted[r] ?? 0) + 1));
          }
          expect(Number(totals.eligible)).toBe(eligibleCount);
          expect(
            Object.fromEntries(compiled.reasons.map((r, i) => [r.reason, Number(totals[`r_${i}`])]).filter(([, n]) => n !== 0)),
          ).toEqual(counted);
        } finally {
          await cleanUp();
        }
      }),
      { numRuns: RUNS },
    );
    // The property must have exercised both outcomes and every exclusion, or agreement would mean little.
    expect(seen.eligible).toBeGreaterThan(0);
    expect(seen.ineligible).toBeGreaterThan(0);
    for (const reason of EXCLUSION_REASONS) expect(seen.reasons).toContain(reason);
  }, 120_000);

  it('evaluates a range that does not fit in memory into InnoDB instead, with the same result', async () => {
    const [sample] = fc.sample(caseArb, { numRuns: 1, seed: 42 });
    const c: Case = { ...sample, records: fc.sample(recordArb, { numRuns: 400, seed: 7 }) };
    const caseNo = run++;
    const ids = c.records.map((_, i) => `${prefix}_${caseNo}_${i}`);
    try {
      await insert(c, ids);
      const compiled = compileCriteria(parseCriteria(c.rules), { alias: 'cr', exclusions: c.context });
      const range = { after: `${prefix}_${caseNo}_`, upto: `${prefix}_${caseNo}_~` };
      const m = chunkConnection.manager;
      const read = async (memoryBytes?: number) => {
        const evaluation = await runs.evaluateRange(m, compiled.marked, range, memoryBytes);
        const rows: unknown[] = await m.query('SELECT * FROM prescreen_chunk_evaluation ORDER BY user_id');
        await runs.dropEvaluation(m);
        return { engine: evaluation.engine, rows };
      };
      const inMemory = await read();
      const overflowed = await read(16_384); // the least MariaDB allows: 400 users do not fit
      expect(inMemory.engine).toBe('MEMORY');
      expect(overflowed.engine).toBe('InnoDB');
      expect(inMemory.rows).toHaveLength(400);
      expect(overflowed.rows).toEqual(inMemory.rows);
    } finally {
      await cleanUp();
    }
  }, 60_000);
});
