import { stdSerializers } from 'pino';

type Serialized = Record<string, unknown>;

/** Members of a database error that hold the statement's values: mysql2's `sql` (values filled in), TypeORM's `parameters`. */
const VALUE_CARRIERS = ['sql', 'parameters'];
/** Members where MariaDB quotes a value: `Duplicate entry 'x' for key 'k'`, `Incorrect integer value: 'x'`, `near 'x'`. */
const MESSAGE_MEMBERS = ['message', 'sqlMessage', 'stack'];
const QUOTED = /'(?:[^'\\]|\\.|'')*'/g;
/** A quoted name rather than a value: `for key 'PRIMARY'`, `column 'x'`. */
const NAMED_BEFORE = /\b(?:key|column|table|database|constraint|index|function|procedure) $/i;

/** mysql2's errors carry the SQL state; TypeORM's QueryFailedError copies it and adds `query` and `parameters`. */
const isDatabaseError = (e: Serialized) =>
  typeof e.sqlState === 'string' || typeof e.sqlMessage === 'string' || (typeof e.query === 'string' && 'parameters' in e);

function unquoteValues(text: string): string {
  return text.replace(QUOTED, (literal, offset: number) =>
    NAMED_BEFORE.test(text.slice(Math.max(0, offset - 12), offset)) ? literal : "'…'",
  );
}

function scrub(e: Serialized): Serialized {
  if (!isDatabaseError(e)) return e;
  const out: Serialized = {};
  for (const [key, value] of Object.entries(e)) {
    if (VALUE_CARRIERS.includes(key)) continue;
    if (MESSAGE_MEMBERS.includes(key) && typeof value === 'string') out[key] = unquoteValues(value);
    else if (key === 'driverError' && value && typeof value === 'object') out[key] = scrub(value as Serialized);
    else out[key] = value;
  }
  return out;
}

/**
 * pino's `err` serializer (pino-http hands it the standard serialization): a database error loses the values of its
 * statement, since the logs never carry PII and a failed INSERT's values are exactly that. What an operator needs
 * stays: the parameterised statement TypeORM keeps in `query` (with `?`), the code, errno and SQL state, and the
 * message with its quoted values as `'…'`. Do not wrap a database error as another error's `cause`: pino folds the
 * cause's message into the wrapper's, where this cannot tell it from the wrapper's own text.
 */
export function serializeError(err: unknown): unknown {
  const serialized = err instanceof Error ? stdSerializers.err(err) : err;
  return serialized && typeof serialized === 'object' ? scrub(serialized as Serialized) : serialized;
}
