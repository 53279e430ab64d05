import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The referral core shared by the applicant, packaging, partner and event modules:
 * - consents: one per application, specific to one partner and product version, with the exact text hash agreed to;
 * - referrals: the state machine row (PACKAGING → READY → DELIVERED → ACKNOWLEDGED → PENDING_REVIEW → APPROVED |
 *   DECLINED; WITHDRAWN; EXPIRED) and the signed file once packaged. PACKAGING is internal: partners never see it;
 * - referral_timeline: every state change, for the applicant's timeline and for support;
 * - disclosures: every time a user's data left for a partner (what, to whom, when, under which consent);
 * - partner_events: each partner's security-event feed (RFC 8417 SETs), polled (RFC 8936) and pushed (RFC 8935).
 * user_id columns are binary like credit_records.user_id.
 */
export class Referrals1763800800000 implements MigrationInterface {
  name = 'Referrals1763800800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE consents (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        partner_id BIGINT UNSIGNED NOT NULL,
        product_id BIGINT UNSIGNED NOT NULL,
        product_version INT UNSIGNED NOT NULL,
        text_version INT UNSIGNED NOT NULL,
        text_sha256 CHAR(64) CHARACTER SET ascii NOT NULL,
        purpose VARCHAR(1000) NOT NULL,
        shared_fields JSON NOT NULL,
        retention_days SMALLINT UNSIGNED NOT NULL,
        status ENUM('ACTIVE','REVOKED') NOT NULL DEFAULT 'ACTIVE',
        granted_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        revoked_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        KEY idx_consents_user (user_id, id),
        CONSTRAINT fk_consents_partner FOREIGN KEY (partner_id) REFERENCES partners (id),
        CONSTRAINT fk_consents_version FOREIGN KEY (product_id, product_version) REFERENCES card_product_versions (product_id, version)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE referrals (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        partner_id BIGINT UNSIGNED NOT NULL,
        product_id BIGINT UNSIGNED NOT NULL,
        product_version INT UNSIGNED NOT NULL,
        offer_id BIGINT UNSIGNED NOT NULL,
        consent_id BIGINT UNSIGNED NOT NULL,
        run_id BIGINT UNSIGNED NOT NULL,
        record_version INT UNSIGNED NOT NULL,
        -- Stable per user and partner, different between partners (keyed hash): what the bank knows the user by.
        user_ref CHAR(43) CHARACTER SET ascii NOT NULL,
        status ENUM('PACKAGING','READY','DELIVERED','ACKNOWLEDGED','PENDING_REVIEW','APPROVED','DECLINED','WITHDRAWN','EXPIRED') NOT NULL DEFAULT 'PACKAGING',
        file_jws MEDIUMTEXT NULL,
        file_sha256 CHAR(64) CHARACTER SET ascii NULL,
        file_kid VARCHAR(128) CHARACTER SET ascii NULL,
        file_jti VARCHAR(64) CHARACTER SET ascii NULL,
        file_expires_at DATETIME(3) NULL,
        -- Decision deadline: createdAt + the product's decisionSlaHours (API.md expiresAt).
        expires_at DATETIME(3) NOT NULL,
        decision JSON NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        ready_at DATETIME(3) NULL,
        delivered_at DATETIME(3) NULL,
        acknowledged_at DATETIME(3) NULL,
        decided_at DATETIME(3) NULL,
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        UNIQUE KEY uq_referrals_offer (offer_id),
        KEY idx_referrals_partner (partner_id, id),
        KEY idx_referrals_partner_status (partner_id, status, id),
        KEY idx_referrals_user (user_id, id),
        KEY idx_referrals_product_day (product_id, created_at),
        CONSTRAINT fk_referrals_partner FOREIGN KEY (partner_id) REFERENCES partners (id),
        CONSTRAINT fk_referrals_consent FOREIGN KEY (consent_id) REFERENCES consents (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE referral_timeline (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        referral_id BIGINT UNSIGNED NOT NULL,
        from_status VARCHAR(20) NULL,
        to_status VARCHAR(20) NOT NULL,
        actor_type VARCHAR(16) NOT NULL,
        actor_id VARCHAR(128) NOT NULL,
        note VARCHAR(255) NULL,
        at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_referral_timeline_referral (referral_id, id),
        CONSTRAINT fk_referral_timeline_referral FOREIGN KEY (referral_id) REFERENCES referrals (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE disclosures (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        partner_id BIGINT UNSIGNED NOT NULL,
        consent_id BIGINT UNSIGNED NULL,
        referral_id BIGINT UNSIGNED NULL,
        kind ENUM('REFERRAL_FILE','REFERRAL_PUSH','OVERDUE_REPORT') NOT NULL,
        -- The shared field paths (never the values) and the digest of exactly what left.
        shared_fields JSON NOT NULL,
        artefact_sha256 CHAR(64) CHARACTER SET ascii NULL,
        request_id VARCHAR(128) NULL,
        disclosed_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_disclosures_user (user_id, id),
        KEY idx_disclosures_referral (referral_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE partner_events (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        partner_id BIGINT UNSIGNED NOT NULL,
        event_type VARCHAR(64) NOT NULL,
        -- The subject of the event: a referral or an overdue report (txn claim), by public id.
        txn VARCHAR(64) CHARACTER SET ascii NOT NULL,
        -- Idempotency of emission: one event per (type, subject, cause).
        dedupe_key VARCHAR(191) CHARACTER SET ascii NOT NULL,
        set_jws TEXT NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        acknowledged_at DATETIME(3) NULL,
        set_error JSON NULL,
        poll_count INT UNSIGNED NOT NULL DEFAULT 0,
        last_polled_at DATETIME(3) NULL,
        push_status ENUM('NONE','PENDING','DELIVERED','DEAD') NOT NULL DEFAULT 'NONE',
        push_attempts INT UNSIGNED NOT NULL DEFAULT 0,
        push_last_error VARCHAR(500) NULL,
        pushed_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_partner_events_dedupe (partner_id, dedupe_key),
        KEY idx_partner_events_unacked (partner_id, acknowledged_at, id),
        KEY idx_partner_events_push (partner_id, push_status, id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['partner_events', 'disclosures', 'referral_timeline', 'referrals', 'consents']) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
