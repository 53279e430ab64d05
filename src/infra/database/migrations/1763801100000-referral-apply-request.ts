import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The request id of the application that created a referral, so that the `referral.packaged` audit entry of every
 * referral names the request it came from, also when another referral's job packaged it in a batch (the job's own
 * correlation id belongs to that other referral). Nullable: referrals made before this migration have none.
 */
export class ReferralApplyRequest1763801100000 implements MigrationInterface {
  name = 'ReferralApplyRequest1763801100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE referrals ADD COLUMN apply_request_id VARCHAR(128) NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE referrals DROP COLUMN apply_request_id');
  }
}
