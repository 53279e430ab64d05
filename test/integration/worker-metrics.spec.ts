import { createServer } from 'node:net';

import { DataSource } from 'typeorm';

import { OutboxProbe } from '../../src/infra/outbox/outbox-probe';
import { eventually, startWorker } from '../support/app';

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

describe('worker role metrics', () => {
  it('serves its own job durations on WORKER_METRICS_PORT', async () => {
    const port = await freePort();
    const worker = await startWorker({ WORKER_METRICS_PORT: String(port) });
    try {
      const { outboxId } = await worker.get(OutboxProbe).start('metrics', 'test');
      const db = worker.get(DataSource);
      await eventually(async () => (await db.query('SELECT status FROM outbox WHERE id = ?', [outboxId]))[0].status === 'DONE');

      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${process.env.METRICS_TOKEN}` } });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toMatch(/job_duration_seconds_count\{queue="maintenance",job="outbox.probe",outcome="completed"\} [1-9]/);
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      await worker.close();
    }
  });
});
