import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The data columns shared by the current record and its snapshots. Registry columns
 * (src/modules/credit-records/credit-record-fields.ts) are NULL-able so that a future optional field needs no
 * table rebuild; ingest always writes every one of them, and the criteria evaluators fail a rule on NULL.
 */
const DATA_COLUMNS = `
        as_of DATE NOT NULL,
        identity_enc VARBINARY(2048) NOT NULL,
        national_id_hash BINARY(32) NOT NULL,
        phone_hash BINARY(32) NOT NULL,
        kyc_level TINYINT UNSIGNED NULL,
        score SMALLINT NULL,
        risk_grade VARCHAR(8) NULL,
        credit_limit DECIMAL(14,2) NULL,
        balance DECIMAL(14,2) NULL,
        account_opened_at DATE NULL,
        on_time_count_24m INT NULL,
        overdue_count_24m INT NULL,
        max_dpd_24m INT NULL,
        current_dpd INT NULL,
        overdue_amount DECIMAL(14,2) NULL,
        orders_12m INT NULL,
        gmv_12m DECIMAL(14,2) NULL,
        return_rate_12m DECIMAL(6,4) NULL,
        avg_review_score DECIMAL(4,2) NULL,
        address_stable_12m TINYINT(1) NULL,
        accounts_on_device INT NULL,
        top_categories JSON NULL,
        current_dpd_as_of DATE NOT NULL`;

/**
 * credit_records: the current credit record per platform user, written only by ingest (snapshots and
 * repayment-status updates). record_version is 1 for the first snapshot and grows by one with each newer one;
 * offers pin it. current_dpd_as_of is the date of the current_dpd/overdue_amount values (a snapshot's as_of or
 * a later repayment-status update's). Identity is AES-256-GCM sealed (AAD = user_id) and found only by keyed hash.
 * user_id is an opaque, case-sensitive id: binary collation (a _ci one would merge "u_1" and "U_1"); tables
 * joining on it should use utf8mb4_bin too, so that either side's index serves the join.
 *
 * credit_record_snapshots: the versions offers were made on, copied set-based from credit_records by
 * pre-screening (INSERT IGNORE … SELECT), so a referral packages exactly what was evaluated.
 */
export class CreditRecords1763800500000 implements MigrationInterface {
  name = 'CreditRecords1763800500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE credit_records (
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        record_version INT UNSIGNED NOT NULL,${DATA_COLUMNS},
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (user_id),
        KEY idx_credit_records_national_id_hash (national_id_hash),
        KEY idx_credit_records_phone_hash (phone_hash)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE credit_record_snapshots (
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        record_version INT UNSIGNED NOT NULL,${DATA_COLUMNS},
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (user_id, record_version)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE credit_record_snapshots');
    await q.query('DROP TABLE credit_records');
  }
}
