import { serializeError } from '../../src/infra/logging/error-serializer';

/** MariaDB quotes values in several messages; names (keys, columns) stay readable. */
describe('the log serializer of errors', () => {
  const dbError = (message: string, extra: object = {}) =>
    Object.assign(new Error(message), { code: 'ER_X', sqlState: '22007', sqlMessage: message, sql: "SELECT 'v'", ...extra });

  it.each([
    ["Duplicate entry 'alice@example.com' for key 'uq_email'", "Duplicate entry '…' for key 'uq_email'"],
    [
      "Incorrect integer value: '13800138000' for column `db`.`t`.`phone` at row 1",
      "Incorrect integer value: '…' for column `db`.`t`.`phone` at row 1",
    ],
    [
      "You have an error in your SQL syntax; check the manual near 'Li Lei' at line 1",
      "You have an error in your SQL syntax; check the manual near '…' at line 1",
    ],
    ["Unknown column 'nme' in 'field list'", "Unknown column 'nme' in '…'"],
    ["Duplicate entry 'it\\'s ''quoted''' for key 'PRIMARY'", "Duplicate entry '…' for key 'PRIMARY'"],
  ])('%s', (message, expected) => {
    const out = serializeError(dbError(message)) as Record<string, unknown>;
    expect(out).toMatchObject({ message: expected, sqlMessage: expected, code: 'ER_X' });
    expect(out).not.toHaveProperty('sql');
    expect(String(out.stack).split('\n')[0]).toBe(`Error: ${expected}`);
  });

  it('scrubs the mysql2 error TypeORM keeps as driverError, and drops the parameters', () => {
    const driverError = dbError("Duplicate entry 'Wang Fang' for key 'k'");
    const failed = Object.assign(new Error(driverError.message), {
      query: 'INSERT INTO t (v) VALUES (?)',
      parameters: ['Wang Fang'],
      driverError,
    });
    const out = serializeError(failed) as Record<string, unknown>;
    expect(JSON.stringify(out)).not.toContain('Wang Fang');
    expect(out).toMatchObject({
      query: 'INSERT INTO t (v) VALUES (?)',
      driverError: { code: 'ER_X', message: "Duplicate entry '…' for key 'k'" },
    });
    expect(out).not.toHaveProperty('parameters');
  });

  it('leaves errors that do not come from the database alone', () => {
    const out = serializeError(new TypeError("Cannot read properties of undefined (reading 'id')")) as Record<string, unknown>;
    expect(out.message).toBe("Cannot read properties of undefined (reading 'id')");
  });
});
