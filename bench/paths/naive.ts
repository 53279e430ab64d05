import { DataSource } from 'typeorm';

import { AppConfig, AppConfigService } from '../../src/infra/config/app-config';
import { CryptoService } from '../../src/infra/crypto/crypto.service';
import { IdentityProtector } from '../../src/modules/credit-records/identity-protector';
import { latestAcceptedAsOf, validateCreditRecordLine } from '../../src/modules/credit-records/ingest/credit-record-line';
import { syntheticUserId } from '../../src/modules/credit-records/synthetic/synthetic-credit-records';
import {
  CriteriaRule,
  evaluableRecordFromRow,
  EVALUATED_COLUMNS,
  evaluateRecord,
  ExclusionContext,
  ExclusionFactsRepository,
} from '../../src/modules/prescreening/criteria';
import { runPool, timed } from '../support/timing';

/**
 * The naive baselines: what the paths would cost written the obvious way, one ORM call per row. They do the same
 * work per row as the gateway (validation, identity sealed and hashed; the same evaluator and exclusions), on the
 * same number of concurrent lanes, so the ratio isolates the set-based design.
 */

/** Ingest: per line, parse and validate, look the user up, then one TypeORM INSERT (autocommit) into a scratch copy. */
export async function naiveIngestRowsPerSecond(
  dataSource: DataSource,
  config: AppConfig,
  bodies: Buffer[],
  lanes: number,
): Promise<number> {
  await dataSource.query('CREATE TABLE bench_naive_credit_records LIKE credit_records');
  const identity = new IdentityProtector(new CryptoService({ values: config } as AppConfigService));
  const lines = bodies.flatMap((b) => b.toString('utf8').split('\n').filter(Boolean));
  const latest = latestAcceptedAsOf();
  const { seconds } = await timed(() =>
    runPool(lines.length, lanes, async (i) => {
      const checked = validateCreditRecordLine(JSON.parse(lines[i]), latest);
      if (!checked.ok) throw new Error(`naive ingest: line ${i + 1} invalid`);
      const r = checked.value;
      const existing = await dataSource
        .createQueryBuilder()
        .select('as_of')
        .from('bench_naive_credit_records', 'cr')
        .where('user_id = :id', { id: r.userId })
        .getRawOne();
      if (existing) return;
      await dataSource
        .createQueryBuilder()
        .insert()
        .into('bench_naive_credit_records')
        .values({
          user_id: r.userId,
          as_of: r.asOf,
          identity_enc: identity.seal(r.userId, r.identity),
          national_id_hash: identity.nationalIdHash(r.identity.nationalId),
          phone_hash: identity.phoneHash(r.identity.phone),
          kyc_level: r.identity.kycLevel,
          score: r.score,
          risk_grade: r.riskGrade,
          credit_limit: r.creditLimit,
          balance: r.balance,
          account_opened_at: r.accountOpenedAt,
          on_time_count_24m: r.repayment.onTimeCount24m,
          overdue_count_24m: r.repayment.overdueCount24m,
          max_dpd_24m: r.repayment.maxDpd24m,
          current_dpd: r.repayment.currentDpd,
          overdue_amount: r.repayment.overdueAmount,
          orders_12m: r.consumption.orders12m,
          gmv_12m: r.consumption.gmv12m,
          return_rate_12m: r.consumption.returnRate12m.toFixed(4),
          avg_review_score: r.consumption.avgReviewScore.toFixed(2),
          address_stable_12m: r.consumption.addressStable12m ? 1 : 0,
          accounts_on_device: r.device.accountsOnDevice,
          top_categories: JSON.stringify(r.consumption.topCategories),
          record_version: 1,
          current_dpd_as_of: r.asOf,
        })
        .execute();
    }),
  );
  await dataSource.query('DROP TABLE bench_naive_credit_records');
  return lines.length / seconds;
}

/**
 * Pre-screen: per user, read the record back (one SELECT), load its exclusion facts, evaluate in JS with
 * evaluateRecord, and write an offer row for an eligible user (one INSERT each, into a scratch table).
 */
export async function naivePrescreenRowsPerSecond(
  dataSource: DataSource,
  rules: CriteriaRule[],
  context: ExclusionContext,
  users: number,
  lanes: number,
): Promise<{ rowsPerSec: number; eligible: number }> {
  await dataSource.query(
    'CREATE TABLE bench_naive_offers (user_id VARCHAR(64) NOT NULL PRIMARY KEY, record_version INT UNSIGNED NOT NULL, created_at DATETIME(3) NOT NULL)',
  );
  const facts = new ExclusionFactsRepository(dataSource);
  let eligible = 0;
  const { seconds } = await timed(() =>
    runPool(users, lanes, async (i) => {
      const userId = syntheticUserId(i);
      const row = await dataSource
        .createQueryBuilder()
        .select([...EVALUATED_COLUMNS, 'record_version'])
        .from('credit_records', 'cr')
        .where('user_id = :userId', { userId })
        .getRawOne();
      if (!row) throw new Error(`naive pre-screen: ${userId} has no credit record`);
      const userFacts = (await facts.forUsers([userId])).get(userId)!;
      const evaluation = evaluateRecord(rules, evaluableRecordFromRow(row), { context, facts: userFacts });
      if (!evaluation.eligible) return;
      eligible++;
      await dataSource
        .createQueryBuilder()
        .insert()
        .into('bench_naive_offers')
        .values({ user_id: userId, record_version: row.record_version, created_at: () => 'NOW(3)' })
        .execute();
    }),
  );
  await dataSource.query('DROP TABLE bench_naive_offers');
  return { rowsPerSec: users / seconds, eligible };
}
