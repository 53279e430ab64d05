import { FieldError } from '../../common/errors';
import { isCalendarDate } from '../prescreening/criteria/calendar';

/** A bank's report as validated (API.md `POST /delinquencies`). */
export interface DelinquencyReport {
  dpd: number;
  /** Two places, no leading zeros: the text MySQL gives back for the DECIMAL(14,2), so equal amounts compare equal. */
  amountOverdue: string;
  /** YYYY-MM-DD. */
  asOf: string;
}

export type ParsedDelinquency =
  { ok: true; referralId: string; report: DelinquencyReport } | { ok: false; referralId?: string; errors: FieldError[] };

export const MAX_DPD = 3650;
/** A positive two-place amount within DECIMAL(14,2); the same form as every money string of the API. */
const MONEY = /^(0|[1-9][0-9]{0,11})\.[0-9]{2}$/;
const FIELDS = new Set(['referralId', 'dpd', 'amountOverdue', 'asOf']);
/**
 * A date is "in the future" once it has begun nowhere on Earth: the bank's business day may start up to 14 hours
 * before UTC's (UTC+14), and a bank reporting its own today must not be refused for the hour of day.
 */
const EARLIEST_ZONE_MS = 14 * 3_600_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The latest asOf accepted at `now`. */
export const latestAsOf = (now: Date) => new Date(now.getTime() + EARLIEST_ZONE_MS).toISOString().slice(0, 10);

/**
 * Validates one report (a single call's body or one bulk line): untrusted input, so unknown members are refused and
 * values are never echoed in messages. The check that needs the referral (asOf not before its decision) is
 * asOfBeforeDecision, once the referral is known to be the caller's.
 */
export function parseDelinquency(body: unknown, now = new Date()): ParsedDelinquency {
  if (!isObject(body)) return { ok: false, errors: [{ field: null, message: 'must be a JSON object' }] };
  const errors: FieldError[] = [];
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) errors.push({ field: key.length > 64 ? `${key.slice(0, 64)}…` : key, message: 'is not an accepted field' });
  }
  const { referralId, dpd, amountOverdue, asOf } = body;
  const id = typeof referralId === 'string' && referralId.length >= 1 && referralId.length <= 64 ? referralId : undefined;
  if (!id) errors.push({ field: 'referralId', message: 'must be a referral id (string)' });
  if (typeof dpd !== 'number' || !Number.isInteger(dpd) || dpd < 1 || dpd > MAX_DPD) {
    errors.push({ field: 'dpd', message: `must be an integer from 1 to ${MAX_DPD}` });
  }
  if (typeof amountOverdue !== 'string' || !MONEY.test(amountOverdue) || Number(amountOverdue) <= 0) {
    errors.push({ field: 'amountOverdue', message: 'must be a positive decimal string with two places (e.g. "1200.00")' });
  }
  if (typeof asOf !== 'string' || !isCalendarDate(asOf)) errors.push({ field: 'asOf', message: 'must be a date (YYYY-MM-DD)' });
  else if (asOf > latestAsOf(now)) errors.push({ field: 'asOf', message: 'may not be in the future' });
  if (errors.length) return { ok: false, referralId: id, errors };
  return { ok: true, referralId: id!, report: { dpd: dpd as number, amountOverdue: amountOverdue as string, asOf: asOf as string } };
}

/** asOf may not be before the day the bank approved the card (the UTC date of the decision's decidedAt). */
export const asOfBeforeDecision = (report: DelinquencyReport, decidedOn: string): boolean => report.asOf < decidedOn;

/** Two reports are the same report when all four facts agree (the table's unique key). */
export const reportKey = (referralKey: string, r: DelinquencyReport) => `${referralKey}|${r.asOf}|${r.dpd}|${r.amountOverdue}`;
