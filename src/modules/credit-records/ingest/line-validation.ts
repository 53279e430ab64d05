import { FieldError } from '../../../common/errors';

/**
 * A small declarative validator for bulk lines. Hand-rolled rather than zod because it runs on every line of
 * 10 MiB bodies and the CLI's multi-million-line files, and because its errors must be dotted paths with messages
 * that never echo the (personal) value that failed.
 */
export type Spec =
  | { kind: 'int'; min: number; max: number }
  | { kind: 'number'; min: number; max: number; places: number }
  | { kind: 'money' }
  | { kind: 'date' }
  | { kind: 'string'; min: number; max: number; pattern?: RegExp; patternMessage?: string }
  | { kind: 'boolean' }
  | { kind: 'stringArray'; maxItems: number; item: { min: number; max: number } }
  | { kind: 'object'; fields: Record<string, Spec> };

export const INT32_MAX = 2_147_483_647;

/** DECIMAL(14,2) as a two-place string, never a float (API.md). */
const MONEY = /^(0|[1-9][0-9]{0,11})\.[0-9]{2}$/;
const DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;

/** True for a real calendar date written YYYY-MM-DD, between 1900-01-01 and 9999-12-31. */
export function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1900 || mo < 1 || mo > 12 || d < 1) return false;
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Validates `value` against `spec`, appending errors; `path` is the dotted path of `value` ('' for the root). */
export function check(spec: Spec, value: unknown, path: string, errors: FieldError[]): void {
  const field = path || null;
  const fail = (message: string): void => {
    errors.push({ field, message });
  };
  switch (spec.kind) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) return fail(`must be an integer, got ${typeName(value)}`);
      if (value < spec.min || value > spec.max) return fail(`must be between ${spec.min} and ${spec.max}`);
      return;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return fail(`must be a number, got ${typeName(value)}`);
      if (value < spec.min || value > spec.max) return fail(`must be between ${spec.min} and ${spec.max}`);
      // Stored as DECIMAL: more places would be rounded silently, so they are refused instead.
      if (Number(value.toFixed(spec.places)) !== value) return fail(`must have at most ${spec.places} decimal places`);
      return;
    case 'money':
      if (typeof value !== 'string') return fail(`must be a decimal string with two places (e.g. "15000.00"), got ${typeName(value)}`);
      if (!MONEY.test(value)) return fail('must be a non-negative decimal string with two places (e.g. "15000.00"), at most 12 integer digits');
      return;
    case 'date':
      if (typeof value !== 'string') return fail(`must be a date YYYY-MM-DD, got ${typeName(value)}`);
      if (!isCalendarDate(value)) return fail('must be a valid calendar date YYYY-MM-DD (from 1900-01-01)');
      return;
    case 'string':
      if (typeof value !== 'string') return fail(`must be a string, got ${typeName(value)}`);
      if (value.trim().length < spec.min || value.length > spec.max) return fail(`must be ${spec.min}–${spec.max} characters`);
      if (spec.pattern && !spec.pattern.test(value)) return fail(spec.patternMessage ?? 'has an invalid format');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') return fail(`must be true or false, got ${typeName(value)}`);
      return;
    case 'stringArray':
      if (!Array.isArray(value)) return fail(`must be an array of strings, got ${typeName(value)}`);
      if (value.length > spec.maxItems) return fail(`must have at most ${spec.maxItems} items`);
      value.forEach((item, i) => {
        if (typeof item !== 'string' || item.trim().length < spec.item.min || item.length > spec.item.max) {
          errors.push({ field: `${path}.${i}`, message: `must be a string of ${spec.item.min}–${spec.item.max} characters` });
        }
      });
      return;
    case 'object': {
      if (!isPlainObject(value)) return fail(`must be an object, got ${typeName(value)}`);
      for (const key of Object.keys(value)) {
        if (!Object.prototype.hasOwnProperty.call(spec.fields, key)) {
          // Member names come from the client: cut to a sane length before echoing one back.
          const name = key.length > 64 ? `${key.slice(0, 64)}…` : key;
          errors.push({ field: path ? `${path}.${name}` : name, message: 'is not a known member' });
        }
      }
      for (const [key, child] of Object.entries(spec.fields)) {
        const childPath = path ? `${path}.${key}` : key;
        if (!Object.prototype.hasOwnProperty.call(value, key) || value[key] === undefined) {
          errors.push({ field: childPath, message: 'is required' });
        } else {
          check(child, value[key], childPath, errors);
        }
      }
      return;
    }
  }
}
