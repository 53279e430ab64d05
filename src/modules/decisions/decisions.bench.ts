import { DataSource } from 'typeorm';

import { toPublicId } from '../../common/public-id';

/**
 * What the benchmark (bench/) needs to measure bulk decisions end to end: DELIVERED referrals made set-based (going
 * through apply and packaging for 100,000 users would measure those instead), and a driver that posts the decisions
 * as NDJSON over real sockets and checks every line came back 200. Not used by the application itself.
 */

/**
 * Inserts `count` DELIVERED referrals of one partner's product (one shared consent; synthetic user ids and offer ids)
 * in multi-row INSERT … SELECT statements. Returns their public ids in creation order.
 */
export async function seedDeliveredReferrals(
  db: DataSource,
  opts: { partnerCode: string; productCode: string; count: number; userIdPrefix?: string },
): Promise<string[]> {
  const [p] = await db.query(
    `SELECT cp.id AS product_id, cp.partner_id, cp.current_version AS version, v.decision_sla_hours
       FROM card_products cp JOIN partners pa ON pa.id = cp.partner_id
       JOIN card_product_versions v ON v.product_id = cp.id AND v.version = cp.current_version
      WHERE cp.code = ? AND pa.code = ?`,
    [opts.productCode, opts.partnerCode],
  );
  if (!p) throw new Error(`no product ${opts.productCode} of partner ${opts.partnerCode}`);
  const prefix = opts.userIdPrefix ?? `bd${Date.now().toString(36)}_`;
  const consent = await db.query(
    `INSERT INTO consents (user_id, partner_id, product_id, product_version, text_version, text_sha256, purpose, shared_fields, retention_days)
     VALUES (?, ?, ?, ?, 1, REPEAT('0', 64), 'bench', JSON_ARRAY(), 365)`,
    [`${prefix}consent`, p.partner_id, p.product_id, p.version],
  );
  const [{ base }] = await db.query('SELECT COALESCE(MAX(offer_id), 0) + 1000000000 AS base FROM referrals');
  const ids: string[] = [];
  const BATCH = 5_000;
  for (let from = 0; from < opts.count; from += BATCH) {
    const n = Math.min(BATCH, opts.count - from);
    const rows = Array.from({ length: n }, (_, i) => [`${prefix}${from + i}`, BigInt(base) + BigInt(from + i)]);
    const result = await db.query(
      `INSERT INTO referrals (user_id, partner_id, product_id, product_version, offer_id, consent_id, run_id, record_version, user_ref, status,
                              expires_at, ready_at, delivered_at)
       VALUES ${rows.map(() => `(?, ?, ?, ?, ?, ?, 0, 1, REPEAT('b', 43), 'DELIVERED', NOW(3) + INTERVAL ? HOUR, NOW(3), NOW(3))`).join(', ')}`,
      rows.flatMap(([user, offer]) => [
        user,
        p.partner_id,
        p.product_id,
        p.version,
        String(offer),
        String(consent.insertId),
        Number(p.decision_sla_hours),
      ]),
    );
    // A multi-row INSERT hands out consecutive auto-increment ids from insertId (innodb_autoinc_lock_mode 1 or 2 with one statement).
    for (let i = 0; i < n; i++) ids.push(toPublicId('ref', BigInt(result.insertId) + BigInt(i)));
  }
  return ids;
}

/** NDJSON bodies of one decision per referral (APPROVED with alternating DECLINED), `linesPerBody` a body, built before the clock starts. */
export function bulkDecisionBodies(referralIds: string[], linesPerBody = 5_000, decidedAt = new Date().toISOString()): Buffer[] {
  const bodies: Buffer[] = [];
  for (let from = 0; from < referralIds.length; from += linesPerBody) {
    const lines = referralIds
      .slice(from, from + linesPerBody)
      .map((referralId, i) =>
        JSON.stringify(
          (from + i) % 2 === 0
            ? { referralId, decision: 'APPROVED', decidedAt, creditLimit: '10000.00', cardLast4: '1234' }
            : { referralId, decision: 'DECLINED', decidedAt, declineReasons: ['BENCH'] },
        ),
      );
    bodies.push(Buffer.from(lines.join('\n') + '\n'));
  }
  return bodies;
}
