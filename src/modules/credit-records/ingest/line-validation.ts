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
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The number written by the ASCII digits of `s` in [from, to), or -1 if any is not a digit. */
function digitsAt(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * True for a real calendar date written YYYY-MM-DD, between 1900-01-01 and 9999-12-31. Checked by arithmetic,
 * not a regex and a Date, because it runs twice on every line of a bulk body.
 */
export function isCalendarDate(value: string): boolean {
  if (value.length !== 10 || value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45) return false;
  const y = digitsAt(value, 0, 4);
  const mo = digitsAt(value, 5, 7);
  const d = digitsAt(value, 8, 10);
  if (y < 1900 || mo < 1 || mo > 12 || d < 1) return false;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return d <= (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1]);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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
      if (!MONEY.test(value))
        return fail('must be a non-negative decimal string with two places (e.g. "15000.00"), at most 12 integer digits');
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

/** A spec compiled for one path: appends the same errors, in the same order, as `check` would. */
export type Checker = (value: unknown, errors: FieldError[]) => void;

/**
 * Compiles `spec` into closures once, so that checking a line allocates nothing on the happy path: child paths
 * and the member tables are built here rather than on every line as `check` does. Same errors as `check`.
 */
export function compileSpec(spec: Spec, path = ''): Checker {
  const field = path || null;
  switch (spec.kind) {
    case 'int': {
      const { min, max } = spec;
      const range = `must be between ${min} and ${max}`;
      return (value, errors) => {
        if (typeof value !== 'number' || !Number.isInteger(value))
          errors.push({ field, message: `must be an integer, got ${typeName(value)}` });
        else if (value < min || value > max) errors.push({ field, message: range });
      };
    }
    case 'number': {
      const { min, max, places } = spec;
      const range = `must be between ${min} and ${max}`;
      const tooPrecise = `must have at most ${places} decimal places`;
      return (value, errors) => {
        if (typeof value !== 'number' || !Number.isFinite(value))
          errors.push({ field, message: `must be a number, got ${typeName(value)}` });
        else if (value < min || value > max) errors.push({ field, message: range });
        else if (Number(value.toFixed(places)) !== value) errors.push({ field, message: tooPrecise });
      };
    }
    case 'money':
      return (value, errors) => {
        if (typeof value !== 'string')
          errors.push({ field, message: `must be a decimal string with two places (e.g. "15000.00"), got ${typeName(value)}` });
        else if (!MONEY.test(value))
          errors.push({
            field,
            message: 'must be a non-negative decimal string with two places (e.g. "15000.00"), at most 12 integer digits',
          });
      };
    case 'date':
      return (value, errors) => {
        if (typeof value !== 'string') errors.push({ field, message: `must be a date YYYY-MM-DD, got ${typeName(value)}` });
        else if (!isCalendarDate(value)) errors.push({ field, message: 'must be a valid calendar date YYYY-MM-DD (from 1900-01-01)' });
      };
    case 'string': {
      const { min, max, pattern } = spec;
      const length = `must be ${min}–${max} characters`;
      const format = spec.patternMessage ?? 'has an invalid format';
      return (value, errors) => {
        if (typeof value !== 'string') errors.push({ field, message: `must be a string, got ${typeName(value)}` });
        else if (value.length > max || value.length < min || isBlankAt(value, min)) errors.push({ field, message: length });
        else if (pattern && !pattern.test(value)) errors.push({ field, message: format });
      };
    }
    case 'boolean':
      return (value, errors) => {
        if (typeof value !== 'boolean') errors.push({ field, message: `must be true or false, got ${typeName(value)}` });
      };
    case 'stringArray': {
      const { maxItems } = spec;
      const { min, max } = spec.item;
      const itemMessage = `must be a string of ${min}–${max} characters`;
      return (value, errors) => {
        if (!Array.isArray(value)) return void errors.push({ field, message: `must be an array of strings, got ${typeName(value)}` });
        if (value.length > maxItems) return void errors.push({ field, message: `must have at most ${maxItems} items` });
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (typeof item !== 'string' || item.length > max || item.length < min || isBlankAt(item, min)) {
            errors.push({ field: `${path}.${i}`, message: itemMessage });
          }
        }
      };
    }
    case 'object': {
      const keys = Object.keys(spec.fields);
      const childPaths = keys.map((key) => (path ? `${path}.${key}` : key));
      const children = keys.map((key, i) => compileSpec(spec.fields[key], childPaths[i]));
      const known = new Set(keys);
      return (value, errors) => {
        if (!isPlainObject(value)) return void errors.push({ field, message: `must be an object, got ${typeName(value)}` });
        for (const key in value) {
          if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
          if (!known.has(key)) {
            const name = key.length > 64 ? `${key.slice(0, 64)}…` : key;
            errors.push({ field: path ? `${path}.${name}` : name, message: 'is not a known member' });
          }
        }
        for (let i = 0; i < keys.length; i++) {
          const child = value[keys[i]];
          if (child === undefined || !Object.prototype.hasOwnProperty.call(value, keys[i]))
            errors.push({ field: childPaths[i], message: 'is required' });
          else children[i](child, errors);
        }
      };
    }
  }
}

/** `value.trim().length < min` without allocating the trimmed copy when the ends are not blank (the usual case). */
function isBlankAt(value: string, min: number): boolean {
  if (min === 0) return false;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  // Characters that String.prototype.trim may remove are all <= 0x20 or >= 0x80 (and 0x7f is not one of them).
  if (first > 0x20 && first < 0x80 && last > 0x20 && last < 0x80) return false;
  return value.trim().length < min;
}
