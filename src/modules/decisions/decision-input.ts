import { FieldError } from '../../common/errors';

export const DECISIONS = ['APPROVED', 'DECLINED', 'PENDING_REVIEW'] as const;
export type DecisionKind = (typeof DECISIONS)[number];
export type FinalDecision = Exclude<DecisionKind, 'PENDING_REVIEW'>;

/** A decision as stored in referrals.decision and answered to the bank (API.md). */
export interface Decision {
  decision: DecisionKind;
  /** Normalised to UTC (toISOString). */
  decidedAt: string;
  creditLimit?: string;
  cardLast4?: string;
  declineReasons?: string[];
}

/**
 * Which optional fields go with which decision (API.md leaves it open; we refuse rather than silently drop):
 * - APPROVED: creditLimit and cardLast4, both optional (a bank may approve before the card is issued);
 * - DECLINED: declineReasons, optional;
 * - PENDING_REVIEW: none of them.
 * Anything else with a decision is a 400 naming the field.
 */
const ALLOWED_EXTRAS: Record<DecisionKind, readonly string[]> = {
  APPROVED: ['creditLimit', 'cardLast4'],
  DECLINED: ['declineReasons'],
  PENDING_REVIEW: [],
};
const EXTRAS = ['creditLimit', 'cardLast4', 'declineReasons'];

/** RFC 3339 date-time with seconds and an explicit offset. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
/** A positive two-place money string, at most 12 integer digits (DECIMAL(14,2)). */
const MONEY = /^(0|[1-9][0-9]{0,11})\.[0-9]{2}$/;
const LAST4 = /^[0-9]{4}$/;
/** Short upper-case codes, as the rest of the API uses for reasons. */
const REASON = /^[A-Z][A-Z0-9_]{0,31}$/;
const MAX_REASONS = 10;
/** decidedAt may be at most this far ahead of our clock (the bank's clock may run a little fast). */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;

export type ParsedDecision =
  { ok: true; referralId?: string; decision: Decision } | { ok: false; referralId?: string; errors: FieldError[] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseRfc3339(value: string): Date | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return undefined;
  const offset = m[8];
  if (offset.length > 1 && (Number(offset.slice(1, 3)) > 23 || Number(offset.slice(4, 6)) > 59)) return undefined;
  const t = new Date(value.toUpperCase());
  return Number.isNaN(t.getTime()) ? undefined : t;
}

/**
 * Validates one decision (a single call's body, or one bulk line when `withReferralId`). Values are never echoed in
 * messages. The checks that need the referral (decidedAt not before its createdAt) come later, in checkAgainst.
 */
export function parseDecision(body: unknown, withReferralId: boolean, now = new Date()): ParsedDecision {
  if (!isObject(body)) return { ok: false, errors: [{ field: null, message: 'must be a JSON object' }] };
  const errors: FieldError[] = [];
  const referralId = withReferralId && typeof body.referralId === 'string' ? body.referralId : undefined;
  const known = new Set(['decision', 'decidedAt', ...EXTRAS, ...(withReferralId ? ['referralId'] : [])]);
  for (const key of Object.keys(body)) {
    if (!known.has(key)) errors.push({ field: key.length > 64 ? `${key.slice(0, 64)}…` : key, message: 'is not an accepted field' });
  }
  if (withReferralId && (typeof body.referralId !== 'string' || body.referralId.length < 1 || body.referralId.length > 64)) {
    errors.push({ field: 'referralId', message: 'must be a referral id (string)' });
  }
  const kind = body.decision;
  if (!DECISIONS.includes(kind as DecisionKind)) errors.push({ field: 'decision', message: `must be one of ${DECISIONS.join(', ')}` });
  let decidedAt: Date | undefined;
  if (typeof body.decidedAt !== 'string') errors.push({ field: 'decidedAt', message: 'is required: an RFC 3339 date-time' });
  else if (!(decidedAt = parseRfc3339(body.decidedAt)))
    errors.push({ field: 'decidedAt', message: 'must be an RFC 3339 date-time with an offset (e.g. 2026-11-22T08:00:00Z)' });
  else if (decidedAt.getTime() > now.getTime() + FUTURE_TOLERANCE_MS)
    errors.push({ field: 'decidedAt', message: 'may not be more than 5 minutes in the future' });

  if (
    body.creditLimit !== undefined &&
    (typeof body.creditLimit !== 'string' || !MONEY.test(body.creditLimit) || Number(body.creditLimit) <= 0)
  ) {
    errors.push({ field: 'creditLimit', message: 'must be a positive decimal string with two places (e.g. "15000.00")' });
  }
  if (body.cardLast4 !== undefined && (typeof body.cardLast4 !== 'string' || !LAST4.test(body.cardLast4))) {
    errors.push({ field: 'cardLast4', message: 'must be four digits' });
  }
  if (body.declineReasons !== undefined) {
    const reasons = body.declineReasons;
    if (!Array.isArray(reasons) || reasons.length < 1 || reasons.length > MAX_REASONS) {
      errors.push({ field: 'declineReasons', message: `must be an array of 1 to ${MAX_REASONS} reason codes` });
    } else {
      reasons.forEach((r, i) => {
        if (typeof r !== 'string' || !REASON.test(r))
          errors.push({ field: `declineReasons.${i}`, message: 'must be an upper-case code of 1–32 characters [A-Z0-9_]' });
      });
      if (new Set(reasons).size !== reasons.length) errors.push({ field: 'declineReasons', message: 'must not repeat a code' });
    }
  }
  if (DECISIONS.includes(kind as DecisionKind)) {
    for (const extra of EXTRAS) {
      if (body[extra] !== undefined && !ALLOWED_EXTRAS[kind as DecisionKind].includes(extra)) {
        errors.push({ field: extra, message: `is not accepted with decision ${kind as string}` });
      }
    }
  }
  if (errors.length) return { ok: false, referralId, errors };
  const decision: Decision = { decision: kind as DecisionKind, decidedAt: decidedAt!.toISOString() };
  if (body.creditLimit !== undefined) decision.creditLimit = body.creditLimit as string;
  if (body.cardLast4 !== undefined) decision.cardLast4 = body.cardLast4 as string;
  if (body.declineReasons !== undefined) decision.declineReasons = body.declineReasons as string[];
  return { ok: true, referralId, decision };
}

/** decidedAt may not be earlier than the referral's createdAt, compared to the second (API.md). */
export function decidedBeforeCreation(decision: Decision, createdAt: Date): boolean {
  return Math.floor(Date.parse(decision.decidedAt) / 1000) < Math.floor(createdAt.getTime() / 1000);
}

/**
 * Whether a repeated decision is "the same decision again": the same kind and the same terms. decidedAt is left out
 * on purpose — a retrying bank may restamp it — but a different credit limit, card or reasons is a different decision.
 */
export function sameDecision(a: Decision, b: Decision): boolean {
  const reasons = (d: Decision) => [...(d.declineReasons ?? [])].sort().join(',');
  return (
    a.decision === b.decision &&
    (a.creditLimit ?? null) === (b.creditLimit ?? null) &&
    (a.cardLast4 ?? null) === (b.cardLast4 ?? null) &&
    reasons(a) === reasons(b)
  );
}
