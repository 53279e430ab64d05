/** Calendar dates as `YYYY-MM-DD` text, and month arithmetic that matches MySQL's TIMESTAMPDIFF(MONTH, …). */

const DATE_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A real calendar date in MySQL's DATE range (1000-01-01 … 9999-12-31), written YYYY-MM-DD. */
export function isCalendarDate(text: string): boolean {
  const m = DATE_TEXT.exec(text);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1000 || month < 1 || month > 12 || day < 1) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * A DATE column value as YYYY-MM-DD. mysql2 hands DATE columns over as Date objects at UTC midnight (the data
 * source runs with timezone 'Z'), or as text when dateStrings is on; both are accepted.
 */
export function toDateText(value: Date | string): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new Error('invalid date value');
    return value.toISOString().slice(0, 10);
  }
  return value.slice(0, 10);
}

function parts(text: string): [number, number, number] {
  const m = DATE_TEXT.exec(text);
  if (!m) throw new Error('not a YYYY-MM-DD date');
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/**
 * Whole months from `from` to `to`, exactly as MySQL/MariaDB compute TIMESTAMPDIFF(MONTH, from, to) for DATE
 * values: the calendar-month difference, minus one when the end day-of-month is before the start day-of-month
 * (so 01-31 → 02-28 is 0 months); when `to` is earlier, the same on the swapped pair, negated.
 */
export function monthsBetween(from: string, to: string): number {
  const negative = to < from; // YYYY-MM-DD text orders like the dates it names
  const [yb, mb, db] = parts(negative ? to : from);
  const [ye, me, de] = parts(negative ? from : to);
  const months = (ye - yb) * 12 + (me - mb) - (de < db ? 1 : 0);
  return negative && months !== 0 ? -months : months; // never -0
}
