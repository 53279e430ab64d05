import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { ALLOWED_FROM, ReferralStatus } from './referral-state';

export interface TransitionActor {
  type: 'partner' | 'user' | 'admin' | 'system';
  id: string;
}

/** Timestamp column set when a referral enters a status, where there is one. */
const STAMP: Partial<Record<ReferralStatus, string>> = {
  READY: 'ready_at',
  DELIVERED: 'delivered_at',
  ACKNOWLEDGED: 'acknowledged_at',
  APPROVED: 'decided_at',
  DECLINED: 'decided_at',
};

/**
 * Ends that start the retention clock of the referral's file: the application is over without a card, so the file is
 * kept only for the retention days the applicant consented to (from the end, not from signing), then the
 * `referrals/referral-files.purge` job deletes it. An APPROVED referral keeps its file: it is the cardholder's.
 */
const ENDS_WITHOUT_CARD: readonly ReferralStatus[] = ['DECLINED', 'WITHDRAWN', 'EXPIRED'];
const START_RETENTION = `file_purge_after = IF(file_enc IS NULL, NULL,
  NOW(3) + INTERVAL (SELECT c.retention_days FROM consents c WHERE c.id = referrals.consent_id) DAY)`;

/** The column assignments a move to `to` makes besides the status and the caller's own columns. */
const implied = (to: ReferralStatus): string[] => [
  ...(STAMP[to] ? [`${STAMP[to]} = COALESCE(${STAMP[to]}, NOW(3))`] : []),
  ...(ENDS_WITHOUT_CARD.includes(to) ? [START_RETENTION] : []),
];

/**
 * The only writer of referrals.status. A move is one conditional UPDATE (`WHERE status IN (allowed from)`), so of
 * concurrent conflicting moves exactly one changes the row; the caller learns whether it won and decides (409, or
 * "already done" for idempotent repeats). Each successful move appends to referral_timeline in the same transaction.
 */
@Injectable()
export class ReferralTransitions {
  async move(
    m: EntityManager,
    referralId: string,
    to: ReferralStatus,
    actor: TransitionActor,
    /** `set`: extra columns to write with the move; keys are column names from code, never from input. */
    opts: { note?: string; set?: Record<string, unknown> } = {},
  ): Promise<{ moved: boolean; from?: ReferralStatus }> {
    const allowed = ALLOWED_FROM[to];
    if (allowed.length === 0) return { moved: false };
    const [current] = await m.query('SELECT status FROM referrals WHERE id = ? FOR UPDATE', [referralId]);
    if (!current || !allowed.includes(current.status)) return { moved: false, from: current?.status };
    const extra = Object.entries(opts.set ?? {});
    const assignments = ['status = ?', ...implied(to), ...extra.map(([c]) => `${c} = ?`)];
    const result = await m.query(`UPDATE referrals SET ${assignments.join(', ')} WHERE id = ? AND status = ?`, [
      to,
      ...extra.map(([, v]) => v),
      referralId,
      current.status,
    ]);
    if (result.affectedRows !== 1) return { moved: false, from: current.status };
    await m.query(
      'INSERT INTO referral_timeline (referral_id, from_status, to_status, actor_type, actor_id, note) VALUES (?, ?, ?, ?, ?, ?)',
      [referralId, current.status, to, actor.type, actor.id, opts.note ?? null],
    );
    return { moved: true, from: current.status };
  }

  /**
   * Set-based `move` for many referrals at once (batched packaging and fetches): one locking read, one UPDATE and one
   * multi-row timeline INSERT, however many rows. Rows not in an allowed status are left alone and not returned.
   * `set` gives per-referral column values; every move must name the same columns (they become CASE expressions).
   * `lockedStatus`: the caller already holds these rows' locks in this transaction and read their status after taking
   * them (the batched fetch does); the locking read is then skipped — one round trip less — and those statuses used.
   */
  async moveMany(
    m: EntityManager,
    to: ReferralStatus,
    actor: TransitionActor,
    moves: ReadonlyArray<{ referralId: string; set?: Record<string, unknown> }>,
    opts: { note?: string; lockedStatus?: ReadonlyMap<string, ReferralStatus> } = {},
  ): Promise<Array<{ referralId: string; from: ReferralStatus }>> {
    const allowed = ALLOWED_FROM[to];
    if (allowed.length === 0 || moves.length === 0) return [];
    const ids = moves.map((mv) => mv.referralId);
    const known = opts.lockedStatus;
    const current: Array<{ id: string; status: ReferralStatus }> = known
      ? ids.flatMap((id) => (known.has(id) ? [{ id, status: known.get(id)! }] : []))
      : await m.query('SELECT id, status FROM referrals WHERE id IN (?) FOR UPDATE', [ids]);
    const fromOf = new Map(current.filter((c) => allowed.includes(c.status)).map((c) => [String(c.id), c.status]));
    const movable = moves.filter((mv) => fromOf.has(mv.referralId));
    if (movable.length === 0) return [];
    const columns = Object.keys(movable[0].set ?? {});
    for (const mv of movable) {
      const names = Object.keys(mv.set ?? {});
      if (names.length !== columns.length || names.some((c, i) => c !== columns[i]))
        throw new Error('moveMany: every move must set the same columns');
    }
    const params: unknown[] = [to];
    const assignments = ['status = ?', ...implied(to)];
    for (const column of columns) {
      assignments.push(`${column} = CASE id ${movable.map(() => 'WHEN ? THEN ?').join(' ')} END`);
      // BIGINT keys as numbers: a quoted id makes MariaDB compare every WHEN as a double (~40 % of this statement).
      for (const mv of movable) params.push(BigInt(mv.referralId), mv.set![column]);
    }
    const movableIds = movable.map((mv) => mv.referralId);
    // The rows are locked above, so the status filter only repeats what was checked: every movable row changes.
    const result = await m.query(`UPDATE referrals SET ${assignments.join(', ')} WHERE id IN (?) AND status IN (?)`, [
      ...params,
      movableIds,
      allowed,
    ]);
    if (result.affectedRows !== movable.length)
      throw new Error(`moveMany: ${result.affectedRows} of ${movable.length} locked referrals moved`);
    await m.query('INSERT INTO referral_timeline (referral_id, from_status, to_status, actor_type, actor_id, note) VALUES ?', [
      movable.map((mv) => [mv.referralId, fromOf.get(mv.referralId), to, actor.type, actor.id, opts.note ?? null]),
    ]);
    return movable.map((mv) => ({ referralId: mv.referralId, from: fromOf.get(mv.referralId)! }));
  }
}
