import { NestFastifyApplication } from '@nestjs/platform-fastify';

import { startConventionsApp } from '../support/fixtures/conventions-fixture.module';
import { platformToken } from '../support/partner-client';

/**
 * A server fault from MariaDB is logged without the values of its statement: mysql2 fills them into `sql`, TypeORM
 * keeps them in `parameters`, and MariaDB quotes them in the message (`Duplicate entry '…'`). The log is pino's own
 * output, captured from stdout (pino writes through process.stdout when it has been replaced, as here).
 */
describe('server-fault logs', () => {
  let app: NestFastifyApplication;
  const lines: string[] = [];

  beforeAll(async () => {
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    app = await startConventionsApp({ LOG_LEVEL: 'error' });
  });

  afterAll(async () => {
    await app?.close();
    jest.restoreAllMocks();
  });

  it('keeps the statement, the error code and the request id, and drops every value of a failed SQL statement', async () => {
    const value = 'Zhang Wei 110101199003074518';
    const res = await app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/v1/platform/__fixtures/sql-fault',
        headers: {
          'content-type': 'application/json',
          'x-request-id': 'sql-fault-1',
          authorization: `Bearer ${platformToken(['platform'])}`,
        },
        payload: JSON.stringify({ name: value }),
      });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('Zhang');

    const logged = lines.filter((l) => l.includes('sql-fault-1') && l.includes('server fault'));
    expect(logged).toHaveLength(1);
    const entry = JSON.parse(logged[0]);
    for (const part of ['Zhang', '110101199003074518']) expect(logged[0]).not.toContain(part);
    // What an operator needs is still there: the parameterised statement, the MariaDB code and the request id.
    expect(entry.requestId).toBe('sql-fault-1');
    expect(entry.err).toMatchObject({ code: 'ER_DUP_ENTRY', query: 'INSERT INTO fixture_unique (v) VALUES (?), (?)' });
    expect(entry.err.message).toMatch(/^Duplicate entry '…' for key/);
    expect(entry.err).not.toHaveProperty('sql');
    expect(entry.err).not.toHaveProperty('parameters');
  });
});
