/**
 * Exact decimal arithmetic for criteria values and DECIMAL columns. Floats would disagree with MySQL's DECIMAL
 * comparison at the edges (0.1 + 0.2, 15000.005), so values are compared as integers scaled by 10^SCALE.
 */
export const DECIMAL_SCALE = 10;
export const DECIMAL_INTEGER_DIGITS = 28;

/** A plain decimal literal: optional minus, up to 28 integer digits, up to 10 fractional digits. */
export const DECIMAL_LITERAL = /^-?\d{1,28}(\.\d{1,10})?$/;

/** The SQL type criteria values are cast to: wide enough for every literal DECIMAL_LITERAL accepts. */
export const SQL_DECIMAL_TYPE = `DECIMAL(${DECIMAL_INTEGER_DIGITS + DECIMAL_SCALE},${DECIMAL_SCALE})`;

const SCALE_FACTOR = 10n ** BigInt(DECIMAL_SCALE);

/** The value times 10^10 as a bigint; throws on anything that is not a plain decimal literal. */
export function scaledDecimal(text: string): bigint {
  if (!DECIMAL_LITERAL.test(text)) throw new Error('not a decimal literal');
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = (negative ? text.slice(1) : text).split('.');
  const scaled = BigInt(whole) * SCALE_FACTOR + BigInt(fraction.padEnd(DECIMAL_SCALE, '0'));
  return negative ? -scaled : scaled;
}

export function compareDecimal(a: string, b: string): -1 | 0 | 1 {
  const x = scaledDecimal(a);
  const y = scaledDecimal(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * A JSON number as a decimal literal, when its shortest text form is one (0.04 → "0.04"). Numbers that only
 * print in exponent form (1e-7, 1e21) are refused rather than guessed at.
 */
export function decimalFromNumber(n: number): string | undefined {
  if (!Number.isFinite(n)) return undefined;
  const text = String(n);
  return DECIMAL_LITERAL.test(text) ? text : undefined;
}
