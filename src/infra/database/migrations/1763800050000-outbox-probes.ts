import { MigrationInterface, QueryRunner } from 'typeorm';

/** Deliveries of the outbox probe job: lets operators (and tests) check the outbox → BullMQ → worker path end to end. */
export class OutboxProbes1763800050000 implements MigrationInterface {
  name = 'OutboxProbes1763800050000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE outbox_probes (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        label VARCHAR(100) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        handled_at DATETIME(3) NULL,
        deliveries INT UNSIGNED NOT NULL DEFAULT 0,
        PRIMARY KEY (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE outbox_probes');
  }
}
