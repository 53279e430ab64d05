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
    const stamp = STAMP[to];
    const assignments = ['status = ?', ...(stamp ? [`${stamp} = COALESCE(${stamp}, NOW(3))`] : []), ...extra.map(([c]) => `${c} = ?`)];
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
}
